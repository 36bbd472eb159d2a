// Package blockdev finds block devices and what they hold, without udev
// and without root: the disks and partitions sysfs lists, their GPT names,
// the filesystem signature at their start, and its label and UUID. Stage 1
// uses it to find the root, PID 1 to find the state partition and devices
// named in cloud-config mounts, and the datasources to find their volumes.
// The sysfs and /dev roots are parameters, so tests run anywhere.
package blockdev

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

// Device is one disk or partition as sysfs describes it.
type Device struct {
	Name     string // vda2
	Dev      string // /dev/vda2
	PartName string // GPT partition name, "" for a whole disk
	Disk     string // the whole disk's name (vda) for a partition, else Name
	IsPart   bool
}

// List lists the block devices in sysfs (root-relative paths), whole
// disks first, in name order.
func List(sysfs, dev string) ([]Device, error) {
	ents, err := os.ReadDir(filepath.Join(sysfs, "class/block"))
	if err != nil {
		return nil, fmt.Errorf("list block devices: %w", err)
	}
	var out []Device
	for _, e := range ents {
		d := Device{Name: e.Name(), Dev: filepath.Join(dev, e.Name()), Disk: e.Name()}
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

// Attachment is how a device's disk is attached, as far as trusting what
// it holds goes: a disk anyone can plug in or insert (USB, removable media,
// CD/DVD) is not one the machine's owner put there.
type Attachment struct {
	Removable bool // removable media or a CD/DVD drive
	USB       bool // on a USB bus, whatever its removable flag says
}

// AttachmentOf reads how d's disk is attached from sysfs: its removable
// flag, its name (sr* is a CD/DVD drive), and whether its device path goes
// through a USB bus (USB hard disks often say they are not removable).
func AttachmentOf(sysfs string, d Device) Attachment {
	var a Attachment
	link := filepath.Join(sysfs, "class/block", d.Disk)
	if b, err := os.ReadFile(filepath.Join(link, "removable")); err == nil && strings.TrimSpace(string(b)) == "1" {
		a.Removable = true
	}
	if strings.HasPrefix(d.Disk, "sr") {
		a.Removable = true
	}
	if real, err := filepath.EvalSymlinks(link); err == nil {
		root, _ := filepath.EvalSymlinks(sysfs)
		if rel, err := filepath.Rel(root, real); err == nil {
			for _, part := range strings.Split(rel, string(filepath.Separator)) {
				if strings.HasPrefix(part, "usb") {
					a.USB = true
				}
			}
		}
	}
	return a
}

// ByPartName finds the partition with a GPT name, preferring one on disk
// when disk is not "".
func ByPartName(devs []Device, name, disk string) (Device, bool) {
	var found []Device
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
	return Device{}, false
}

// ErrNoFilesystem means a device holds no filesystem signature Berth knows.
var ErrNoFilesystem = errors.New("no filesystem")

// Probe identifies the filesystem (or other signature) at the start of a
// device: ext4, vfat, udf, iso9660, squashfs, xfs, btrfs, swap,
// crypto_LUKS. A disc with both UDF and ISO 9660 (a bridge disc) is udf,
// as blkid says.
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
	case udf(at):
		return "udf", nil
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

// udf says whether a UDF volume recognition sequence starts at 32 KiB: a
// BEA01 descriptor, then NSR02 or NSR03, in 2 KiB descriptors (after the
// ISO 9660 ones of a bridge disc).
func udf(at func(off int, sig string) bool) bool {
	bea := false
	for off := 32768; off < 32768+16*2048; off += 2048 {
		switch {
		case at(off+1, "BEA01"):
			bea = true
		case bea && (at(off+1, "NSR02") || at(off+1, "NSR03")):
			return true
		case at(off+1, "TEA01"):
			return false
		}
	}
	return false
}

// ProbeFile opens a device and probes it.
func ProbeFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("probe: %w", err)
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

// UUID returns the UUID of the filesystem on r as blkid shows it: the
// ext2/3/4 UUID (3f1c9a52-7e0b-...), or the FAT volume serial (ABCD-1234).
// Other filesystems give ErrNoUUID.
func UUID(r io.ReaderAt) (string, error) {
	fstype, err := Probe(r)
	if err != nil {
		return "", err
	}
	switch fstype {
	case "ext4":
		u := make([]byte, 16)
		if _, err := r.ReadAt(u, 1024+104); err != nil {
			return "", fmt.Errorf("read ext4 superblock: %w", err)
		}
		return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]), nil
	case "vfat":
		bs := make([]byte, 512)
		if _, err := r.ReadAt(bs, 0); err != nil {
			return "", fmt.Errorf("read FAT boot sector: %w", err)
		}
		off := 38 // FAT12/16 extended boot record; FAT32 keeps it further in
		if string(bs[82:87]) == "FAT32" {
			off = 66
		}
		if bs[off] != 0x29 {
			return "", fmt.Errorf("%w: FAT without an extended boot record", ErrNoUUID)
		}
		id := binary.LittleEndian.Uint32(bs[off+1:])
		return fmt.Sprintf("%04X-%04X", id>>16, id&0xffff), nil
	}
	return "", fmt.Errorf("%w: %s", ErrNoUUID, fstype)
}

// ErrNoUUID means a filesystem has no UUID Berth can read.
var ErrNoUUID = errors.New("no UUID")

// Spec kinds: how a device is named in the kernel command line
// (berth.state.dev) and in cloud-config mounts.
const (
	ByPath      = "path"      // /dev/vdb1
	ByName      = "name"      // vdb1: /dev/vdb1, as cloud-init writes it
	ByLabel     = "LABEL"     // filesystem label (ext4, FAT, ISO 9660)
	ByUUID      = "UUID"      // filesystem UUID (ext4, FAT serial)
	ByPartLabel = "PARTLABEL" // GPT partition name
)

// Spec is a parsed device name.
type Spec struct {
	Kind  string
	Value string
}

func (s Spec) String() string {
	if s.Kind == ByPath || s.Kind == ByName {
		return s.Value
	}
	return s.Kind + "=" + s.Value
}

// ErrBadSpec is the kind of a device name ParseSpec does not accept.
var ErrBadSpec = errors.New("not a device name")

// ParseSpec reads a device name: a path under /dev, a kernel name such as
// vdb1, or LABEL=, UUID= or PARTLABEL= with a value.
func ParseSpec(spec string) (Spec, error) {
	if strings.HasPrefix(spec, "/") {
		return Spec{Kind: ByPath, Value: spec}, nil
	}
	if kind, val, ok := strings.Cut(spec, "="); ok {
		switch kind {
		case ByLabel, ByUUID, ByPartLabel:
			if val == "" {
				return Spec{}, fmt.Errorf("%w: %s= needs a value", ErrBadSpec, kind)
			}
			return Spec{Kind: kind, Value: val}, nil
		}
		return Spec{}, fmt.Errorf("%w: %q (expected LABEL=, UUID=, PARTLABEL=, a path under /dev or a kernel name such as vdb1)", ErrBadSpec, spec)
	}
	if spec == "" || strings.ContainsAny(spec, "/ \t") {
		return Spec{}, fmt.Errorf("%w: %q (expected LABEL=, UUID=, PARTLABEL=, a path under /dev or a kernel name such as vdb1)", ErrBadSpec, spec)
	}
	return Spec{Kind: ByName, Value: spec}, nil
}

// Find finds the device a spec names among devs. For PARTLABEL, a partition
// on disk (a kernel name such as vda) is preferred, so that the boot disk's
// own partitions win over another disk's of the same name.
func Find(devs []Device, spec Spec, disk string) (Device, bool) {
	if spec.Kind == ByPartLabel {
		return ByPartName(devs, spec.Value, disk)
	}
	for _, d := range devs {
		switch spec.Kind {
		case ByPath:
			if d.Dev == spec.Value {
				return d, true
			}
			continue
		case ByName:
			if d.Name == spec.Value {
				return d, true
			}
			continue
		}
		f, err := os.Open(d.Dev)
		if err != nil {
			continue
		}
		var got string
		switch spec.Kind {
		case ByLabel:
			_, got, _ = Label(f)
		case ByUUID:
			got, _ = UUID(f)
		}
		f.Close()
		if got != "" && strings.EqualFold(got, spec.Value) {
			return d, true
		}
	}
	return Device{}, false
}

// ErrNoDevice is the kind of a spec that names no present device.
var ErrNoDevice = errors.New("no such device")

// Resolve finds the device spec names among the block devices under sysfs
// and dev (/sys and /dev on a host), preferring disk for PARTLABEL.
func Resolve(sysfs, dev, spec, disk string) (Device, error) {
	s, err := ParseSpec(spec)
	if err != nil {
		return Device{}, err
	}
	devs, err := List(sysfs, dev)
	if err != nil {
		return Device{}, fmt.Errorf("list block devices: %w", err)
	}
	d, ok := Find(devs, s, disk)
	if !ok {
		return Device{}, fmt.Errorf("%s: %w", s, ErrNoDevice)
	}
	return d, nil
}
