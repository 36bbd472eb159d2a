package api

import (
	"context"
	"net/http"
	"net/url"
)

// Console is one console hostctl console list shows.
type Console struct {
	Name    string `json:"name"`    // default, ubuntu...
	Service string `json:"service"` // console, console-ubuntu...
	Image   string `json:"image"`   // built-in, or an OCI reference
	// Chosen: berth.console names it, so it starts at boot.
	Chosen bool `json:"chosen,omitempty"`
	// Running: it holds the logins now.
	Running bool `json:"running,omitempty"`
	// Persist are the folders of the state partition it sees, which
	// outlive a reboot and a switch.
	Persist []string `json:"persist,omitempty"`
}

// Consoles is hostctl console list: every console, and why the one
// running is not the one chosen, when it is not.
type Consoles struct {
	Consoles []Console `json:"consoles"`
	Reason   string    `json:"reason,omitempty"`
}

// ConsoleResult says what console switch or enable did.
type ConsoleResult struct {
	Name    string `json:"name"`
	Service string `json:"service"`
	// Switched: the console holds the logins now.
	Switched bool   `json:"switched,omitempty"`
	Pulled   string `json:"pulled,omitempty"` // the image pulled, if one was
	// Config is the change of berth.console in the local layer.
	Config *ConfigChangeResult `json:"config,omitempty"`
}

// ConsoleHost is the console part of the host API. An unknown console is
// errkind.ErrNotFound; an image that cannot be had, or a switch that
// failed (the old console serving still), is an error that says so.
type ConsoleHost interface {
	Consoles(ctx context.Context) (Consoles, error)
	// SwitchConsole pulls the console's image if needed, starts it, hands
	// it the logins and stops the old one, then sets berth.console.
	SwitchConsole(ctx context.Context, name string) (ConsoleResult, error)
	// EnableConsole pulls the console's image if needed and sets
	// berth.console: the console from the next boot.
	EnableConsole(ctx context.Context, name string) (ConsoleResult, error)
}

func consoleRoutes(mux *http.ServeMux, h ConsoleHost) {
	mux.HandleFunc("GET /v1/consoles", func(w http.ResponseWriter, r *http.Request) {
		c, err := h.Consoles(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, c)
	})
	verb := func(do func(ctx context.Context, name string) (ConsoleResult, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			// A switch goes on when the caller is gone: hostctl may run in
			// the console that the switch stops.
			res, err := do(context.WithoutCancel(r.Context()), r.PathValue("name"))
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, res)
		}
	}
	mux.HandleFunc("POST /v1/consoles/{name}/switch", verb(h.SwitchConsole))
	mux.HandleFunc("POST /v1/consoles/{name}/enable", verb(h.EnableConsole))
}

// Consoles lists the consoles.
func (c *Client) Consoles(ctx context.Context) (Consoles, error) {
	var out Consoles
	err := c.do(ctx, http.MethodGet, "/v1/consoles", nil, &out)
	return out, err
}

// ConsoleVerb asks for switch or enable of a console.
func (c *Client) ConsoleVerb(ctx context.Context, verb, name string) (ConsoleResult, error) {
	var res ConsoleResult
	err := c.do(ctx, http.MethodPost, "/v1/consoles/"+url.PathEscape(name)+"/"+verb, nil, &res)
	return res, err
}
