package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeSysfs makes a sysfs whose dev/block entry for the device of root
// links to a disk's folder, or to a partition's folder in it, each with a
// queue/read_ahead_kb of 128. It gives the sysfs and the disk's
// read_ahead_kb file.
func fakeSysfs(t *testing.T, root string, partition bool) (string, string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(root, &st); err != nil {
		t.Fatal(err)
	}
	sysfs := t.TempDir()
	disk := filepath.Join(sysfs, "devices", "virtio0", "block", "vda")
	ra := filepath.Join(disk, "queue", "read_ahead_kb")
	dev := disk
	if partition {
		dev = filepath.Join(disk, "vda2")
		if err := os.MkdirAll(dev, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dev, "partition"), []byte("2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(ra), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ra, []byte("128\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	links := filepath.Join(sysfs, "dev", "block")
	if err := os.MkdirAll(links, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dev, filepath.Join(links, fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev)))); err != nil {
		t.Fatal(err)
	}
	return sysfs, ra
}

func meminfo(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "meminfo")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Under smallMemoryKiB the disk under the root reads ahead nothing; at it
// or above, the readahead stays.
func TestTuneReadahead(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		name      string
		memTotal  int
		partition bool
		want      string // read_ahead_kb after
	}{
		{"128 MiB VM, partition", 86000, true, "0"},
		{"128 MiB VM, whole disk (dm-verity, loop)", 86000, false, "0"},
		{"160 MiB VM", 117000, true, "0"},
		{"at the limit", smallMemoryKiB, true, "128"},
		{"512 MiB VM", 471532, true, "128"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sysfs, ra := fakeSysfs(t, root, tc.partition)
			msg, err := tuneReadahead(sysfs, meminfo(t, fmt.Sprintf("MemTotal:     %8d kB\nMemFree:  1000 kB\n", tc.memTotal)), root)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(ra)
			if got := strings.TrimSpace(string(b)); got != tc.want {
				t.Errorf("read_ahead_kb %s, want %s", got, tc.want)
			}
			if small := tc.want == "0"; small != strings.Contains(msg, "no readahead on the root's block device") {
				t.Errorf("message %q: want one only when it set the readahead", msg)
			}
		})
	}
}

func TestTuneReadaheadErrors(t *testing.T) {
	root := t.TempDir()
	sysfs, _ := fakeSysfs(t, root, true)
	for _, tc := range []struct {
		name, meminfo, sysfs, want string
	}{
		{"no meminfo", filepath.Join(t.TempDir(), "none"), sysfs, "no such file"},
		{"no MemTotal", meminfo(t, "MemFree: 1 kB\n"), sysfs, "no MemTotal line"},
		{"bad MemTotal", meminfo(t, "MemTotal: lots kB\n"), sysfs, `MemTotal "lots kB": want a number of kB`},
		{"no device in sysfs", meminfo(t, "MemTotal: 86000 kB\n"), t.TempDir(), "block device "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tuneReadahead(tc.sysfs, tc.meminfo, root)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}
