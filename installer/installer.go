// Package installer lays out and writes Berth disks: a GPT with an EFI
// system partition (bootloaders, and the kernel and initrd of both slots),
// the two root slots BERTH_A and BERTH_B, BERTH_STATE, and a BIOS boot
// partition holding GRUB's core image for BIOS firmware. The build makes
// raw images with this code; installing onto a live host's disk will use it
// too.
package installer

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/berth-os/berth/internal/layout"
)

const (
	sector = 512
	align  = 1 << 20 // partitions start on MiB boundaries
	// gptTail is room at the end of the disk for the backup GPT.
	gptTail = 33 * sector
)

// Layout sizes a disk.
type Layout struct {
	Size     int64 // whole disk, bytes
	EFISize  int64
	SlotSize int64
	// Seed makes the disk's and partitions' GUIDs: the same seed gives the
	// same GUIDs, so the same build gives the same bytes.
	Seed string
}

// Part is one planned partition.
type Part struct {
	Name   string
	Start  int64 // bytes
	Size   int64
	Type   gpt.Type
	Attr   uint64
	GUID   string
	Number int
}

// biosBootSize is the BIOS boot partition's: GRUB's core image for BIOS
// firmware is about 100 KiB.
const biosBootSize = 1 << 20

// Plan returns the partitions in the order of their numbers: EFI (1),
// BERTH_A (2), BERTH_B (3), BERTH_STATE (4) and BIOS (5). On the disk the
// BIOS boot partition comes first, and BERTH_STATE last, on the rest of
// the disk, so that it can grow. The BIOS boot partition is numbered last
// so that the others keep the numbers they had before it was added.
func (l Layout) Plan() ([]Part, error) {
	if l.EFISize%align != 0 || l.SlotSize%align != 0 {
		return nil, fmt.Errorf("layout: EFI and slot sizes must be whole MiB")
	}
	parts := []Part{
		{Name: layout.PartEFI, Size: l.EFISize, Type: gpt.EFISystemPartition},
		{Name: layout.PartA, Size: l.SlotSize, Type: gpt.LinuxFilesystem},
		{Name: layout.PartB, Size: l.SlotSize, Type: gpt.LinuxFilesystem},
		{Name: layout.PartState, Type: gpt.LinuxFilesystem},
		{Name: layout.PartBIOS, Size: biosBootSize, Type: gpt.BIOSBoot},
	}
	for i := range parts {
		parts[i].Number = i + 1
		parts[i].GUID = guid(l.Seed, parts[i].Name)
	}
	off := int64(align)
	for _, i := range []int{4, 0, 1, 2, 3} { // the order on the disk
		parts[i].Start = off
		if parts[i].Size == 0 {
			end := (l.Size - gptTail) / align * align
			parts[i].Size = end - off
		}
		off += parts[i].Size
	}
	if st := parts[3]; st.Size < 64<<20 {
		return nil, fmt.Errorf("layout: a %d MiB disk leaves %d MiB for %s; it needs at least 64 MiB", l.Size>>20, st.Size>>20, layout.PartState)
	}
	return parts, nil
}

// ByName is the planned partition with a GPT name.
func ByName(parts []Part, name string) (Part, bool) {
	for _, p := range parts {
		if p.Name == name {
			return p, true
		}
	}
	return Part{}, false
}

// guid derives a stable, RFC 4122-shaped (version 4 bits) GUID from a seed.
func guid(seed, name string) string {
	h := sha256.Sum256([]byte("berth-gpt\x00" + seed + "\x00" + name))
	return formatGUID(h[:16])
}

// formatGUID makes 16 bytes a version 4 GUID, in the form go-diskfs reads
// and writes.
func formatGUID(h []byte) string {
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// Content is what goes onto a new disk.
type Content struct {
	// GRUB's BIOS boot code: boot.img (the MBR's) and core.img (the BIOS
	// boot partition's, made by grub-mkimage -O i386-pc). "" for none.
	BootImg, CoreImg string
	EFI              string // FAT image for the EFI partition
	RootA            string // root squashfs for BERTH_A
}

// WriteImage writes a sparse raw disk image to path: partition table,
// boot code and the filesystems in content. BERTH_B and BERTH_STATE stay
// blank (init formats the state partition at first boot).
func WriteImage(path string, l Layout, c Content) ([]Part, error) {
	parts, err := writeImage(path, l, c)
	if err != nil {
		return nil, fmt.Errorf("write disk image %s: %w", path, err)
	}
	return parts, nil
}

func writeImage(path string, l Layout, c Content) ([]Part, error) {
	parts, err := l.Plan()
	if err != nil {
		return nil, err
	}
	os.Remove(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := f.Truncate(l.Size); err != nil {
		return nil, err
	}
	// Every disk made from an image starts with the factory disk GUID;
	// PID 1 gives the disk and its partitions GUIDs of their own at its
	// first boot (RenewGUIDs), so that copies can be told apart.
	if err := writeTable(f, l.Size, parts, layout.FactoryDiskGUID); err != nil {
		return nil, err
	}
	if c.BootImg != "" || c.CoreImg != "" {
		bios, _ := ByName(parts, layout.PartBIOS)
		if err := installBIOSBoot(f, c.BootImg, c.CoreImg, bios); err != nil {
			return nil, err
		}
	}
	for _, fill := range []struct {
		src  string
		part Part
	}{{c.EFI, parts[0]}, {c.RootA, parts[1]}} {
		if fill.src == "" {
			continue
		}
		if err := copyInto(f, fill.src, 0, fill.part); err != nil {
			return nil, fmt.Errorf("partition %s: %w", fill.part.Name, err)
		}
	}
	return parts, f.Sync()
}

// newTable is the GPT of parts, with the disk GUID diskGUID.
func newTable(parts []Part, diskGUID string) *gpt.Table {
	t := &gpt.Table{LogicalSectorSize: sector, PhysicalSectorSize: sector, ProtectiveMBR: true, GUID: diskGUID}
	for _, p := range parts {
		t.Partitions = append(t.Partitions, &gpt.Partition{
			Index: p.Number, Start: uint64(p.Start / sector), End: uint64((p.Start+p.Size)/sector - 1),
			Size: uint64(p.Size), Type: p.Type, Name: p.Name, GUID: p.GUID, Attributes: p.Attr,
		})
	}
	return t
}

// copyInto copies the first n bytes of src (all of it when n is 0) into
// partition p of f.
func copyInto(f *os.File, src string, n int64, p Part) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if n == 0 {
		st, err := in.Stat()
		if err != nil {
			return err
		}
		n = st.Size()
	}
	if n > p.Size {
		return fmt.Errorf("%s is %d MiB; partition %s holds %d MiB", src, n>>20, p.Name, p.Size>>20)
	}
	if _, err := f.Seek(p.Start, io.SeekStart); err != nil {
		return err
	}
	got, err := io.Copy(f, io.LimitReader(in, n))
	if err == nil && got != n {
		err = fmt.Errorf("%s: %d bytes, want %d", src, got, n)
	}
	return err
}
