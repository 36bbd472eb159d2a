package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConsoles(t *testing.T) {
	sys := t.TempDir()
	os.MkdirAll(filepath.Join(sys, "class/tty/console"), 0o755)
	os.WriteFile(filepath.Join(sys, "class/tty/console/active"), []byte("tty0 ttyS0\n"), 0o644)
	if diff := cmp.Diff([]string{"tty1", "ttyS0"}, consoles(sys)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if got := consoles(t.TempDir()); len(got) != 0 {
		t.Errorf("no sysfs: %v", got)
	}
}

func TestAutologinSet(t *testing.T) {
	ttys := []string{"tty1", "ttyS0"}
	for _, tc := range []struct {
		in   string
		want map[string]bool
	}{
		{"", map[string]bool{}},
		{"all", map[string]bool{"tty1": true, "ttyS0": true}},
		{"1", map[string]bool{"tty1": true, "ttyS0": true}},
		{"ttyS0", map[string]bool{"ttyS0": true}},
		{"ttyS0,tty0", map[string]bool{"ttyS0": true, "tty1": true}},
		{"/dev/ttyS1", map[string]bool{"ttyS1": true}},
	} {
		if diff := cmp.Diff(tc.want, autologinSet(tc.in, ttys)); diff != "" {
			t.Errorf("%q: (-want +got)\n%s", tc.in, diff)
		}
	}
}

func TestEnsureHostKeysKeepsExisting(t *testing.T) {
	dir := t.TempDir()
	for _, typ := range []string{"ed25519", "ecdsa", "rsa"} {
		os.WriteFile(filepath.Join(dir, "ssh_host_"+typ+"_key"), []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nold\n-----END OPENSSH PRIVATE KEY-----\n"), 0o600)
	}
	// keygen would fail (no such binary): existing keys must not be touched.
	all := []string{"ed25519", "ecdsa", "rsa"}
	if err := ensureHostKeys("/nonexistent/ssh-keygen", dir, all, os.Stderr); err != nil {
		t.Fatal(err)
	}
	if err := ensureHostKeys("/nonexistent/ssh-keygen", t.TempDir(), all, os.Stderr); err == nil {
		t.Error("missing keys and no ssh-keygen: no error")
	}
}

// A key left empty by a power cut is made again, not trusted.
func TestEnsureHostKeysReplacesBroken(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Fatal("ssh-keygen missing: run make deps")
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "ssh_host_ed25519_key")
	os.WriteFile(key, nil, 0o600)
	if err := ensureHostKeys(keygen, dir, []string{"ed25519"}, os.Stderr); err != nil {
		t.Fatal(err)
	}
	if !validKey(key) {
		t.Error("the empty key was not replaced")
	}
	if _, err := os.Stat(key + ".pub"); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(key + ".new"); !os.IsNotExist(err) {
		t.Error("temporary key left behind")
	}
}
