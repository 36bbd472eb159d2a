package mounts

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

type recorder struct {
	calls []string
	fail  map[string]error
}

func (r *recorder) Mount(source, target, fstype string, flags uintptr, data string) error {
	if err := r.fail[fstype]; err != nil {
		return err
	}
	r.calls = append(r.calls, fstype+" "+target)
	return nil
}

func TestApplySkipsMountedAndOptional(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "sys/firmware"), 0o755) // efi dir missing: efivarfs skipped
	r := &recorder{fail: map[string]error{"securityfs": unix.ENODEV}}
	mounted := map[string]bool{"/proc": true, "/sys": true, "/dev": true, "/run": true}
	did, err := Apply(r, root, Early, mounted)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"devpts " + root + "/dev/pts", "tmpfs " + root + "/dev/shm", "mqueue " + root + "/dev/mqueue",
		"tmpfs " + root + "/tmp", "tmpfs " + root + "/mnt", " " + root + "/mnt", "tmpfs " + root + "/media", " " + root + "/media",
		"cgroup2 " + root + "/sys/fs/cgroup", "bpf " + root + "/sys/fs/bpf",
	}
	if diff := cmp.Diff(want, r.calls); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if len(did) != 8 || !strings.Contains(did[4], "tmpfs on /mnt type tmpfs (nosuid,nodev,mode=0755,shared)") || !strings.Contains(did[6], "cgroup2 on /sys/fs/cgroup type cgroup2 (nosuid,nodev,noexec,nsdelegate") {
		t.Errorf("log lines: %q", did)
	}
	// A required mount that fails stops boot with an error naming it.
	r = &recorder{fail: map[string]error{"cgroup2": unix.ENODEV}}
	_, err = Apply(r, root, Early, mounted)
	if !errors.Is(err, unix.ENODEV) || !strings.Contains(err.Error(), "/sys/fs/cgroup") {
		t.Errorf("err = %v", err)
	}
}

func TestMounted(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mountinfo")
	os.WriteFile(p, []byte("22 1 0:21 / /proc rw,nosuid - proc proc rw\n30 1 8:2 / /var/my\\040dir rw - ext4 /dev/vda4 rw\n"), 0o644)
	m, err := Mounted(p)
	if err != nil {
		t.Fatal(err)
	}
	if !m["/proc"] || !m["/var/my dir"] || m["/sys"] {
		t.Errorf("mounted = %v", m)
	}
}

func TestEnableControllers(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cgroup.controllers"), []byte("cpu memory pids\n"), 0o644)
	// A regular file collects only the last write, which is enough to see it ran.
	if err := EnableControllers(dir); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if string(b) != "+pids" {
		t.Errorf("subtree_control = %q", b)
	}
	if err := EnableControllers(t.TempDir()); err == nil {
		t.Error("no cgroup.controllers: no error")
	}
}
