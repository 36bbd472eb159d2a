// Package cgdelegatetest makes fake cgroup folders for the tests of
// cgdelegate and of the services that delegate their cgroup.
package cgdelegatetest

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir is a fake cgroup in a temporary folder: its processes (cgroup.procs)
// and controllers, with an empty cgroup.subtree_control.
func Dir(t testing.TB, procs, controllers string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{"cgroup.procs": procs, "cgroup.controllers": controllers, "cgroup.subtree_control": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Read is a file's content; a missing file fails the test.
func Read(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
