package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
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
	// LastUpgrade is the last hostctl os upgrade, and its result; nil
	// when there was none.
	LastUpgrade *Upgrade `json:"last_upgrade,omitempty"`
}

// Upgrade is one hostctl os upgrade, as the host recorded it.
type Upgrade struct {
	From string    `json:"from"` // the version that ran it
	To   string    `json:"to"`   // the bundle's version
	Slot string    `json:"slot"` // the slot written
	At   time.Time `json:"at"`
	// Result is incomplete (cut short by an error or a power cut: its
	// slot boots nothing), staged (written, not tried), trying, kept (its
	// slot is the good one), rejected, or replaced (the slot was written
	// since).
	Result string `json:"result,omitempty"`
}

// Upgrade results.
const (
	UpgradeIncomplete = "incomplete"
	UpgradeStaged     = "staged"
	UpgradeTrying     = "trying"
	UpgradeKept       = "kept"
	UpgradeRejected   = "rejected"
)

// UpgradeRequest is the query of POST /v1/os/upgrade, whose body is the
// bundle.
type UpgradeRequest struct {
	// Stage writes the slot without having it tried: hostctl os upgrade
	// --activate (a rollback to it) does that later.
	Stage bool
	// Tries is how many boots the slot gets to become healthy (1 to 3;
	// 0 means 3).
	Tries int
	// Ref, when given, names the bundle in a registry (an OCI artifact
	// that berth push made): the host pulls it, and the body is empty.
	Ref string
}

// UpgradeResult is what an upgrade did.
type UpgradeResult struct {
	Upgrade
	Message string `json:"message"`
}

// upgradePath takes a bundle of any size, streamed onto the disk.
const upgradePath = "/v1/os/upgrade"

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
	// Version is the OS version the slot holds, as its version file on
	// the EFI partition says; "" when unknown.
	Version string `json:"version,omitempty"`
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
	// Upgrade writes the signed bundle read from body into the boot
	// disk's other slot, writing its progress lines to progress.
	Upgrade(ctx context.Context, req UpgradeRequest, body io.Reader, progress io.Writer) (UpgradeResult, error)
	// Versions lists the tags of a repository of bundles (hostctl os
	// list).
	Versions(ctx context.Context, repo string) ([]string, error)
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
	mux.HandleFunc("POST "+upgradePath, func(w http.ResponseWriter, r *http.Request) {
		req := UpgradeRequest{Stage: r.URL.Query().Get("stage") == "true", Ref: r.URL.Query().Get("ref")}
		if t := r.URL.Query().Get("tries"); t != "" {
			n, err := strconv.Atoi(t)
			if err != nil {
				writeError(w, BadRequest(fmt.Errorf("upgrade: tries %q: expected a number", t)))
				return
			}
			req.Tries = n
		}
		// The bundle is read while progress lines are written, and takes
		// longer than the server's read timeout.
		rc := http.NewResponseController(w)
		rc.SetReadDeadline(time.Time{})
		rc.EnableFullDuplex()
		stream(w, func(progress io.Writer) ImageEvent {
			res, err := h.Upgrade(r.Context(), req, r.Body, progress)
			if err != nil {
				return ImageEvent{Error: err.Error(), Status: statusOf(err)}
			}
			return ImageEvent{Upgrade: &res}
		})
	})
	mux.HandleFunc("GET /v1/os/versions", func(w http.ResponseWriter, r *http.Request) {
		repo := r.URL.Query().Get("repo")
		if repo == "" {
			writeError(w, BadRequest(errors.New("versions: expected ?repo=REPOSITORY")))
			return
		}
		v, err := h.Versions(r.Context(), repo)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
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

// Upgrade sends the bundle read from r to the host, which writes it into
// its other slot; progress gets its progress lines.
func (c *Client) Upgrade(ctx context.Context, req UpgradeRequest, r io.Reader, progress io.Writer) (UpgradeResult, error) {
	q := url.Values{}
	if req.Stage {
		q.Set("stage", "true")
	}
	if req.Tries != 0 {
		q.Set("tries", strconv.Itoa(req.Tries))
	}
	if req.Ref != "" {
		q.Set("ref", req.Ref)
		r = strings.NewReader("")
	}
	path := upgradePath
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	e, err := c.events(ctx, path, "application/x-tar", r, progress)
	if err != nil {
		return UpgradeResult{}, err
	}
	if e.Upgrade == nil {
		return UpgradeResult{}, errors.New("host API: POST " + upgradePath + ": the answer has no outcome")
	}
	return *e.Upgrade, nil
}

// Versions asks the host for the tags of a repository of bundles.
func (c *Client) Versions(ctx context.Context, repo string) ([]string, error) {
	var v []string
	err := c.do(ctx, http.MethodGet, "/v1/os/versions?"+url.Values{"repo": {repo}}.Encode(), nil, &v)
	return v, err
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
