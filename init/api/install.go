package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// InstallRequest is the body of POST /v1/install: hostctl install.
type InstallRequest struct {
	Device string `json:"device"` // a whole disk, e.g. /dev/vdb
	// CloudConfig is written to the new disk's state partition, where its
	// first boot reads it; validated before anything is written.
	CloudConfig string `json:"cloud_config,omitempty"`
	Append      string `json:"append,omitempty"` // kernel arguments for the disk's entries
	Wipe        bool   `json:"wipe,omitempty"`
	DryRun      bool   `json:"dry_run,omitempty"`
}

// InstallResult is the outcome of an install: its plan, and whether it was
// written.
type InstallResult struct {
	Plan    string `json:"plan"`
	Written bool   `json:"written"`
}

// InstallHost installs the running system onto a disk.
type InstallHost interface {
	Install(ctx context.Context, req InstallRequest, progress io.Writer) (InstallResult, error)
}

// maxInstallRequest caps the request (its cloud-config mostly).
const maxInstallRequest = 1 << 20

func installRoutes(mux *http.ServeMux, h InstallHost) {
	mux.HandleFunc("POST /v1/install", func(w http.ResponseWriter, r *http.Request) {
		var req InstallRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, maxInstallRequest))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || req.Device == "" {
			writeError(w, BadRequest(errors.New("install: expected a JSON body with device")))
			return
		}
		stream(w, func(progress io.Writer) ImageEvent {
			res, err := h.Install(r.Context(), req, progress)
			if err != nil {
				return ImageEvent{Error: err.Error(), Status: statusOf(err)}
			}
			return ImageEvent{Install: &res}
		})
	})
}

// Install asks the host to install itself onto a disk, writing its
// progress lines to progress.
func (c *Client) Install(ctx context.Context, req InstallRequest, progress io.Writer) (InstallResult, error) {
	b, _ := json.Marshal(req)
	e, err := c.events(ctx, "/v1/install", "application/json", strings.NewReader(string(b)), progress)
	if err != nil {
		return InstallResult{}, err
	}
	if e.Install == nil {
		return InstallResult{}, errors.New("host API: POST /v1/install: the answer has no outcome")
	}
	return *e.Install, nil
}
