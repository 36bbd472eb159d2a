package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"time"
)

// More service states, besides the supervisor's: a service waiting out its
// backoff after a failure, one that ran to completion (a one-shot, or one
// whose restart policy let it end with status 0), and one that is defined
// but not supervised (not enabled, or not started yet).
const (
	StateBackoff   = "backoff"
	StateCompleted = "completed"
)

// Where a service comes from (Service.Source).
const (
	SourceBuiltin   = "built-in"  // the image's own, pre-extracted at build time
	SourceCatalogue = "catalogue" // the image's catalogue: pulled when enabled
	SourceUser      = "user"      // hostctl service enable FILE|URL
)

// ServiceStatus is hostctl service status: a service's state with its
// last exit and where its enablement comes from.
type ServiceStatus struct {
	Service
	// Held: stopped by hostctl service stop; nothing starts it again
	// before hostctl service start or a reboot.
	Held       bool       `json:"held,omitempty"`
	LastExit   *int       `json:"last_exit,omitempty"` // the last run's exit status
	LastExitAt *time.Time `json:"last_exit_at,omitempty"`
	LastError  string     `json:"last_error,omitempty"` // how the last run ended, when not by an exit status
}

// ServiceControl is what hostctl service start|stop|enable|disable asks.
type ServiceControl struct {
	// Now: enable or disable also starts or stops the service at once.
	Now bool `json:"now,omitempty"`
	// Force: stop or disable a service that refuses otherwise (the console).
	Force  bool `json:"force,omitempty"`
	DryRun bool `json:"dry_run,omitempty"`
}

// ServiceResult says what a service verb did.
type ServiceResult struct {
	Name string `json:"name"`
	// State after the verb: running, starting (not ready yet), stopped...
	State    string   `json:"state,omitempty"`
	Started  bool     `json:"started,omitempty"`
	Stopped  bool     `json:"stopped,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Config is the change to the local layer, for enable and disable.
	Config *ConfigChangeResult `json:"config,omitempty"`
}

// ServiceHost is the service-control part of the host API. Unknown
// services are errkind.ErrNotFound; a refusal (the console without
// force) is errkind.ErrInvalidConfig.
type ServiceHost interface {
	ServiceStatus(name string) (ServiceStatus, error)
	StartService(ctx context.Context, name string) (ServiceResult, error)
	StopService(ctx context.Context, name string, c ServiceControl) (ServiceResult, error)
	// EnableService changes berth.services in the local layer (enable
	// true: enable, false: disable); with c.Now it starts or stops too.
	EnableService(ctx context.Context, name string, enable bool, c ServiceControl) (ServiceResult, error)
}

// UserServiceHost is the user services' part of the host API: a host that
// has it serves POST /v1/services and DELETE /v1/services/NAME.
type UserServiceHost interface {
	// DefineServices is hostctl service enable FILE|URL: it validates the
	// Compose document, pulls every image, stores each service and
	// enables it; on any failure nothing changes.
	DefineServices(ctx context.Context, d ServiceDefinition) (DefineResult, error)
	// RemoveService deletes a disabled user service's definition.
	RemoveService(ctx context.Context, name string) error
}

// ServiceDefinition is what hostctl service enable FILE|URL sends.
type ServiceDefinition struct {
	// Origin is the file's path, as hostctl read it, or an http(s) URL
	// (URL#sha256=HEX pins its body) that PID 1 fetches.
	Origin string `json:"origin"`
	// Data is the file's content; empty for a URL.
	Data []byte `json:"data,omitempty"`
	ServiceControl
}

// DefineResult is what hostctl service enable FILE|URL did: one result
// for each service of the document, in its order.
type DefineResult struct {
	Services []ServiceResult `json:"services"`
}

func serviceRoutes(mux *http.ServeMux, h ServiceHost) {
	mux.HandleFunc("GET /v1/services/{name}", func(w http.ResponseWriter, r *http.Request) {
		st, err := h.ServiceStatus(r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	verb := func(do func(r *http.Request, name string, c ServiceControl) (ServiceResult, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var c ServiceControl
			if r.ContentLength != 0 {
				if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
					writeJSON(w, http.StatusBadRequest, Error{Error: "bad request: " + err.Error()})
					return
				}
			}
			res, err := do(r, r.PathValue("name"), c)
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, res)
		}
	}
	mux.HandleFunc("POST /v1/services/{name}/start", verb(func(r *http.Request, name string, _ ServiceControl) (ServiceResult, error) {
		return h.StartService(r.Context(), name)
	}))
	mux.HandleFunc("POST /v1/services/{name}/stop", verb(func(r *http.Request, name string, c ServiceControl) (ServiceResult, error) {
		return h.StopService(r.Context(), name, c)
	}))
	mux.HandleFunc("POST /v1/services/{name}/enable", verb(func(r *http.Request, name string, c ServiceControl) (ServiceResult, error) {
		return h.EnableService(r.Context(), name, true, c)
	}))
	mux.HandleFunc("POST /v1/services/{name}/disable", verb(func(r *http.Request, name string, c ServiceControl) (ServiceResult, error) {
		return h.EnableService(r.Context(), name, false, c)
	}))
	if uh, ok := h.(UserServiceHost); ok {
		mux.HandleFunc("POST /v1/services", func(w http.ResponseWriter, r *http.Request) {
			var d ServiceDefinition
			if err := json.NewDecoder(io.LimitReader(r.Body, maxDefinition)).Decode(&d); err != nil {
				writeJSON(w, http.StatusBadRequest, Error{Error: "bad request: " + err.Error()})
				return
			}
			res, err := uh.DefineServices(r.Context(), d)
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, res)
		})
		mux.HandleFunc("DELETE /v1/services/{name}", func(w http.ResponseWriter, r *http.Request) {
			if err := uh.RemoveService(r.Context(), r.PathValue("name")); err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, ServiceResult{Name: r.PathValue("name")})
		})
	}
}

// MaxDefinitionSize caps a user's Compose document, a file's or a URL's.
const MaxDefinitionSize = 1 << 20

// maxDefinition caps the request: the document, base64, and the rest.
const maxDefinition = 2*MaxDefinitionSize + 4096

// DefineServices sends a Compose document (or its URL) to enable.
func (c *Client) DefineServices(ctx context.Context, d ServiceDefinition) (DefineResult, error) {
	var res DefineResult
	err := c.do(ctx, http.MethodPost, "/v1/services", d, &res)
	return res, err
}

// RemoveService deletes a disabled user service's definition.
func (c *Client) RemoveService(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/services/"+url.PathEscape(name), nil, nil)
}

// ServiceStatus returns one service's status.
func (c *Client) ServiceStatus(ctx context.Context, name string) (ServiceStatus, error) {
	var s ServiceStatus
	err := c.do(ctx, http.MethodGet, "/v1/services/"+url.PathEscape(name), nil, &s)
	return s, err
}

// ServiceVerb asks for start, stop, enable or disable of a service.
func (c *Client) ServiceVerb(ctx context.Context, verb, name string, ctl ServiceControl) (ServiceResult, error) {
	var res ServiceResult
	err := c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(name)+"/"+verb, ctl, &res)
	return res, err
}
