//go:build qemu

package test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/qemu"
)

// verityCorruption flips one byte of the root squashfs in slot A of a
// copy of the raw disk. dm-verity refuses the block: the boot stops in
// stage 1 with the kernel's verity error and stage 1's on the console,
// and the host never comes up on the changed root.
func verityCorruption(t *testing.T) {
	img := filepath.Join(t.TempDir(), "corrupt.raw")
	if err := runCmd("cp", "--sparse=always", artifact(t, "berth.raw"), img); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	at, _ := rawPartition(t, f, layout.PartA)
	// A byte of the squashfs' first block, which the mount reads.
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at+2048); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, at+2048); err != nil {
		t.Fatal(err)
	}
	f.Close()
	vm := start(t, qemu.Config{Disks: []qemu.Disk{{Path: img}}})
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`device-mapper: verity: \d+:\d+: data block 0 is corrupted`),
		regexp.MustCompile(`berth stage1: mount /dev/dm-0 \(dm-verity over /dev/vda2\) on /newroot: input/output error: the root does not match its root hash [0-9a-f]{64}`),
		regexp.MustCompile(`berth stage1: rescue shell unavailable`),
	} {
		if _, _, err := vm.WaitFor(re, 2*time.Minute); err != nil {
			t.Fatalf("no %q on the console: %v", re, err)
		}
	}
	if regexp.MustCompile(`berth: (ready|degraded) in`).MatchString(vm.Output()) {
		t.Error("PID 1 ran on a root that fails its verity check")
	}
}

// rawPartition is the offset and size in bytes of the partition named
// name in the GPT of the raw disk f.
func rawPartition(t *testing.T, f *os.File, name string) (int64, int64) {
	t.Helper()
	tbl, err := gpt.Read(f, 512, 512)
	if err != nil {
		t.Fatalf("%s: %v", f.Name(), err)
	}
	for _, p := range tbl.Partitions {
		if p.Name == name {
			return int64(p.Start) * 512, int64(p.Size)
		}
	}
	t.Fatalf("%s has no %s partition", f.Name(), name)
	return 0, 0
}
