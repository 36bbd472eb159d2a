package installer

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/partition/gpt"
)

const mib = 1 << 20

// image writes a Berth disk image of size bytes, then makes the file
// bigger, as a user does with qemu-img resize or a cloud with a bigger
// disk.
func image(t *testing.T, size, grown int64) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.raw")
	bootImg, coreImg := fakeGrub(t)
	l := Layout{Size: size, EFISize: 8 * mib, SlotSize: 32 * mib, Seed: "test"}
	if _, err := WriteImage(path, l, Content{BootImg: bootImg, CoreImg: coreImg}); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, grown); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func table(t *testing.T, f *os.File) *gpt.Table {
	t.Helper()
	tb, err := gpt.Read(f, 512, 512)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestGrowLastPartition(t *testing.T) {
	f := image(t, 192*mib, 1024*mib)
	before := table(t, f)
	bootBefore := make([]byte, 440)
	f.ReadAt(bootBefore, 0)
	if bootBefore[0] != 0xB8 {
		t.Fatalf("no boot code in the MBR: % x", bootBefore[:16])
	}
	r, err := Grow(f, 512, 4)
	if err != nil {
		t.Fatal(err)
	}
	st := before.Partitions[3]
	if !r.Grown || r.Start != int64(st.Start*512) || r.OldSize != int64(st.Size) {
		t.Fatalf("result %+v, partition before %+v", r, st)
	}
	// The last whole MiB before the backup entries (33 sectors at the end).
	if want := int64(1023*mib) - r.Start; r.NewSize != want {
		t.Errorf("new size %d, want %d (to the last whole MiB)", r.NewSize, want)
	}
	after := table(t, f)
	if after.RecoveredFromBackup {
		t.Error("primary GPT not valid after the grow")
	}
	if err := after.Verify(f, 1024*mib); err != nil {
		t.Errorf("backup GPT not at the end of the disk: %v", err)
	}
	for i, p := range after.Partitions {
		b := before.Partitions[i]
		if p.Name != b.Name || p.GUID != b.GUID || p.Type != b.Type || p.Attributes != b.Attributes || p.Start != b.Start {
			t.Errorf("partition %d changed: %+v, was %+v", i+1, p, b)
		}
		if i != 3 && p.End != b.End {
			t.Errorf("partition %d (%s) resized", i+1, p.Name)
		}
	}
	if got := int64(after.Partitions[3].Size); got != r.NewSize {
		t.Errorf("table says %d bytes, result %d", got, r.NewSize)
	}
	mbr := make([]byte, 440)
	f.ReadAt(mbr, 0)
	if !bytes.Equal(mbr, bootBefore) {
		t.Error("MBR boot code changed")
	}

	// Again: nothing to do, nothing written.
	r, err = Grow(f, 512, 4)
	if err != nil || r.Grown {
		t.Errorf("second grow: %+v, %v", r, err)
	}
}

func TestGrowNothingToDo(t *testing.T) {
	// The installer leaves the last MiB to the backup GPT: a disk as made
	// has nothing to grow into.
	f2 := image(t, 192*mib, 192*mib)
	r, err := Grow(f2, 512, 4)
	if err != nil || r.Grown {
		t.Errorf("grow on a disk not made bigger: %+v, %v", r, err)
	}
}

func TestGrowOnlyTheLast(t *testing.T) {
	f := image(t, 192*mib, 256*mib)
	_, err := Grow(f, 512, 2)
	if err == nil || !strings.Contains(err.Error(), "partition 2 is not the last on the disk") {
		t.Errorf("err = %v", err)
	}
	_, err = Grow(f, 512, 9)
	if err == nil || !strings.Contains(err.Error(), "no partition 9") {
		t.Errorf("err = %v", err)
	}
	// Nothing was written.
	if tb := table(t, f); tb.Partitions[3].End != uint64(192*mib/512-34) && tb.Verify(f, 256*mib) == nil {
		t.Error("table changed by a refused grow")
	}
}

// GrowPartition finds the disk of a partition through sysfs, grows the GPT
// on it and then tells the kernel with BLKPG, which a disk image (a plain
// file) refuses: the table is written, the ioctl's failure reported.
func TestGrowPartitionThroughSysfs(t *testing.T) {
	f := image(t, 192*mib, 512*mib)
	sys, dev := t.TempDir(), t.TempDir()
	if err := os.Symlink(f.Name(), filepath.Join(dev, "vdz")); err != nil {
		t.Fatal(err)
	}
	diskDir := filepath.Join(sys, "devices/virtio/block/vdz")
	os.MkdirAll(filepath.Join(diskDir, "queue"), 0o755)
	os.WriteFile(filepath.Join(diskDir, "queue/logical_block_size"), []byte("512\n"), 0o644)
	os.MkdirAll(filepath.Join(diskDir, "vdz4"), 0o755)
	os.WriteFile(filepath.Join(diskDir, "vdz4/partition"), []byte("4\n"), 0o644)
	os.MkdirAll(filepath.Join(sys, "class/block"), 0o755)
	os.MkdirAll(filepath.Join(sys, "block"), 0o755)
	os.Symlink(filepath.Join(diskDir, "vdz4"), filepath.Join(sys, "class/block/vdz4"))
	os.Symlink(diskDir, filepath.Join(sys, "block/vdz"))

	r, err := GrowPartition(sys, dev, "/dev/vdz4")
	if err == nil || !strings.Contains(err.Error(), "grow /dev/vdz4: tell the kernel vdz4 grew") {
		t.Fatalf("got %+v, %v; want the BLKPG ioctl refused on a file", r, err)
	}
	if !r.Grown || table(t, f).Partitions[3].Size != uint64(r.NewSize) || r.NewSize <= r.OldSize {
		t.Errorf("the GPT was not grown: %+v", r)
	}
	if _, err := GrowPartition(sys, dev, "/dev/vdz9"); err == nil || !strings.Contains(err.Error(), "grow /dev/vdz9: not a partition") {
		t.Errorf("unknown partition: %v", err)
	}
}

// claimEntries makes the GPT header at sector lba of f claim count
// partition entries, its checksum made right, as a crafted disk would.
func claimEntries(t *testing.T, f *os.File, lba int64, count uint32) {
	t.Helper()
	sec := make([]byte, 512)
	if _, err := f.ReadAt(sec, lba*512); err != nil {
		t.Fatal(err)
	}
	d := withEntries(append(make([]byte, 512), sec...), count, 128)
	if _, err := f.WriteAt(d[512:], lba*512); err != nil {
		t.Fatal(err)
	}
}

// A header claiming 2^32 entries made gpt.Read allocate 512 GiB (a fatal
// out-of-memory error in PID 1): Grow refuses it, naming the header, and
// writes nothing.
func TestGrowRefusesHugeEntryArrays(t *testing.T) {
	f := image(t, 192*mib, 256*mib)
	claimEntries(t, f, 1, 0xffffffff)
	before, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Grow(f, 512, 4)
	want := "read GPT: primary header (sector 1) claims 4294967295 partition entries of 128 bytes: more than the 1024 KiB of entries Berth reads"
	if err == nil || err.Error() != want {
		t.Errorf("Grow: %v\nwant %s", err, want)
	}
	if after, _ := os.ReadFile(f.Name()); !bytes.Equal(before, after) {
		t.Error("a refused grow wrote to the disk")
	}
	// The backup header, which gpt.Read reads when the primary is broken.
	g := image(t, 192*mib, 192*mib)
	claimEntries(t, g, 192*mib/512-1, 1<<20)
	if _, err := g.WriteAt([]byte("X"), 512); err != nil { // the primary's signature
		t.Fatal(err)
	}
	_, err = Grow(g, 512, 4)
	want = "read GPT: backup header (sector 393215) claims 1048576 partition entries of 128 bytes: more than the 1024 KiB of entries Berth reads"
	if err == nil || err.Error() != want {
		t.Errorf("Grow: %v\nwant %s", err, want)
	}
	// 8192 entries (1 MiB) are read, and their checksum found wrong.
	h := image(t, 192*mib, 256*mib)
	claimEntries(t, h, 1, 8192)
	if _, err := Grow(h, 512, 4); err == nil || strings.Contains(err.Error(), "Berth reads") {
		t.Errorf("Grow with 8192 entries: %v, want gpt.Read's error", err)
	}
}
