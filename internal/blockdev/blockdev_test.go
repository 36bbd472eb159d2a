package blockdev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestList(t *testing.T) {
	sys := t.TempDir()
	mk := func(name, parent, uevent string) {
		real := filepath.Join(sys, "devices/pci/virtio1/block", parent, name)
		if parent == "" {
			real = filepath.Join(sys, "devices/pci/virtio1/block", name)
		}
		os.MkdirAll(real, 0o755)
		os.WriteFile(filepath.Join(real, "uevent"), []byte(uevent), 0o644)
		os.MkdirAll(filepath.Join(sys, "class/block"), 0o755)
		os.Symlink(real, filepath.Join(sys, "class/block", name))
	}
	mk("vda", "", "MAJOR=254\nDEVNAME=vda\nDEVTYPE=disk\n")
	mk("vda2", "vda", "DEVNAME=vda2\nDEVTYPE=partition\nPARTN=2\nPARTNAME=BERTH_A\n")
	mk("vda4", "vda", "DEVNAME=vda4\nDEVTYPE=partition\nPARTNAME=BERTH_STATE\n")
	mk("vdb", "", "DEVTYPE=disk\n")
	mk("vdb1", "vdb", "DEVTYPE=partition\nPARTNAME=BERTH_STATE\n")
	devs, err := List(sys, "/dev")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range devs {
		names = append(names, d.Name)
	}
	if diff := cmp.Diff([]string{"vda", "vdb", "vda2", "vda4", "vdb1"}, names); diff != "" {
		t.Errorf("order (-want +got)\n%s", diff)
	}
	a, ok := ByPartName(devs, "BERTH_A", "")
	if !ok || a.Dev != "/dev/vda2" || a.Disk != "vda" {
		t.Errorf("BERTH_A = %+v %v", a, ok)
	}
	st, _ := ByPartName(devs, "BERTH_STATE", "vdb")
	if st.Name != "vdb1" {
		t.Errorf("preferred disk ignored: %+v", st)
	}
	if _, ok := ByPartName(devs, "BERTH_B", ""); ok {
		t.Error("found a partition that does not exist")
	}
}

func TestProbe(t *testing.T) {
	blank := make([]byte, 128*1024)
	ext := append([]byte(nil), blank...)
	binary.LittleEndian.PutUint16(ext[1080:], 0xEF53)
	iso := append([]byte(nil), blank...)
	copy(iso[32769:], "CD001")
	junk := append([]byte(nil), blank...)
	copy(junk[100:], "something")
	sq := append([]byte(nil), blank...)
	copy(sq, "hsqs")
	// UDF's volume recognition sequence: alone (mkudffs), after the
	// ISO 9660 descriptors of a bridge disc (genisoimage -udf), and an
	// NSR02 that no BEA01 opens, or that follows the TEA01 closing it.
	vrs := func(base []byte, ids ...string) []byte {
		b := append([]byte(nil), base...)
		for i, id := range ids {
			copy(b[32768+i*2048+1:], id)
		}
		return b
	}
	udf := vrs(blank, "BEA01", "NSR02", "TEA01")
	bridge := vrs(blank, "CD001", "CD001", "BEA01", "NSR03", "TEA01")
	noBEA := vrs(blank, "CD001", "NSR02")
	afterTEA := vrs(blank, "CD001", "BEA01", "TEA01", "NSR02")
	for _, tc := range []struct {
		name string
		data []byte
		want string
		err  error
	}{
		{"blank", blank, "", ErrNoFilesystem},
		{"udf", udf, "udf", nil},
		{"udf bridge", bridge, "udf", nil},
		{"NSR02 without BEA01", noBEA, "iso9660", nil},
		{"NSR02 after TEA01", afterTEA, "iso9660", nil},
		{"ext4", ext, "ext4", nil},
		{"iso", iso, "iso9660", nil},
		{"squashfs", sq, "squashfs", nil},
		{"unknown data is not blank", junk, "unknown", nil},
	} {
		got, err := Probe(bytes.NewReader(tc.data))
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("%s: got %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
	pvd := make([]byte, 40*2048)
	pvd[16*2048] = 1
	copy(pvd[16*2048+1:], "CD001")
	copy(pvd[16*2048+40:], "BERTH                           ")
	if l, err := ISOLabel(bytes.NewReader(pvd)); err != nil || l != "BERTH" {
		t.Errorf("ISOLabel = %q, %v", l, err)
	}
}

func TestLabel(t *testing.T) {
	for _, tc := range []struct {
		name, typ, label string
		mk               func() []byte
	}{
		{"ext4", "ext4", "BERTH_STATE", func() []byte {
			b := make([]byte, 128*1024)
			binary.LittleEndian.PutUint16(b[1080:], 0xEF53)
			copy(b[1024+120:], "BERTH_STATE")
			return b
		}},
		{"fat16", "vfat", "CIDATA", func() []byte {
			b := make([]byte, 128*1024)
			copy(b[54:], "FAT16   ")
			b[38] = 0x29
			copy(b[43:], "CIDATA     ")
			b[510], b[511] = 0x55, 0xAA
			return b
		}},
		{"fat32", "vfat", "config-2", func() []byte {
			b := make([]byte, 128*1024)
			copy(b[82:], "FAT32   ")
			b[66] = 0x29
			copy(b[71:], "config-2   ")
			b[510], b[511] = 0x55, 0xAA
			return b
		}},
	} {
		typ, label, err := Label(bytes.NewReader(tc.mk()))
		if err != nil || typ != tc.typ || label != tc.label {
			t.Errorf("%s: %q %q %v", tc.name, typ, label, err)
		}
	}
}

// mkfs makes a filesystem image with a host tool.
func mkfs(t testing.TB, path string, size int64, argv ...string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(argv[0], append(argv[1:], path)...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", argv[0], err, out)
	}
}

func TestUUID(t *testing.T) {
	dir := t.TempDir()
	const extUUID = "3f1c9a52-7e0b-4d8e-9b1a-2c5d7e9f0a1b"
	ext := filepath.Join(dir, "ext.img")
	mkfs(t, ext, 8<<20, "mke2fs", "-q", "-F", "-t", "ext4", "-U", extUUID)
	fat16 := filepath.Join(dir, "fat16.img")
	mkfs(t, fat16, 16<<20, "mkfs.fat", "-F", "16", "-i", "abcd1234")
	fat32 := filepath.Join(dir, "fat32.img")
	mkfs(t, fat32, 40<<20, "mkfs.fat", "-F", "32", "-i", "0badcafe")
	for _, tc := range []struct {
		name, path, want string
	}{
		{"ext4", ext, extUUID},
		{"fat16 serial", fat16, "ABCD-1234"},
		{"fat32 serial", fat32, "0BAD-CAFE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Open(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := UUID(f)
			if err != nil || got != tc.want {
				t.Errorf("UUID = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	sq := make([]byte, 128*1024)
	copy(sq, "hsqs")
	if _, err := UUID(bytes.NewReader(sq)); !errors.Is(err, ErrNoUUID) {
		t.Errorf("squashfs: got %v, want ErrNoUUID", err)
	}
	if _, err := UUID(bytes.NewReader(make([]byte, 128*1024))); !errors.Is(err, ErrNoFilesystem) {
		t.Errorf("blank: got %v, want ErrNoFilesystem", err)
	}
}

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want Spec
		err  string
	}{
		{"/dev/vdb1", Spec{ByPath, "/dev/vdb1"}, ""},
		{"vdb1", Spec{ByName, "vdb1"}, ""},
		{"LABEL=data", Spec{ByLabel, "data"}, ""},
		{"UUID=ABCD-1234", Spec{ByUUID, "ABCD-1234"}, ""},
		{"PARTLABEL=BERTH_STATE", Spec{ByPartLabel, "BERTH_STATE"}, ""},
		{"LABEL=", Spec{}, "LABEL= needs a value"},
		{"PARTUUID=1234", Spec{}, `"PARTUUID=1234" (expected LABEL=, UUID=, PARTLABEL=`},
		{"", Spec{}, `"" (expected`},
		{"dev/vdb", Spec{}, `"dev/vdb" (expected`},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ParseSpec(tc.spec)
			if tc.err != "" {
				if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want ErrBadSpec containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			if got.String() != tc.spec {
				t.Errorf("String() = %q, want %q", got.String(), tc.spec)
			}
		})
	}
}

// sysfsWith makes a sysfs with one disk and the given partitions, whose
// device nodes are the files in devs (by name).
func sysfsWith(t *testing.T, disk string, parts map[string]string) string {
	t.Helper()
	sys := t.TempDir()
	os.MkdirAll(filepath.Join(sys, "class/block"), 0o755)
	mk := func(name, dir, uevent string) {
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "uevent"), []byte(uevent), 0o644)
		os.Symlink(dir, filepath.Join(sys, "class/block", name))
	}
	diskDir := filepath.Join(sys, "devices/virtio/block", disk)
	mk(disk, diskDir, "DEVTYPE=disk\n")
	for name, partname := range parts {
		mk(name, filepath.Join(diskDir, name), "DEVTYPE=partition\nPARTNAME="+partname+"\n")
	}
	return sys
}

func TestFindAndResolve(t *testing.T) {
	dev := t.TempDir()
	const uuid = "3f1c9a52-7e0b-4d8e-9b1a-2c5d7e9f0a1b"
	mkfs(t, filepath.Join(dev, "vdc1"), 8<<20, "mke2fs", "-q", "-F", "-t", "ext4", "-L", "MYSTATE", "-U", uuid)
	mkfs(t, filepath.Join(dev, "vdc2"), 16<<20, "mkfs.fat", "-F", "16", "-n", "DATA", "-i", "12345678")
	os.WriteFile(filepath.Join(dev, "vdc"), make([]byte, 1<<20), 0o644)
	sys := sysfsWith(t, "vdc", map[string]string{"vdc1": "STATE", "vdc2": "EXTRA"})
	for _, tc := range []struct {
		spec, want string
	}{
		{"LABEL=MYSTATE", "vdc1"},
		{"LABEL=mystate", "vdc1"},
		{"LABEL=DATA", "vdc2"},
		{"UUID=" + uuid, "vdc1"},
		{"UUID=1234-5678", "vdc2"},
		{"UUID=1234-5678", "vdc2"},
		{"PARTLABEL=EXTRA", "vdc2"},
		{filepath.Join(dev, "vdc"), "vdc"},
		{"vdc2", "vdc2"},
		{"LABEL=OTHER", ""},
		{"UUID=00000000-0000-0000-0000-000000000000", ""},
		{"PARTLABEL=BERTH_B", ""},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			d, err := Resolve(sys, dev, tc.spec, "")
			if tc.want == "" {
				if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), tc.spec) {
					t.Fatalf("got %+v, %v; want ErrNoDevice naming %s", d, err, tc.spec)
				}
				return
			}
			if err != nil || d.Name != tc.want || d.Dev != filepath.Join(dev, tc.want) {
				t.Fatalf("got %+v, %v; want %s", d, err, tc.want)
			}
		})
	}
	if _, err := Resolve(sys, dev, "PARTUUID=x", ""); !errors.Is(err, ErrBadSpec) {
		t.Errorf("PARTUUID: got %v, want ErrBadSpec", err)
	}
	if _, err := Resolve(filepath.Join(sys, "nope"), dev, "vdc", ""); err == nil || !strings.Contains(err.Error(), "list block devices") {
		t.Errorf("no sysfs: got %v", err)
	}
}

// A disk counts as removable by its flag or as a CD/DVD drive, and as USB
// when its device path goes through a USB bus, whatever its flag says.
func TestAttachmentOf(t *testing.T) {
	sys := t.TempDir()
	os.MkdirAll(filepath.Join(sys, "class/block"), 0o755)
	mk := func(name, path, removable string) {
		dir := filepath.Join(sys, path, name)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "removable"), []byte(removable+"\n"), 0o644)
		// As in sysfs: a relative link from class/block.
		rel, _ := filepath.Rel(filepath.Join(sys, "class/block"), dir)
		os.Symlink(rel, filepath.Join(sys, "class/block", name))
	}
	mk("vda", "devices/pci0000:00/0000:00:04.0/virtio1/block", "0")
	mk("sr0", "devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block", "1")
	mk("sdb", "devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block", "0")
	mk("sdc", "devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/host7/target7:0:0/7:0:0:0/block", "1")
	mk("sdd", "devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block", "1")
	for name, want := range map[string]Attachment{
		"vda": {}, "sr0": {Removable: true}, "sdb": {USB: true}, "sdc": {Removable: true, USB: true}, "sdd": {Removable: true},
	} {
		// A partition is judged by its disk.
		if got := AttachmentOf(sys, Device{Name: name + "1", Disk: name}); got != want {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
}
