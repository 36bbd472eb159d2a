package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
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
	// Boot is the boot chain's state on a disk: which slot is good, which
	// is being tried, which was rejected; nil elsewhere.
	Boot *BootChain `json:"boot,omitempty"`
}

// BootChain is the disk's GRUB environment block as PID 1 reads it, and
// what PID 1 recorded of tried slots.
type BootChain struct {
	Good string `json:"good"` // the slot GRUB boots when nothing is tried
	// Trying is the slot GRUB boots while TriesLeft lasts ("" for none).
	Trying    string `json:"trying,omitempty"`
	TriesLeft int    `json:"tries_left,omitempty"`
	// Rejected is the last slot whose tries ran out, and Why what PID 1
	// saw of its last try (when it got that far).
	Rejected string `json:"rejected,omitempty"`
	Why      string `json:"why,omitempty"`
	// Error is why the environment block could not be read.
	Error string `json:"error,omitempty"`
}

// RollbackRequest is the body of POST /v1/os/rollback.
type RollbackRequest struct {
	// Tries is how many boots the other slot gets to prove itself (1 to 3).
	Tries int `json:"tries"`
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
	// Rollback has the boot disk's other slot tried at the next boots; it
	// says what it did.
	Rollback(ctx context.Context, req RollbackRequest) (string, error)
}

// OSResult is the answer to an os verb.
type OSResult struct {
	Message string `json:"message"`
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
	mux.HandleFunc("POST /v1/os/rollback", func(w http.ResponseWriter, r *http.Request) {
		var req RollbackRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
			writeError(w, BadRequest(errors.New("rollback: expected a JSON body with tries")))
			return
		}
		msg, err := h.Rollback(r.Context(), req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, OSResult{Message: msg})
	})
}

// Rollback asks the host to try its other slot at the next boots.
func (c *Client) Rollback(ctx context.Context, req RollbackRequest) (string, error) {
	var res OSResult
	err := c.do(ctx, http.MethodPost, "/v1/os/rollback", req, &res)
	return res.Message, err
}

// OSStatus asks how the host booted.
func (c *Client) OSStatus(ctx context.Context) (OS, error) {
	var s OS
	err := c.do(ctx, http.MethodGet, "/v1/os", nil, &s)
	return s, err
}
