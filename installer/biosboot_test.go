package installer

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/layout"
)

// fakeGrub writes a boot.img of 0xB8 and a three-sector core.img whose
// first sector ends in diskboot.img's default blocklist.
func fakeGrub(t *testing.T) (bootImg, coreImg string) {
	t.Helper()
	dir := t.TempDir()
	core := bytes.Repeat([]byte{0xC0}, 3*sector-100)
	copy(core[blocklistOff-12:], make([]byte, 12))
	copy(core[blocklistOff:], []byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0x08})
	return writeFile(t, filepath.Join(dir, "boot.img"), bytes.Repeat([]byte{0xB8}, sector)),
		writeFile(t, filepath.Join(dir, "core.img"), core)
}

func TestBIOSBootCode(t *testing.T) {
	bootPath, corePath := fakeGrub(t)
	bootImg, _ := os.ReadFile(bootPath)
	core, _ := os.ReadFile(corePath)
	mbr := make([]byte, sector)
	for i := bootNTMagic; i < bootPartEnd; i++ {
		mbr[i] = byte(i) // disk signature and partition table
	}
	mbr[510], mbr[511] = 0x55, 0xaa
	out, c, err := biosBootCode(bootImg, core, mbr, 2048, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out[bootNTMagic:bootPartEnd], mbr[bootNTMagic:bootPartEnd]) || out[510] != 0x55 || out[511] != 0xaa {
		t.Error("the partition table or disk signature changed")
	}
	if got := binary.LittleEndian.Uint64(out[bootKernelSector:]); got != 2048 {
		t.Errorf("boot.img loads sector %d, want 2048", got)
	}
	if out[bootDrive] != 0xff || out[bootDriveCheck] != 0x90 || out[bootDriveCheck+1] != 0x90 || out[0] != 0xB8 || out[0x100] != 0xB8 {
		t.Errorf("boot.img: % x", out[:0x70])
	}
	if len(c) != 3*sector || c[2*sector] != 0xC0 || c[3*sector-1] != 0 {
		t.Errorf("core.img: %d bytes, want 3 sectors padded with zeros", len(c))
	}
	bl := c[blocklistOff:sector]
	if start, n, seg := binary.LittleEndian.Uint64(bl), binary.LittleEndian.Uint16(bl[8:]), binary.LittleEndian.Uint16(bl[10:]); start != 2049 || n != 2 || seg != 0x820 {
		t.Errorf("blocklist: start %d, %d sectors, segment %#x; want 2049, 2, 0x820", start, n, seg)
	}
	for _, tc := range []struct {
		name      string
		boot, cor []byte
		size      int64
		want      string
	}{
		{"core too big", bootImg, core, 1024, "core.img is 1 KiB; the BIOS boot partition holds 1 KiB"},
		{"not a core", bootImg, make([]byte, 2*sector), 1 << 20, "not a GRUB i386-pc core image"},
		{"short boot.img", bootImg[:440], core, 1 << 20, "boot.img is 440 bytes, want 512"},
	} {
		if _, _, err := biosBootCode(tc.boot, tc.cor, mbr, 2048, tc.size); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// A disk made from an image gets GUIDs of its own at its first boot, and
// keeps them after.
func TestRenewGUIDs(t *testing.T) {
	f := image(t, 192*mib, 192*mib)
	before := table(t, f)
	boot := make([]byte, sector)
	f.ReadAt(boot, 0)
	renewed, err := RenewGUIDs(f, 512, layout.FactoryDiskGUID)
	if err != nil || !renewed {
		t.Fatalf("RenewGUIDs = %v, %v", renewed, err)
	}
	after := table(t, f)
	if strings.EqualFold(after.GUID, layout.FactoryDiskGUID) {
		t.Error("disk GUID still the factory one")
	}
	for i, p := range after.Partitions {
		b := before.Partitions[i]
		if strings.EqualFold(p.GUID, b.GUID) || p.Name != b.Name || p.Start != b.Start || p.End != b.End || p.Type != b.Type {
			t.Errorf("partition %d: %+v, was %+v", i+1, p, b)
		}
	}
	mbr := make([]byte, sector)
	f.ReadAt(mbr, 0)
	if !bytes.Equal(mbr, boot) {
		t.Error("the MBR changed")
	}
	renewed, err = RenewGUIDs(f, 512, layout.FactoryDiskGUID)
	if err != nil || renewed || table(t, f).GUID != after.GUID {
		t.Errorf("second RenewGUIDs = %v, %v: a disk renews its GUIDs once", renewed, err)
	}
}

// An update writes the new core image into the half the MBR does not load,
// then points the MBR at it; the same code again changes nothing.
func TestUpdateBIOSBoot(t *testing.T) {
	bootPath, corePath := fakeGrub(t)
	bootImg, _ := os.ReadFile(bootPath)
	core, _ := os.ReadFile(corePath)
	f, err := os.Create(filepath.Join(t.TempDir(), "disk"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const start, size = 1 << 20, 1 << 20
	if err := f.Truncate(3 << 20); err != nil {
		t.Fatal(err)
	}
	if err := installBIOSBoot(f, bootPath, corePath, Part{Start: start, Size: size}); err != nil {
		t.Fatal(err)
	}
	loads := func() int64 {
		mbr := make([]byte, sector)
		f.ReadAt(mbr, 0)
		return int64(binary.LittleEndian.Uint64(mbr[bootKernelSector:])) * sector
	}
	if changed, err := UpdateBIOSBoot(f, bootImg, core, start, size); err != nil || changed {
		t.Fatalf("the installed code again: changed %v, %v", changed, err)
	}
	core2 := bytes.Clone(core)
	core2[sector+5] = 0xEE
	for i, want := range []int64{start + size/2, start} {
		if changed, err := UpdateBIOSBoot(f, bootImg, core2, start, size); err != nil || !changed {
			t.Fatalf("update %d: changed %v, %v", i, changed, err)
		}
		if got := loads(); got != want {
			t.Fatalf("update %d: the MBR loads byte %d, want %d", i, got, want)
		}
		got := make([]byte, 2)
		f.ReadAt(got, want+sector+5)
		if got[0] != core2[sector+5] {
			t.Fatalf("update %d: the new core image is not at %d", i, want)
		}
		bl := make([]byte, 8)
		f.ReadAt(bl, want+blocklistOff)
		if n := int64(binary.LittleEndian.Uint64(bl)); n != want/sector+1 {
			t.Errorf("update %d: blocklist starts at sector %d, want %d", i, n, want/sector+1)
		}
		core2[sector+5]++
	}
	// An MBR that loads from elsewhere is not ours to change.
	mbr := make([]byte, sector)
	f.ReadAt(mbr, 0)
	binary.LittleEndian.PutUint64(mbr[bootKernelSector:], 7)
	f.WriteAt(mbr, 0)
	if _, err := UpdateBIOSBoot(f, bootImg, core, start, size); err == nil || !strings.Contains(err.Error(), "outside the BIOS boot partition") {
		t.Errorf("foreign MBR: %v", err)
	}
}
