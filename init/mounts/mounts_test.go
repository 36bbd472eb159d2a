package mounts

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
	"golang.org/x/sys/unix"
)

type recorder struct {
	calls []string
	fail  map[string]error
}

func (r *recorder) Mount(source, target, fstype string, flags uintptr, data string) error {
	if err := r.fail[fstype]; err != nil {
		return err
	}
	r.calls = append(r.calls, fstype+" "+target)
	return nil
}

func TestApplySkipsMountedAndOptional(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "sys/firmware"), 0o755) // efi dir missing: efivarfs skipped
	r := &recorder{fail: map[string]error{"securityfs": unix.ENODEV}}
	mounted := map[string]bool{"/proc": true, "/sys": true, "/dev": true, "/run": true}
	did, err := Apply(r, root, Early, mounted)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"devpts " + root + "/dev/pts", "tmpfs " + root + "/dev/shm", "mqueue " + root + "/dev/mqueue",
		"tmpfs " + root + "/tmp", "cgroup2 " + root + "/sys/fs/cgroup", "bpf " + root + "/sys/fs/bpf",
	}
	if diff := cmp.Diff(want, r.calls); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if len(did) != len(want) || !strings.Contains(did[4], "cgroup2 on /sys/fs/cgroup type cgroup2 (nosuid,nodev,noexec,nsdelegate") {
		t.Errorf("log lines: %q", did)
	}
	// A required mount that fails stops boot with an error naming it.
	r = &recorder{fail: map[string]error{"cgroup2": unix.ENODEV}}
	_, err = Apply(r, root, Early, mounted)
	if !errors.Is(err, unix.ENODEV) || !strings.Contains(err.Error(), "/sys/fs/cgroup") {
		t.Errorf("err = %v", err)
	}
}

func TestMounted(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mountinfo")
	os.WriteFile(p, []byte("22 1 0:21 / /proc rw,nosuid - proc proc rw\n30 1 8:2 / /var/my\\040dir rw - ext4 /dev/vda4 rw\n"), 0o644)
	m, err := Mounted(p)
	if err != nil {
		t.Fatal(err)
	}
	if !m["/proc"] || !m["/var/my dir"] || m["/sys"] {
		t.Errorf("mounted = %v", m)
	}
}

func TestEnableControllers(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cgroup.controllers"), []byte("cpu memory pids\n"), 0o644)
	// A regular file collects only the last write, which is enough to see it ran.
	if err := EnableControllers(dir); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if string(b) != "+pids" {
		t.Errorf("subtree_control = %q", b)
	}
	if err := EnableControllers(t.TempDir()); err == nil {
		t.Error("no cgroup.controllers: no error")
	}
}

func TestBlockDevices(t *testing.T) {
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
	devs, err := BlockDevices(sys, "/dev")
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
	for _, tc := range []struct {
		name string
		data []byte
		want string
		err  error
	}{
		{"blank", blank, "", ErrNoFilesystem},
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

func TestFind(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "state.img")
	const uuid = "3f1c9a52-7e0b-4d8e-9b1a-2c5d7e9f0a1b"
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mke2fs", "-q", "-F", "-t", "ext4", "-L", "MYSTATE", "-U", uuid, img, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	blank := filepath.Join(dir, "blank.img")
	os.WriteFile(blank, make([]byte, 1<<20), 0o644)
	f, _ := os.Open(img)
	if got, err := ExtUUID(f); err != nil || got != uuid {
		t.Errorf("ExtUUID = %q, %v", got, err)
	}
	f.Close()
	devs := []BlockDevice{
		{Name: "vdb", Dev: blank, Disk: "vdb"},
		{Name: "vdc1", Dev: img, Disk: "vdc", IsPart: true, PartName: "DATA"},
	}
	for _, tc := range []struct {
		spec, want string
	}{
		{"LABEL=MYSTATE", "vdc1"},
		{"LABEL=mystate", "vdc1"},
		{"UUID=" + uuid, "vdc1"},
		{"PARTLABEL=DATA", "vdc1"},
		{blank, "vdb"},
		{"LABEL=OTHER", ""},
		{"UUID=00000000-0000-0000-0000-000000000000", ""},
	} {
		d, ok := Find(devs, tc.spec, "")
		if d.Name != tc.want || ok != (tc.want != "") {
			t.Errorf("Find(%q) = %q, %v; want %q", tc.spec, d.Name, ok, tc.want)
		}
	}
}
