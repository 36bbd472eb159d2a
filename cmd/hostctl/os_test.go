package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/berth-os/berth/init/api"
)

type osHost struct {
	host
	os api.OS
}

func (h *osHost) OSStatus(context.Context) (api.OS, error) { return h.os, nil }

func TestOSStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		os   api.OS
		want string
	}{
		{"disk", api.OS{Version: "1.2", Medium: "disk", Disk: "vda", BootPart: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", Root: "/dev/vda2", Slot: "a", Verity: "300:ab",
			Slots: []api.Slot{{Name: "a", Partition: "/dev/vda2", State: api.SlotRunning}, {Name: "b", Partition: "/dev/vda3", State: api.SlotEmpty}}},
			`version         1.2
medium          disk (vda)
boot partition  0FC63DAF-8483-4772-8E79-3D69D8477DE4
root            /dev/vda2 (slot a)
verified        yes: dm-verity, berth.verity=300:ab
slot a          /dev/vda2  running
slot b          /dev/vda3  empty
`},
		{"kernel booted by hand", api.OS{Version: "1.2", Medium: "iso", Disk: "sr0", Root: "/dev/sr0", Slot: "a"},
			`version   1.2
medium    iso (sr0)
root      /dev/sr0 (slot a)
verified  no: booted without berth.verity
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := start(t, &osHost{os: tc.os})
			for _, args := range [][]string{{"os"}, {"os", "status"}} {
				var out, errb bytes.Buffer
				if err := run(context.Background(), append([]string{"--socket", sock}, args...), &out, &errb); err != nil {
					t.Fatal(err)
				}
				if out.String() != tc.want {
					t.Errorf("hostctl %v:\n%s\nwant:\n%s", args, out.String(), tc.want)
				}
			}
		})
	}
}
