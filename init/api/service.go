package api

import (
	"context"
	"encoding/json"
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
