package main

import (
	"context"
	"errors"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/blockdev"
	"github.com/berth-os/berth/internal/layout"
)

// The host says how it booted.
var _ api.OSHost = (*host)(nil)

// OSStatus is hostctl os status: stage 1's record of this boot, and the
// boot disk's slots.
func (h *host) OSStatus(ctx context.Context) (api.OS, error) {
	bootPart := h.stage1.BootPart
	if bootPart == "" {
		bootPart = h.flags.Get(layout.FlagBootPart)
	}
	s := osStatus("/sys", "/dev", h.info.Versions.Berth, h.stage1, bootPart)
	if len(s.Slots) > 0 {
		var versions map[string]string
		s.Boot, versions = h.bootChain()
		for i, sl := range s.Slots {
			switch sl.State {
			case api.SlotRunning:
				s.Slots[i].Version = s.Version
			case api.SlotRoot:
				s.Slots[i].Version = versions[sl.Name]
			}
		}
		s.LastUpgrade = lastUpgrade(s.Boot)
	}
	return s, nil
}

func osStatus(sysfs, dev, version string, b layout.Boot, bootPart string) api.OS {
	s := api.OS{Version: version, Medium: b.Medium, Disk: b.Disk, BootPart: bootPart, Root: b.Root, Slot: b.Slot, Verity: b.Verity}
	if b.Medium != layout.MediumDisk || b.Disk == "" {
		return s
	}
	devs, _ := blockdev.List(sysfs, dev)
	for _, slot := range []string{"a", "b"} {
		st := api.Slot{Name: slot, State: api.SlotMissing}
		if d, ok := blockdev.OnDisk(devs, layout.SlotPart(slot), b.Disk); ok {
			st.Partition = d.Dev
			fs, err := blockdev.ProbeFile(d.Dev)
			switch {
			case d.Dev == b.Root:
				st.State = api.SlotRunning
			case errors.Is(err, blockdev.ErrNoFilesystem):
				st.State = api.SlotEmpty
			case err != nil:
				st.State = err.Error()
			case fs == "squashfs":
				st.State = api.SlotRoot
			default:
				st.State = "holds " + fs
			}
		}
		s.Slots = append(s.Slots, st)
	}
	return s
}
