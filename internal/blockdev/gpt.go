package blockdev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
)

// maxGPTEntries caps the partition entry array read (count × size): every
// partitioning tool writes 16 KiB; a crafted header may claim gigabytes.
const maxGPTEntries = 1 << 20

// ErrNoGPT means a disk has no valid primary GPT.
var ErrNoGPT = errors.New("no GPT")

// PartGUIDs reads the partition GUIDs of the primary GPT on disk r (with
// 512- or 4096-byte sectors), upper case, as GRUB's probe --part-uuid and
// blkid's PARTUUID print them (case aside). Unused entries are left out.
func PartGUIDs(r io.ReaderAt) ([]string, error) {
	for _, ss := range []int64{512, 4096} {
		hdr := make([]byte, 92)
		if _, err := r.ReadAt(hdr, ss); err != nil || string(hdr[:8]) != "EFI PART" {
			continue
		}
		size := binary.LittleEndian.Uint32(hdr[12:])
		if size < 92 || int64(size) > ss {
			continue
		}
		full := make([]byte, size)
		if _, err := r.ReadAt(full, ss); err != nil {
			continue
		}
		sum := binary.LittleEndian.Uint32(full[16:])
		binary.LittleEndian.PutUint32(full[16:], 0)
		if crc32.ChecksumIEEE(full) != sum {
			continue
		}
		lba := binary.LittleEndian.Uint64(hdr[72:])
		count, esize := binary.LittleEndian.Uint32(hdr[80:]), binary.LittleEndian.Uint32(hdr[84:])
		if esize < 128 || uint64(count)*uint64(esize) > maxGPTEntries || lba > 1<<40 {
			return nil, fmt.Errorf("%w: the header claims %d entries of %d bytes", ErrNoGPT, count, esize)
		}
		arr := make([]byte, int(count)*int(esize))
		if _, err := r.ReadAt(arr, int64(lba)*ss); err != nil {
			return nil, fmt.Errorf("read GPT entries: %w", err)
		}
		if crc32.ChecksumIEEE(arr) != binary.LittleEndian.Uint32(hdr[88:]) {
			return nil, fmt.Errorf("%w: the partition entries fail their checksum", ErrNoGPT)
		}
		var out []string
		for i := 0; i < int(count); i++ {
			e := arr[i*int(esize):]
			if isZero(e[:16]) { // no type: unused
				continue
			}
			out = append(out, guidString(e[16:32]))
		}
		return out, nil
	}
	return nil, ErrNoGPT
}

// guidString formats a GUID as stored on disk (the first three fields
// little-endian).
func guidString(b []byte) string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint16(b[4:]),
		binary.LittleEndian.Uint16(b[6:]), b[8:10], b[10:16])
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// ErrAmbiguous means more than one disk holds what names the boot disk.
var ErrAmbiguous = errors.New("more than one disk holds it")

// DiskWithPart finds the whole disk among devs (opened under their Dev
// paths) whose GPT has a partition with GUID guid. No such disk is
// ErrNoDevice; two or more (copies of one image, never booted) is
// ErrAmbiguous, naming them: which one the firmware booted can't be told.
func DiskWithPart(devs []Device, guid string) (string, error) {
	var found []string
	for _, d := range devs {
		if d.IsPart {
			continue
		}
		f, err := os.Open(d.Dev)
		if err != nil {
			continue
		}
		ids, _ := PartGUIDs(f)
		f.Close()
		for _, id := range ids {
			if strings.EqualFold(id, guid) {
				found = append(found, d.Name)
				break
			}
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no disk has a partition with GUID %s: %w", guid, ErrNoDevice)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("disks %s all have a partition with GUID %s: %w", strings.Join(found, ", "), guid, ErrAmbiguous)
}

// OnDisk is the partition named name on disk, and only there.
func OnDisk(devs []Device, name, disk string) (Device, bool) {
	for _, d := range devs {
		if d.IsPart && d.PartName == name && d.Disk == disk {
			return d, true
		}
	}
	return Device{}, false
}
