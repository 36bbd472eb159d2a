package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/internal/layout"
)

// Rollback is for a disk's slots, with 1 to 3 tries; anything else is
// refused before the disk is looked at.
func TestRollbackRefuses(t *testing.T) {
	for _, tc := range []struct {
		boot  layout.Boot
		tries int
		want  string
	}{
		{layout.Boot{Medium: layout.MediumISO, Disk: "sr0"}, 0, "did not boot from a Berth disk"},
		{layout.Boot{Medium: layout.MediumNet}, 2, "did not boot from a Berth disk"},
		{layout.Boot{Medium: layout.MediumDisk, Disk: "vda", Slot: "a"}, 4, "--tries 4: expected 1 to 3"},
		{layout.Boot{Medium: layout.MediumDisk, Disk: "vda", Slot: "a"}, -1, "--tries -1: expected 1 to 3"},
	} {
		h := &host{stage1: tc.boot}
		_, err := h.Rollback(context.Background(), api.RollbackRequest{Tries: tc.tries})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errkind.ErrInvalidConfig) {
			t.Errorf("rollback (%s, %d tries): %v; want %q", tc.boot.Medium, tc.tries, err, tc.want)
		}
	}
}
