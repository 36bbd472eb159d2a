package mounts

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// BlockDevice is one disk or partition as sysfs describes it.
type BlockDevice struct {
	Name     string // vda2
	Dev      string // /dev/vda2
	PartName string // GPT partition name, "" for a whole disk
	Disk     string // the whole disk's name (vda) for a partition, else Name
	IsPart   bool
}

// BlockDevices lists the block devices in sysfs (root-relative paths), whole
// disks first, in name order.
func BlockDevices(sysfs, dev string) ([]BlockDevice, error) {
	ents, err := os.ReadDir(filepath.Join(sysfs, "class/block"))
	if err != nil {
		return nil, err
	}
	var out []BlockDevice
	for _, e := range ents {
		d := BlockDevice{Name: e.Name(), Dev: filepath.Join(dev, e.Name()), Disk: e.Name()}
		b, err := os.ReadFile(filepath.Join(sysfs, "class/block", e.Name(), "uevent"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, "=")
			switch k {
			case "DEVTYPE":
				d.IsPart = v == "partition"
			case "PARTNAME":
				d.PartName = v
			}
		}
		if d.IsPart {
			// class/block/vda2 links to .../block/vda/vda2: the parent is the disk.
			if target, err := os.Readlink(filepath.Join(sysfs, "class/block", e.Name())); err == nil {
				d.Disk = filepath.Base(filepath.Dir(target))
			}
		}
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].IsPart != out[j].IsPart {
			return !out[i].IsPart
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// ByPartName finds the partition with a GPT name, preferring one on disk
// when disk is not "".
func ByPartName(devs []BlockDevice, name, disk string) (BlockDevice, bool) {
	var found []BlockDevice
	for _, d := range devs {
		if d.IsPart && d.PartName == name {
			found = append(found, d)
		}
	}
	for _, d := range found {
		if d.Disk == disk {
			return d, true
		}
	}
	if len(found) > 0 {
		return found[0], true
	}
	return BlockDevice{}, false
}

// ErrNoFilesystem means a device holds no filesystem signature Berth knows.
var ErrNoFilesystem = errors.New("no filesystem")

// Probe identifies the filesystem (or other signature) at the start of a
// device: ext4, vfat, iso9660, squashfs, xfs, btrfs, swap, crypto_LUKS.
// A device of zeros gives ErrNoFilesystem; only then may Berth format it.
func Probe(r io.ReaderAt) (string, error) {
	buf := make([]byte, 70*1024)
	n, err := r.ReadAt(buf, 0)
	if n < 4096 {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return "", fmt.Errorf("probe: %w", err)
	}
	buf = buf[:n]
	at := func(off int, sig string) bool {
		return off+len(sig) <= len(buf) && string(buf[off:off+len(sig)]) == sig
	}
	switch {
	case at(0, "hsqs"):
		return "squashfs", nil
	case at(0, "XFSB"):
		return "xfs", nil
	case at(0, "LUKS\xba\xbe"):
		return "crypto_LUKS", nil
	case len(buf) > 1081 && binary.LittleEndian.Uint16(buf[1080:]) == 0xEF53:
		return "ext4", nil
	case at(65600, "_BHRfS_M"):
		return "btrfs", nil
	case at(32769, "CD001"):
		return "iso9660", nil
	case at(4086, "SWAPSPACE2") || at(4086, "SWAP-SPACE"):
		return "swap", nil
	case (at(54, "FAT") || at(82, "FAT32")) && buf[510] == 0x55 && buf[511] == 0xAA:
		return "vfat", nil
	}
	// Unknown but not blank: refuse to call it empty.
	if !bytes.Equal(buf[:4096], make([]byte, 4096)) || (len(buf) > 70000 && !bytes.Equal(buf[65536:65536+4096], make([]byte, 4096))) {
		return "unknown", nil
	}
	return "", ErrNoFilesystem
}

// ProbeFile opens a device and probes it.
func ProbeFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return Probe(f)
}

// ISOLabel returns the volume identifier of an ISO 9660 filesystem.
func ISOLabel(r io.ReaderAt) (string, error) {
	pvd := make([]byte, 2048)
	if _, err := r.ReadAt(pvd, 16*2048); err != nil {
		return "", err
	}
	if pvd[0] != 1 || string(pvd[1:6]) != "CD001" {
		return "", ErrNoFilesystem
	}
	return strings.TrimRight(string(pvd[40:72]), " \x00"), nil
}

// Label identifies a filesystem and returns its label: the ISO 9660 volume
// identifier, the FAT volume label, or the ext4 volume name.
func Label(r io.ReaderAt) (fstype, label string, err error) {
	fstype, err = Probe(r)
	if err != nil {
		return "", "", err
	}
	switch fstype {
	case "iso9660":
		label, err = ISOLabel(r)
	case "vfat":
		bs := make([]byte, 512)
		if _, err = r.ReadAt(bs, 0); err == nil {
			// FAT32 keeps its extended boot record further in.
			off := 38
			if string(bs[82:87]) == "FAT32" {
				off = 66
			}
			if bs[off] == 0x29 {
				label = strings.TrimRight(string(bs[off+5:off+16]), " \x00")
			}
			if label == "NO NAME" {
				label = ""
			}
		}
	case "ext4":
		sb := make([]byte, 16)
		if _, err = r.ReadAt(sb, 1024+120); err == nil {
			label = strings.TrimRight(string(sb), "\x00")
		}
	}
	return fstype, label, err
}

// ExtUUID returns the UUID of an ext2/3/4 filesystem, as blkid shows it.
func ExtUUID(r io.ReaderAt) (string, error) {
	sb := make([]byte, 1024)
	if _, err := r.ReadAt(sb, 1024); err != nil {
		return "", err
	}
	if binary.LittleEndian.Uint16(sb[56:]) != 0xEF53 {
		return "", ErrNoFilesystem
	}
	u := sb[104:120]
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]), nil
}

// Find finds the device a spec names: PARTLABEL=<GPT name>, LABEL=<label>
// (ext4, FAT, ISO 9660), UUID=<ext4 UUID> or a device path (/dev/vdb1). For PARTLABEL,
// a partition on disk is preferred.
func Find(devs []BlockDevice, spec, disk string) (BlockDevice, bool) {
	kind, val, _ := strings.Cut(spec, "=")
	if strings.HasPrefix(spec, "/") {
		kind, val = "DEV", spec
	}
	if kind == "PARTLABEL" {
		return ByPartName(devs, val, disk)
	}
	for _, d := range devs {
		if kind == "DEV" {
			if d.Dev == val {
				return d, true
			}
			continue
		}
		f, err := os.Open(d.Dev)
		if err != nil {
			continue
		}
		var got string
		switch kind {
		case "LABEL":
			_, got, _ = Label(f)
		case "UUID":
			got, _ = ExtUUID(f)
		}
		f.Close()
		if got != "" && strings.EqualFold(got, val) {
			return d, true
		}
	}
	return BlockDevice{}, false
}
