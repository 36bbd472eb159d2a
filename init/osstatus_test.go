package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/layout"
)

// hostctl os status names the running slot, and tells an empty slot from
// one that holds a root; an ISO boot has no slots.
func TestOSStatus(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(sys, "class/block"), 0o755)
	sqfs := append([]byte("hsqs"), make([]byte, 8188)...)
	for name, c := range map[string]struct {
		part string
		data []byte
	}{
		"vda": {}, "vda2": {layout.PartA, sqfs}, "vda3": {layout.PartB, make([]byte, 8192)},
		"vdb": {}, "vdb2": {layout.PartA, sqfs}, "vdb3": {layout.PartB, sqfs},
	} {
		dir, uevent := filepath.Join(sys, "devices/block", name[:3]), "DEVTYPE=disk\n"
		if c.part != "" {
			dir, uevent = filepath.Join(dir, name), "DEVTYPE=partition\nPARTNAME="+c.part+"\n"
		}
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "uevent"), []byte(uevent), 0o644)
		os.Symlink(dir, filepath.Join(sys, "class/block", name))
		os.WriteFile(filepath.Join(dev, name), c.data, 0o644)
	}
	boot := layout.Boot{Medium: layout.MediumDisk, Disk: "vda", Root: dev + "/vda2", Slot: "a", Verity: "300:ab"}
	got := osStatus(sys, dev, "1.2", boot, "0FC63DAF-8483-4772-8E79-3D69D8477DE4")
	want := api.OS{Version: "1.2", Medium: "disk", Disk: "vda", BootPart: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", Root: dev + "/vda2", Slot: "a", Verity: "300:ab",
		Slots: []api.Slot{{Name: "a", Partition: dev + "/vda2", State: api.SlotRunning}, {Name: "b", Partition: dev + "/vda3", State: api.SlotEmpty}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("os status (-want +got):\n%s", d)
	}
	boot.Disk, boot.Root = "vdb", dev+"/vdb3"
	if got := osStatus(sys, dev, "1.2", boot, "").Slots; got[0].State != api.SlotRoot || got[1].State != api.SlotRunning {
		t.Errorf("slots of vdb: %+v; want a holding a root and b running", got)
	}
	iso := osStatus(sys, dev, "1.2", layout.Boot{Medium: layout.MediumISO, Disk: "sr0", Root: "/dev/sr0", Slot: "a"}, "")
	if iso.Slots != nil || iso.Medium != "iso" {
		t.Errorf("ISO boot: %+v", iso)
	}
}
