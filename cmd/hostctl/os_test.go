package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/berth-os/berth/init/api"
)

type osHost struct {
	host
	os api.OS
}

func (h *osHost) OSStatus(context.Context) (api.OS, error) { return h.os, nil }

func (h *osHost) Rollback(_ context.Context, req api.RollbackRequest) (string, error) {
	if req.Tries < 1 || req.Tries > 3 {
		return "", api.BadRequest(fmt.Errorf("rollback: --tries %d: expected 1 to 3", req.Tries))
	}
	return fmt.Sprintf("slot b is tried at the next boot (%d tries)", req.Tries), nil
}

func TestOSStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		os   api.OS
		want string
	}{
		{"disk", api.OS{Version: "1.2", Medium: "disk", Disk: "vda", BootPart: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", Root: "/dev/vda2", Slot: "a", Verity: "300:ab",
			Slots: []api.Slot{{Name: "a", Partition: "/dev/vda2", State: api.SlotRunning}, {Name: "b", Partition: "/dev/vda3", State: api.SlotEmpty}},
			Boot:  &api.BootChain{Good: "a"}},
			`version         1.2
medium          disk (vda)
boot partition  0FC63DAF-8483-4772-8E79-3D69D8477DE4
root            /dev/vda2 (slot a)
verified        yes: dm-verity, berth.verity=300:ab
good slot       a
slot a          /dev/vda2  running
slot b          /dev/vda3  empty
`},
		{"a slot tried, another rejected", api.OS{Version: "1.3", Medium: "disk", Disk: "vda", Root: "/dev/vda3", Slot: "b", Verity: "300:ab",
			Slots: []api.Slot{{Name: "a", Partition: "/dev/vda2", State: api.SlotRoot}, {Name: "b", Partition: "/dev/vda3", State: api.SlotRunning}},
			Boot:  &api.BootChain{Good: "a", Trying: "b", TriesLeft: 2, Rejected: "b", Why: "service network is failed"}},
			`version    1.3
medium     disk (vda)
root       /dev/vda3 (slot b)
verified   yes: dm-verity, berth.verity=300:ab
good slot  a
trying     slot b (2 tries left)
rejected   slot b: service network is failed
slot a     /dev/vda2  holds a root
slot b     /dev/vda3  running
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

func TestOSRollback(t *testing.T) {
	sock := start(t, &osHost{})
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--socket", sock, "os", "rollback", "--tries", "1"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if out.String() != "slot b is tried at the next boot (1 tries)\n" {
		t.Errorf("hostctl os rollback: %q", out.String())
	}
	err := run(context.Background(), []string{"--socket", sock, "os", "rollback", "--tries", "7"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "--tries 7: expected 1 to 3") {
		t.Errorf("hostctl os rollback --tries 7: %v", err)
	}
}
