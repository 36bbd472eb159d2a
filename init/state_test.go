package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/init/cmdline"
	"github.com/berth-os/berth/internal/layout"
)

// The state partition of a disk boot is the boot disk's alone: another
// disk's BERTH_STATE, listed first, never takes over.
func TestFindStateOnBootDisk(t *testing.T) {
	sys, dev := fakeSysfs(t, map[string]string{"vda": "", "vda4": layout.PartState, "vdb": "", "vdb4": layout.PartState, "vdc": "", "vdc2": layout.PartA}), "/dev"
	for _, tc := range []struct {
		name  string
		flags string
		boot  layout.Boot
		want  string // "" for none
	}{
		{"boot disk", "", layout.Boot{Medium: layout.MediumDisk, Disk: "vdb"}, "/dev/vdb4"},
		{"boot disk without state", "", layout.Boot{Medium: layout.MediumDisk, Disk: "vdc"}, ""},
		{"ISO boot takes any disk's", "", layout.Boot{Medium: layout.MediumISO, Disk: "sr0"}, "/dev/vda4"},
		{"named on the command line, preferring the boot disk", "berth.state.dev=PARTLABEL=BERTH_STATE", layout.Boot{Medium: layout.MediumDisk, Disk: "vdb"}, "/dev/vdb4"},
		{"named on the command line", "berth.state.dev=vda4", layout.Boot{Medium: layout.MediumDisk, Disk: "vdb"}, "/dev/vda4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, ok, err := findState(sys, dev, stateFlagsOf(cmdline.Parse(tc.flags)), tc.boot)
			if err != nil || ok != (tc.want != "") || d.Dev != tc.want {
				t.Errorf("findState = %q, %v, %v; want %q", d.Dev, ok, err, tc.want)
			}
		})
	}
}

// fakeSysfs makes a sysfs of disks ("vda": "") and their partitions
// ("vda2": GPT name), as blockdev.List reads it.
func fakeSysfs(t *testing.T, devs map[string]string) string {
	t.Helper()
	sys := t.TempDir()
	os.MkdirAll(filepath.Join(sys, "class/block"), 0o755)
	for name, partname := range devs {
		disk := strings.TrimRight(name, "0123456789")
		dir, uevent := filepath.Join(sys, "devices/block", disk), "DEVTYPE=disk\n"
		if partname != "" {
			dir, uevent = filepath.Join(dir, name), "DEVTYPE=partition\nPARTNAME="+partname+"\n"
		}
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "uevent"), []byte(uevent), 0o644)
		if err := os.Symlink(dir, filepath.Join(sys, "class/block", name)); err != nil {
			t.Fatal(err)
		}
	}
	return sys
}
