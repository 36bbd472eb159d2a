package installer

// GRUB's BIOS boot code, installed as grub-bios-setup installs it into a
// BIOS boot partition, without the tool (it wants a device map and the
// OS's view of the disk): boot.img goes into the MBR around the partition
// table and learns the sector where core.img starts; the first sector of
// core.img (diskboot.img) learns where the rest of it is.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
)

// Offsets in boot.img and diskboot.img (GRUB's include/grub/i386/pc/boot.h).
const (
	bootBPBStart     = 0x03  // a DOS BPB: kept from the disk
	bootBPBEnd       = 0x5a  //
	bootKernelSector = 0x5c  // LBA of core.img's first sector, 8 bytes
	bootDrive        = 0x64  // 0xff: the drive the BIOS booted
	bootDriveCheck   = 0x66  // a jmp that skips the check of a buggy BIOS's drive number
	bootNTMagic      = 0x1b8 // disk signature onwards: kept from the disk
	bootPartEnd      = 0x1fe // end of the partition table
	// The blocklist in diskboot.img: start (8 bytes), sectors (2), load
	// segment (2), the last 12 bytes of its sector; more entries go down
	// from there, ended by one of length 0.
	blocklistOff = sector - 12
	// coreMaxSize: diskboot loads core.img at 0x8200 and below 0x80000.
	coreMaxSize = 0x80000 - 0x8200
)

// installBIOSBoot writes GRUB's BIOS boot code onto disk f: core.img into
// the BIOS boot partition p, and boot.img into the MBR, keeping the
// partition table that is already there.
func installBIOSBoot(f *os.File, bootImgPath, coreImgPath string, p Part) error {
	if p.Size == 0 {
		return fmt.Errorf("BIOS boot code: the layout has no %s partition", "BIOS boot")
	}
	bootImg, err := os.ReadFile(bootImgPath)
	if err != nil {
		return fmt.Errorf("BIOS boot code: %w", err)
	}
	core, err := os.ReadFile(coreImgPath)
	if err != nil {
		return fmt.Errorf("BIOS boot code: %w", err)
	}
	mbr := make([]byte, sector)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		return fmt.Errorf("BIOS boot code: read the MBR: %w", err)
	}
	newMBR, newCore, err := biosBootCode(bootImg, core, mbr, p.Start/sector, p.Size)
	if err != nil {
		return fmt.Errorf("BIOS boot code: %w", err)
	}
	if _, err := f.WriteAt(newCore, p.Start); err != nil {
		return fmt.Errorf("BIOS boot code: write core.img: %w", err)
	}
	if _, err := f.WriteAt(newMBR, 0); err != nil {
		return fmt.Errorf("BIOS boot code: write the MBR: %w", err)
	}
	return nil
}

// biosBootCode patches boot.img and core.img for a core image written
// whole at sector lba of a partition of size bytes; mbr is the disk's
// sector 0, whose partition table and disk signature stay. It returns the
// new sector 0 and the core image, padded to whole sectors.
func biosBootCode(bootImg, core, mbr []byte, lba, size int64) ([]byte, []byte, error) {
	if len(bootImg) != sector {
		return nil, nil, fmt.Errorf("boot.img is %d bytes, want %d", len(bootImg), sector)
	}
	if len(mbr) != sector {
		return nil, nil, fmt.Errorf("MBR is %d bytes, want %d", len(mbr), sector)
	}
	if len(core) < sector {
		return nil, nil, fmt.Errorf("core.img is %d bytes: too short for a GRUB i386-pc core image", len(core))
	}
	n := (len(core) + sector - 1) / sector
	if int64(n)*sector > size || n*sector > coreMaxSize {
		return nil, nil, fmt.Errorf("core.img is %d KiB; the BIOS boot partition holds %d KiB and BIOS memory %d KiB", len(core)>>10, size>>10, coreMaxSize>>10)
	}
	c := make([]byte, n*sector)
	copy(c, core)
	bl := c[blocklistOff:sector]
	if binary.LittleEndian.Uint16(bl[10:]) == 0 {
		return nil, nil, fmt.Errorf("core.img's first sector has no blocklist: not a GRUB i386-pc core image")
	}
	// One extent: the sectors after the first, which boot.img loads.
	binary.LittleEndian.PutUint64(bl[0:], uint64(lba+1))
	binary.LittleEndian.PutUint16(bl[8:], uint16(n-1))
	// bl[10:12], the segment, stays as grub-mkimage set it; the entry
	// below it ends the list.
	clear(c[blocklistOff-12 : blocklistOff])

	out := make([]byte, sector)
	copy(out, bootImg)
	copy(out[bootBPBStart:bootBPBEnd], mbr[bootBPBStart:bootBPBEnd])
	copy(out[bootNTMagic:bootPartEnd], mbr[bootNTMagic:bootPartEnd])
	out[510], out[511] = 0x55, 0xaa
	binary.LittleEndian.PutUint64(out[bootKernelSector:], uint64(lba))
	out[bootDrive] = 0xff
	// A hard disk: also take the drive number from a BIOS that says 0x00.
	out[bootDriveCheck], out[bootDriveCheck+1] = 0x90, 0x90
	return out, c, nil
}

// UpdateBIOSBoot replaces GRUB's BIOS boot code on a disk whose BIOS boot
// partition starts at byte start and holds size bytes, without a moment in
// which the disk can't boot: the new core image goes into the half of the
// partition that the MBR does not load from, is synced, and then the MBR,
// one sector, which the disk writes whole or not at all, switches to it.
// It reports whether anything changed: the same code is left alone.
func UpdateBIOSBoot(f *os.File, bootImg, core []byte, start, size int64) (bool, error) {
	mbr := make([]byte, sector)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		return false, fmt.Errorf("BIOS boot code: read the MBR: %w", err)
	}
	half := size / 2 / sector * sector
	cur := int64(binary.LittleEndian.Uint64(mbr[bootKernelSector:])) * sector
	next := start
	if cur == start {
		next = start + half
	}
	if cur != start && cur != start+half {
		return false, fmt.Errorf("BIOS boot code: the MBR loads its core image from byte %d, outside the BIOS boot partition (%d, %d bytes)", cur, start, size)
	}
	// The code in place: the same MBR and core image mean nothing to do.
	if wantMBR, wantCore, err := biosBootCode(bootImg, core, mbr, cur/sector, half); err == nil {
		have := make([]byte, len(wantCore))
		if _, err := f.ReadAt(have, cur); err == nil && bytes.Equal(have, wantCore) && bytes.Equal(mbr, wantMBR) {
			return false, nil
		}
	}
	newMBR, newCore, err := biosBootCode(bootImg, core, mbr, next/sector, half)
	if err != nil {
		return false, fmt.Errorf("BIOS boot code: %w", err)
	}
	if _, err := f.WriteAt(newCore, next); err != nil {
		return false, fmt.Errorf("BIOS boot code: write core.img: %w", err)
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("BIOS boot code: %w", err)
	}
	if _, err := f.WriteAt(newMBR, 0); err != nil {
		return false, fmt.Errorf("BIOS boot code: write the MBR: %w", err)
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("BIOS boot code: %w", err)
	}
	return true, nil
}
