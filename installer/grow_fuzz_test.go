package installer

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/berth-os/berth/internal/fuzzmem"
)

// growBound: a GPT's partition entries are 16 KiB on every disk Berth
// makes, and reading and writing the table needs under 80 KiB for the
// seeds; Grow lets gpt.Read allocate at most maxEntryArray (1 MiB) of
// entries. What a table on a crafted disk may cost must follow the bytes
// that are really there (64 a byte of the disk's start), not the sizes
// its header claims.
var growBound = fuzzmem.Bound{Base: 4 * fuzzmem.MiB, PerByte: 64}

// maxGrowSectors caps how far a fuzzed disk is grown: 2 GiB, sparse.
const maxGrowSectors = 1 << 22

// diskHead returns the first n bytes of a Berth disk image of size bytes.
func diskHead(f *testing.F, size int64, n int) []byte {
	path := filepath.Join(f.TempDir(), "disk.raw")
	l := Layout{Size: size, EFISize: 8 * mib, SlotSize: 32 * mib, Seed: "fuzz"}
	if _, err := WriteImage(path, l, Content{}); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b[:n]
}

// smallDisk is a whole GPT disk of 64 KiB with one partition, written by
// go-diskfs; with a broken primary header, Grow reads the backup.
func smallDisk(f *testing.F, breakPrimary bool) []byte {
	path := filepath.Join(f.TempDir(), "small.raw")
	const size = 64 << 10
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		f.Fatal(err)
	}
	fl, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		f.Fatal(err)
	}
	defer fl.Close()
	t := &gpt.Table{LogicalSectorSize: 512, PhysicalSectorSize: 512, ProtectiveMBR: true, GUID: guid("fuzz", "disk")}
	t.Partitions = []*gpt.Partition{{Index: 1, Start: 34, End: 90, Size: 57 * 512, Type: gpt.LinuxFilesystem, Name: "BERTH_STATE", GUID: guid("fuzz", "state")}}
	if err := t.Write(fl, size); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	if breakPrimary {
		b[512] = 'X' // the signature, "EFI PART"
	}
	return b
}

// withEntries returns disk with its primary GPT header claiming count
// partition entries of size bytes, its checksum made right.
func withEntries(disk []byte, count, size uint32) []byte {
	d := bytes.Clone(disk)
	hdr := d[512 : 512+92]
	binary.LittleEndian.PutUint32(hdr[80:], count)
	binary.LittleEndian.PutUint32(hdr[84:], size)
	binary.LittleEndian.PutUint32(hdr[16:], 0)
	binary.LittleEndian.PutUint32(hdr[16:], crc32.ChecksumIEEE(hdr))
	return d
}

// A disk of any content never panics Grow, and Grow reads and writes its
// GPT within growBound. The disk is the input, made bigger by grow
// sectors (sparse, as a cloud disk resized), and part is the partition to
// grow. When Grow says it grew the partition, the table on disk says so
// too.
func FuzzGrow(f *testing.F) {
	head := diskHead(f, 192*mib, 34*512)
	f.Add(head, uint32((256*mib-len(head))/512), uint8(4))
	f.Add(head, uint32((256*mib-len(head))/512), uint8(2))
	f.Add(head, uint32(0), uint8(4))
	f.Add(smallDisk(f, false), uint32(4096), uint8(1))
	f.Add(smallDisk(f, true), uint32(4096), uint8(1))
	f.Add(smallDisk(f, true), uint32(0), uint8(1))
	// testdata/fuzz/FuzzGrow/header-claims-2e32-entries is a header that
	// claims 2^32 entries: a fatal out-of-memory error before Grow
	// checked the entry arrays.
	f.Add([]byte{}, uint32(0), uint8(0))
	path := filepath.Join(f.TempDir(), "disk.raw")
	f.Fuzz(func(t *testing.T, disk []byte, grow uint32, part uint8) {
		if err := os.WriteFile(path, disk, 0o644); err != nil {
			t.Fatal(err)
		}
		size := int64(len(disk)) + int64(grow%maxGrowSectors)*512
		if err := os.Truncate(path, size); err != nil {
			t.Fatal(err)
		}
		fl, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer fl.Close()
		var r Result
		var gerr error
		fuzzmem.Check(t, growBound, len(disk), func() { r, gerr = Grow(fl, 512, int(part)) })
		if gerr != nil || !r.Grown {
			return
		}
		tb, err := gpt.Read(fl, 512, 512)
		if err != nil {
			t.Fatalf("grown, but the table does not read back: %v", err)
		}
		for _, p := range tb.Partitions {
			if p.Index == int(part) && int64(p.Start*512) == r.Start && int64(p.Size) == r.NewSize && p.End*512 < uint64(size) {
				return
			}
		}
		t.Errorf("grown to %+v, but the table says %+v", r, tb.Partitions)
	})
}
