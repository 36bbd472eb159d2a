package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	cloudconfig "github.com/berth-os/berth/cloud-config"
)

// ConfigChangeRequest is a change to the local configuration layer.
type ConfigChangeRequest struct {
	Op     string `json:"op"` // set, unset or merge
	Key    string `json:"key,omitempty"`
	Value  string `json:"value,omitempty"` // YAML, for set
	YAML   string `json:"yaml,omitempty"`  // a document, for merge
	DryRun bool   `json:"dry_run,omitempty"`
}

// ConfigChange is one key whose merged value changes.
type ConfigChange struct {
	Key    string `json:"key"`
	Before any    `json:"before,omitempty"`
	After  any    `json:"after,omitempty"`
	Effect string `json:"effect"` // e.g. "applies live", "restarts service console"
}

// ConfigChangeResult says what a change did, or would do with dry_run.
type ConfigChangeResult struct {
	Changes   []ConfigChange `json:"changes"`
	DryRun    bool           `json:"dry_run,omitempty"`
	Applied   []string       `json:"applied,omitempty"`   // keys applied live
	Restarted []string       `json:"restarted,omitempty"` // services restarted
	Reboot    []string       `json:"reboot,omitempty"`    // keys waiting for a reboot
	Stored    []string       `json:"stored,omitempty"`    // keys stored, not applied yet
	Errors    []string       `json:"errors,omitempty"`    // live application failures
	// Started and Stopped are services a change of berth.services started
	// or stopped; Warnings, what it asked that could not be (an unknown
	// service) or that deserves a second look.
	Started  []string `json:"started,omitempty"`
	Stopped  []string `json:"stopped,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// ConfigValue is a key's merged value and the layer it came from.
type ConfigValue struct {
	Key    string `json:"key"`
	Value  any    `json:"value"`
	Source string `json:"source"`
}

// ConfigHost is the configuration part of the host API.
type ConfigHost interface {
	ConfigTree(merged bool) map[string]any
	ConfigValue(key string) (ConfigValue, error)
	ConfigStatus() cloudconfig.Status
	ConfigChange(req ConfigChangeRequest) (ConfigChangeResult, error)
}

func configRoutes(mux *http.ServeMux, h ConfigHost) {
	mux.HandleFunc("GET /v1/config", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, h.ConfigTree(r.URL.Query().Get("merged") == "1"))
	})
	mux.HandleFunc("GET /v1/config/value", func(w http.ResponseWriter, r *http.Request) {
		v, err := h.ConfigValue(r.URL.Query().Get("key"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("GET /v1/config/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, h.ConfigStatus())
	})
	mux.HandleFunc("POST /v1/config/change", func(w http.ResponseWriter, r *http.Request) {
		var req ConfigChangeRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, Error{Error: "bad request: " + err.Error()})
			return
		}
		res, err := h.ConfigChange(req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// ConfigTree returns the local layer, or the merged configuration.
func (c *Client) ConfigTree(ctx context.Context, merged bool) (map[string]any, error) {
	var t map[string]any
	p := "/v1/config"
	if merged {
		p += "?merged=1"
	}
	err := c.do(ctx, http.MethodGet, p, nil, &t)
	return t, err
}

// ConfigValue returns a key's merged value and its source layer.
func (c *Client) ConfigValue(ctx context.Context, key string) (ConfigValue, error) {
	var v ConfigValue
	err := c.do(ctx, http.MethodGet, "/v1/config/value?key="+url.QueryEscape(key), nil, &v)
	return v, err
}

// ConfigStatus returns what the host made of its configuration sources.
func (c *Client) ConfigStatus(ctx context.Context) (cloudconfig.Status, error) {
	var s cloudconfig.Status
	err := c.do(ctx, http.MethodGet, "/v1/config/status", nil, &s)
	return s, err
}

// ConfigChange changes the local layer (or, with DryRun, says what would change).
func (c *Client) ConfigChange(ctx context.Context, req ConfigChangeRequest) (ConfigChangeResult, error) {
	var res ConfigChangeResult
	err := c.do(ctx, http.MethodPost, "/v1/config/change", req, &res)
	return res, err
}
