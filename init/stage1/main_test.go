package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/init/cmdline"
	"github.com/berth-os/berth/internal/blockdev/gpttest"
	"github.com/berth-os/berth/internal/layout"
)

// machine makes a sysfs and a /dev: disks with partitions (name → GPT
// name) and whole-disk images (name → file content).
func machine(t *testing.T, parts map[string]string, disks map[string][]byte) (sys, dev string) {
	t.Helper()
	sys, dev = t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(sys, "class/block"), 0o755)
	link := func(name, dir, uevent string) {
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "uevent"), []byte(uevent), 0o644)
		if err := os.Symlink(dir, filepath.Join(sys, "class/block", name)); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range disks {
		link(name, filepath.Join(sys, "devices/block", name), "DEVTYPE=disk\n")
		os.WriteFile(filepath.Join(dev, name), data, 0o644)
	}
	for name, partname := range parts {
		disk := strings.TrimRight(name, "0123456789")
		link(name, filepath.Join(sys, "devices/block", disk, name), "DEVTYPE=partition\nPARTNAME="+partname+"\n")
		os.WriteFile(filepath.Join(dev, name), nil, 0o644)
	}
	return sys, dev
}

// iso is the start of an ISO 9660 image with a volume label.
func iso(label string) []byte {
	b := make([]byte, 20*2048)
	pvd := b[16*2048:]
	pvd[0] = 1
	copy(pvd[1:], "CD001")
	copy(pvd[40:72], label+strings.Repeat(" ", 32-len(label)))
	return b
}

func TestFindRoot(t *testing.T) {
	sys, dev := machine(t,
		map[string]string{"vda1": layout.PartEFI, "vda2": layout.PartA, "vda3": layout.PartB, "vda4": layout.PartState},
		map[string][]byte{"vda": nil, "sr0": iso(layout.ISOLabel), "sr1": iso("CIDATA")})
	for _, tc := range []struct {
		cmdline string
		want    layout.Boot
	}{
		{"console=ttyS0", layout.Boot{Medium: layout.MediumDisk, Root: dev + "/vda2", Disk: "vda", Slot: "a"}},
		{"berth.slot=b", layout.Boot{Medium: layout.MediumDisk, Root: dev + "/vda3", Disk: "vda", Slot: "b"}},
		{"berth.boot=iso", layout.Boot{Medium: layout.MediumISO, Root: dev + "/sr0", Disk: "sr0", Slot: "a"}},
	} {
		t.Run(tc.cmdline, func(t *testing.T) {
			got, err := findRoot(cmdline.Parse(tc.cmdline), sys, dev, 0)
			if err != nil || got != tc.want {
				t.Errorf("findRoot = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestFindRootMissing(t *testing.T) {
	sys, dev := machine(t, map[string]string{"vdb1": "OTHER"}, map[string][]byte{"vdb": nil, "sr0": iso("CIDATA")})
	for cl, want := range map[string]string{
		"":               "no GPT partition named BERTH_A (waited 100ms)",
		"berth.slot=b":   "no GPT partition named BERTH_B (waited 100ms)",
		"berth.boot=iso": "no ISO 9660 volume labelled BERTH (waited 100ms)",
	} {
		if _, err := findRoot(cmdline.Parse(cl), sys, dev, 100e6); err == nil || err.Error() != want {
			t.Errorf("%q: got %v, want %q", cl, err, want)
		}
	}
	if _, err := findRoot(cmdline.Parse(""), filepath.Join(sys, "gone"), dev, 0); err == nil || !strings.Contains(err.Error(), "list block devices") {
		t.Errorf("no sysfs: %v", err)
	}
}

// Stage 1 has no cloud-config, so no password to ask for: it gives its
// shell only when the image spec says rescue: shell, and otherwise says
// why not.
func TestRescueAllowed(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, body string
		shell      bool
		why        string
	}{
		{"shell", `{"rescue":"shell"}`, true, ""},
		{"password", `{"rescue":"password"}`, false, "the initramfs has no root password to ask for (cloud-config is read later, by PID 1), and this image allows no rescue shell without one; build the image with rescue: shell in its image spec for one"},
		{"off", `{"rescue":"off"}`, false, "this image was built with rescue: off in its image spec"},
		{"garbled", `{"rescue":"shell"`, false, "the initramfs does not say that it may give one (read "},
		{"missing", "", false, "the initramfs does not say that it may give one (read "},
	} {
		p := filepath.Join(dir, tc.name+".json")
		if tc.body != "" {
			os.WriteFile(p, []byte(tc.body), 0o644)
		}
		shell, why := rescueAllowed(p)
		if shell != tc.shell || !strings.Contains(why, tc.why) || (why == "") != tc.shell {
			t.Errorf("%s: %v, %q; want %v, %q", tc.name, shell, why, tc.shell, tc.why)
		}
	}
}

// The root comes from the disk the bootloader names by its partition's
// GUID, even when another disk, listed first, has a partition of the
// same name.
func TestFindRootOnBootDisk(t *testing.T) {
	const (
		fake = "11111111-2222-4333-8444-555555555555"
		mine = "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"
	)
	sys, dev := machine(t,
		map[string]string{"vda1": layout.PartEFI, "vda2": layout.PartA, "vda3": layout.PartB, "vdb1": layout.PartEFI, "vdb2": layout.PartA, "vdc1": layout.PartEFI, "vdc2": layout.PartA},
		map[string][]byte{"vda": gpttest.Image(t, 512, layout.FactoryDiskGUID, fake), "vdb": gpttest.Image(t, 512, "", mine), "vdc": gpttest.Image(t, 512, layout.FactoryDiskGUID, fake)})
	got, err := findRoot(cmdline.Parse("berth.boot.part="+strings.ToLower(mine)), sys, dev, 0)
	if want := (layout.Boot{Medium: layout.MediumDisk, Root: dev + "/vdb2", Disk: "vdb", Slot: "a", BootPart: strings.ToLower(mine)}); err != nil || got != want {
		t.Errorf("findRoot = %+v, %v; want %+v", got, err, want)
	}
	for cl, want := range map[string]string{
		"berth.boot.part=" + mine + " berth.slot=b":            "the boot disk vdb has no GPT partition named BERTH_B (waited 100ms)",
		"berth.boot.part=" + fake:                              "the boot disk (berth.boot.part=" + fake + "): disks vda, vdc all have a partition with GUID " + fake + ": more than one disk holds it: they are copies of one disk",
		"berth.boot.part=00000000-1111-4222-8333-444444444444": "no disk has a partition with GUID 00000000-1111-4222-8333-444444444444: no such device (waited 100ms)",
	} {
		if _, err := findRoot(cmdline.Parse(cl), sys, dev, 100e6); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", cl, err, want)
		}
	}
}

// A root with a bad berth.verity is never mounted unverified.
func TestVerityOf(t *testing.T) {
	if vp, err := verityOf(cmdline.Parse("console=ttyS0")); vp != nil || err != nil {
		t.Errorf("no flag: %v, %v; want an unverified root", vp, err)
	}
	good := "300:" + strings.Repeat("ab", 32)
	if vp, err := verityOf(cmdline.Parse("berth.verity=" + good)); err != nil || vp == nil || vp.String() != good || verityValue(vp) != good {
		t.Errorf("berth.verity=%s: %v, %v", good, vp, err)
	}
	if vp, err := verityOf(cmdline.Parse("berth.verity=300:abc")); vp != nil || err == nil || !strings.Contains(err.Error(), "berth.verity=\"300:abc\": not <data blocks>:<sha256 root hash>: not mounting the root unverified") {
		t.Errorf("bad flag: %v, %v", vp, err)
	}
}
