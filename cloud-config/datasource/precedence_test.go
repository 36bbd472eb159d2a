package datasource

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/blockdev"
)

// The rule of precedence for seed volumes, case by case.
func TestPrecedenceSeed(t *testing.T) {
	fixed, removable, usb := blockdev.Attachment{}, blockdev.Attachment{Removable: true}, blockdev.Attachment{USB: true}
	installed, firstBoot := Precedence{Installed: true}, Precedence{}
	vm := Precedence{Installed: true, Virtual: true}
	for _, tc := range []struct {
		name   string
		p      Precedence
		a      blockdev.Attachment
		listed bool
		want   bool
		why    string
	}{
		{"fixed disk, installed host", installed, fixed, false, true, ""},
		{"USB stick, installed host", installed, usb, false, false, "it is on USB and this host is installed"},
		{"CD, installed host", installed, removable, false, false, "it is removable and this host is installed"},
		{"USB stick, installed host, listed", installed, usb, true, true, ""},
		{"USB stick, first boot", firstBoot, usb, false, true, ""},
		{"CD, first boot", firstBoot, removable, false, true, ""},
		{"the hypervisor's CD, installed VM", vm, removable, false, true, ""},
		{"USB stick passed to an installed VM", vm, usb, false, false, "it is on USB"},
		{"USB stick passed to an installed VM, listed", vm, usb, true, true, ""},
		{"a removable USB disk, installed host", installed, blockdev.Attachment{Removable: true, USB: true}, false, false, "a seed volume anyone can plug in is used only when berth.datasources names its source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := tc.p.Seed(tc.a, tc.listed)
			if ok != tc.want || (tc.why == "") != (why == "") || !strings.Contains(why, tc.why) {
				t.Errorf("Seed = %v, %q; want %v, %q", ok, why, tc.want, tc.why)
			}
		})
	}
}

// seedSysfs makes a sysfs and /dev where each named disk holds a FAT16
// filesystem labelled CIDATA, fixed (virtio) or on USB.
func seedSysfs(t *testing.T, disks map[string]bool) (sys, dev string) {
	t.Helper()
	sys, dev = t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(sys, "class/block"), 0o755)
	fat := make([]byte, 128*1024)
	copy(fat[54:], "FAT16   ")
	fat[38] = 0x29
	copy(fat[43:], "CIDATA     ")
	fat[510], fat[511] = 0x55, 0xAA
	for name, onUSB := range disks {
		path := "devices/pci0000:00/0000:00:04.0/virtio1/block"
		if onUSB {
			path = "devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block"
		}
		dir := filepath.Join(sys, path, name)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "uevent"), []byte("DEVTYPE=disk\n"), 0o644)
		os.Symlink(dir, filepath.Join(sys, "class/block", name))
		os.WriteFile(filepath.Join(dev, name), fat, 0o644)
	}
	return sys, dev
}

// On an installed host a cidata stick on USB is passed over for a fixed
// seed disk, and alone it is an error of kind ErrIgnored naming it; listed
// in berth.datasources, it is used.
func TestSelectionPassesOverUSBSeeds(t *testing.T) {
	nocloud := func(sel Selection) *Volume {
		t.Helper()
		local, _, problems := sel.Select()
		for _, s := range local {
			if v, ok := s.(*Volume); ok && v.Name() == "nocloud" {
				return v
			}
		}
		t.Fatalf("no nocloud source: %v %v", names(local), problems)
		return nil
	}
	installed := Precedence{Installed: true}

	sys, dev := seedSysfs(t, map[string]bool{"sda": true, "vdb": false})
	got, _, err := nocloud(Selection{Sysfs: sys, Dev: dev, Precedence: installed}).Find()
	if err != nil || got != filepath.Join(dev, "vdb") {
		t.Errorf("USB and fixed seeds: %s %v, want the fixed one", got, err)
	}

	sys, dev = seedSysfs(t, map[string]bool{"sda": true})
	_, _, err = nocloud(Selection{Sysfs: sys, Dev: dev, Precedence: installed}).Find()
	want := "ignored: " + filepath.Join(dev, "sda") + " (labelled CIDATA): it is on USB and this host is installed"
	if !errors.Is(err, ErrIgnored) || Absent(err) || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("a USB seed alone: %v, want %q", err, want)
	}
	for name, sel := range map[string]Selection{
		"listed":     {Sysfs: sys, Dev: dev, Precedence: installed, Order: []string{"nocloud", "state"}},
		"first boot": {Sysfs: sys, Dev: dev},
	} {
		if got, _, err := nocloud(sel).Find(); err != nil || got != filepath.Join(dev, "sda") {
			t.Errorf("%s: %s %v, want the USB seed", name, got, err)
		}
	}
}

func TestVirtual(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	vm := write("vm/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr hypervisor lahf_lm\n")
	metal := write("metal/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr lahf_lm\nbugs\t\t: hypervisor_x\n")
	xen := filepath.Dir(write("xen/hypervisor/type", "xen\n"))
	for name, tc := range map[string]struct {
		cpuinfo, sysfs string
		want           bool
	}{
		"hypervisor flag": {vm, dir, true},
		"bare metal":      {metal, dir, false},
		"xen in sysfs":    {metal, filepath.Dir(xen), true},
		"nothing to read": {filepath.Join(dir, "none"), filepath.Join(dir, "none"), false},
	} {
		if got := Virtual(tc.cpuinfo, tc.sysfs); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}
