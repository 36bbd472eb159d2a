package cgdelegate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/cgdelegate/cgdelegatetest"
	"github.com/google/go-cmp/cmp"
)

var (
	cgroupDir = cgdelegatetest.Dir
	read      = cgdelegatetest.Read
)

// Every process of the service's cgroup goes to the leaf, one per write,
// and then every controller of the cgroup is given to its children.
func TestDelegate(t *testing.T) {
	dir := cgroupDir(t, "41\n57\n", "cpuset cpu io memory hugetlb pids rdma misc\n")
	got, err := Cgroup(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"}, got); diff != "" {
		t.Errorf("enabled (-want +got)\n%s", diff)
	}
	if got := read(t, filepath.Join(dir, "_daemon", "cgroup.procs")); got != "41\n57\n" {
		t.Errorf("the leaf's cgroup.procs got %q, want both processes", got)
	}
	if got := read(t, filepath.Join(dir, "cgroup.subtree_control")); got != "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc" {
		t.Errorf("cgroup.subtree_control got %q", got)
	}
}

// A cgroup without controllers is no error: containers get cgroups, only
// no limits.
func TestDelegateNoControllers(t *testing.T) {
	dir := cgroupDir(t, "41\n", "\n")
	got, err := Cgroup(dir)
	if err != nil || len(got) != 0 {
		t.Fatalf("delegate = %v, %v; want nothing enabled and no error", got, err)
	}
	if got := read(t, filepath.Join(dir, "cgroup.subtree_control")); got != "" {
		t.Errorf("cgroup.subtree_control got %q, want it untouched", got)
	}
}

func TestDelegateErrors(t *testing.T) {
	empty := cgroupDir(t, "", "memory\n")
	if _, err := Cgroup(empty); err == nil || !strings.Contains(err.Error(), filepath.Join(empty, "cgroup.procs")+" lists no process") {
		t.Errorf("empty cgroup.procs: got %v, want an error naming the file", err)
	}
	missing := t.TempDir()
	if _, err := Cgroup(missing); err == nil || !strings.Contains(err.Error(), "read the cgroup's processes") || !strings.Contains(err.Error(), filepath.Join(missing, "cgroup.procs")) {
		t.Errorf("no cgroup.procs: got %v, want an error naming the file", err)
	}
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o644)
	if _, err := Cgroup(notDir); err == nil || !strings.Contains(err.Error(), "make cgroup "+filepath.Join(notDir, "_daemon")) {
		t.Errorf("a file for the cgroup: got %v, want an error naming the leaf", err)
	}
}
