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
	sqfs := append([]byte("hsqs"), make([]byte, 8188)...)
	sys := fakeSysfs(t, map[string]string{"vda": "", "vda2": layout.PartA, "vda3": layout.PartB, "vdb": "", "vdb2": layout.PartA, "vdb3": layout.PartB})
	dev := t.TempDir()
	for name, data := range map[string][]byte{"vda": nil, "vda2": sqfs, "vda3": make([]byte, 8192), "vdb": nil, "vdb2": sqfs, "vdb3": sqfs} {
		os.WriteFile(filepath.Join(dev, name), data, 0o644)
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
