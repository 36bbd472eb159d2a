package api

import (
	"context"
	"net/http"
)

// OS is hostctl os status: what booted, from where, and whether its root
// is verified.
type OS struct {
	Version string `json:"version"` // Berth's
	Medium  string `json:"medium"`  // disk, iso or net
	Disk    string `json:"disk,omitempty"`
	// BootPart is the GUID of the partition the bootloader came from
	// (berth.boot.part); "" when it named none.
	BootPart string `json:"boot_part,omitempty"`
	Root     string `json:"root"` // the device (or URL) of the root
	Slot     string `json:"slot"`
	// Verity is berth.verity as the root was opened; "" when unverified.
	Verity string `json:"verity,omitempty"`
	// Slots are the boot disk's root slots; none for an ISO or network boot.
	Slots []Slot `json:"slots,omitempty"`
}

// Slot is one root slot of the boot disk.
type Slot struct {
	Name      string `json:"name"`      // a, b
	Partition string `json:"partition"` // /dev/vda2; "" when the disk has none
	// State is running, empty (no filesystem), holds a root (a squashfs
	// that is not running), or what else the partition holds.
	State string `json:"state"`
}

// Slot states.
const (
	SlotRunning = "running"
	SlotEmpty   = "empty"
	SlotRoot    = "holds a root"
	SlotMissing = "no partition"
)

// OSHost is the operating system part of the host API.
type OSHost interface {
	OSStatus(ctx context.Context) (OS, error)
}

func osRoutes(mux *http.ServeMux, h OSHost) {
	mux.HandleFunc("GET /v1/os", func(w http.ResponseWriter, r *http.Request) {
		s, err := h.OSStatus(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, s)
	})
}

// OSStatus asks how the host booted.
func (c *Client) OSStatus(ctx context.Context) (OS, error) {
	var s OS
	err := c.do(ctx, http.MethodGet, "/v1/os", nil, &s)
	return s, err
}
