package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The boot order is data; this golden list is the documented order.
func TestPlanOrder(t *testing.T) {
	h := &host{}
	want := []string{"mounts", "state", "config", "etc", "sysctl", "apply", "containerd", "services", "late", "ready"}
	if diff := cmp.Diff(want, h.plan().Names()); diff != "" {
		t.Errorf("boot phases (-want +got)\n%s", diff)
	}
	fatal := map[string]bool{}
	for _, p := range h.plan() {
		fatal[p.Name] = p.Fatal
	}
	// A missing state partition or a failing service must never stop boot.
	for _, name := range []string{"state", "config", "sysctl", "apply", "services", "late", "ready"} {
		if fatal[name] {
			t.Errorf("phase %s is fatal", name)
		}
	}
}

func TestReadyLine(t *testing.T) {
	got := ReadyLine(6.4171, []string{"udev", "logging", "network", "console"}, nil)
	if got != "berth: ready in 6.42s (udev logging network console)" {
		t.Errorf("got %q", got)
	}
	got = ReadyLine(12, []string{"udev", "network"}, []string{"network"})
	if got != "berth: degraded in 12.00s (failed: network)" {
		t.Errorf("got %q", got)
	}
}

// Children go before their parents, the latest mount on a path before an
// earlier one, and the root and the kernel's filesystems stay.
func TestUnmountOrderDeepestFirst(t *testing.T) {
	mountinfo := filepath.Join(t.TempDir(), "mountinfo")
	lines := []string{
		"22 1 0:21 / / ro,relatime - squashfs /dev/vda2 ro",
		"23 22 0:5 / /dev rw,nosuid - devtmpfs devtmpfs rw",
		"24 22 0:22 / /proc rw - proc proc rw",
		"25 22 0:23 / /sys rw - sysfs sysfs rw",
		"26 25 0:24 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw",
		"27 22 0:25 / /run rw - tmpfs tmpfs rw",
		"28 22 254:4 / /var rw,relatime - ext4 /dev/vda4 rw",
		"29 28 254:4 /home /home rw - ext4 /dev/vda4 rw",
		"30 22 0:26 / /etc rw - tmpfs tmpfs rw",
		"31 28 0:27 / /var/lib/containerd/io.containerd.runtime.v2.task/system/udev/rootfs rw - overlay overlay rw",
		"32 22 0:28 / /mnt/my\\040disk rw - ext4 /dev/vdb1 rw",
		"33 22 0:29 / /etc rw - tmpfs tmpfs rw",
		"34 23 0:30 / /dev/pts rw - devpts devpts rw",
	}
	if err := os.WriteFile(mountinfo, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := unmountOrder(mountinfo)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/var/lib/containerd/io.containerd.runtime.v2.task/system/udev/rootfs",
		"/mnt/my disk",
		"/etc", // the later of the two /etc mounts
		"/etc",
		"/home",
		"/var",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unmount order (-want +got)\n%s", diff)
	}
	if _, err := unmountOrder(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "unmount order") {
		t.Errorf("missing mountinfo: got %v", err)
	}
}

// Kernel threads and zombies (empty cmdline) and PID 1 are not waited for.
func TestUserProcesses(t *testing.T) {
	proc := t.TempDir()
	for pid, cmdline := range map[string]string{"1": "/sbin/init", "2": "", "57": "containerd\x00--config", "58": "", "self": "x"} {
		os.MkdirAll(filepath.Join(proc, pid), 0o755)
		os.WriteFile(filepath.Join(proc, pid, "cmdline"), []byte(cmdline), 0o644)
	}
	if diff := cmp.Diff([]int{57}, userProcesses(proc)); diff != "" {
		t.Errorf("user processes (-want +got)\n%s", diff)
	}
}

// meminfoSummary keeps MemTotal and MemAvailable, in that order.
func TestMeminfoSummary(t *testing.T) {
	in := "MemTotal:         503612 kB\nMemFree:          470000 kB\nMemAvailable:     455312 kB\nBuffers:            1 kB\n"
	if got, want := meminfoSummary([]byte(in)), "MemTotal 503612 kB, MemAvailable 455312 kB"; got != want {
		t.Errorf("meminfoSummary = %q, want %q", got, want)
	}
}
