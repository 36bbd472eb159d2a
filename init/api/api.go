// Package api is the host API that PID 1 serves on a root-only unix socket
// and hostctl uses: JSON over HTTP, one writer of host state (PID 1). A
// failed request's status carries the error's kind (errkind): 404 not
// found, 422 invalid configuration, 503 unavailable.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/internal/layout"
)

// SocketPath is where PID 1 listens. The socket is mode 0600, owned by root.
const SocketPath = layout.APISocket

// Service states, as hostctl service list shows them.
const (
	StateStarting   = "starting"
	StateRunning    = "running"
	StateRestarting = "restarting"
	StateStopped    = "stopped"
	StateFailed     = "failed"
)

// Service is one system service's status.
type Service struct {
	Name     string     `json:"name"`
	State    string     `json:"state"`
	PID      int        `json:"pid"`
	Started  *time.Time `json:"started,omitempty"`
	Restarts int        `json:"restarts"`
	// NextRetry is when a service that keeps failing starts again (state
	// restarting); hostctl service restart starts it at once.
	NextRetry *time.Time `json:"next_retry,omitempty"`
	Error     string     `json:"error,omitempty"`
	// Source is where the service is defined: built-in, catalogue or user.
	Source string `json:"source,omitempty"`
	// Origin is where a user's definition came from: the file's path or
	// the URL given to hostctl service enable.
	Origin string `json:"origin,omitempty"`
	// Image is what it runs: built-in for the image's pre-extracted
	// rootfs, else an OCI reference.
	Image string `json:"image,omitempty"`
	// Enabled: it starts at boot. EnabledBy says which configuration
	// decided it: image default, cloud-config, local config or kernel
	// command line.
	Enabled   bool   `json:"enabled"`
	EnabledBy string `json:"enabled_by,omitempty"`
	// Health is the service's health check's verdict (starting, healthy,
	// unhealthy), "" for a service without one; HealthError is its last
	// failed check, until one passes.
	Health      string `json:"health,omitempty"`
	HealthError string `json:"health_error,omitempty"`
	// WaitingOn names what a waiting or blocked service waits for.
	WaitingOn string `json:"waiting_on,omitempty"`
}

// Uptime is how long the service has been up, 0 when it is not running.
func (s Service) Uptime(now time.Time) time.Duration {
	if s.Started == nil || s.State != StateRunning {
		return 0
	}
	return now.Sub(*s.Started)
}

// Version says what the host runs.
type Version struct {
	Berth      string `json:"berth"`
	Kernel     string `json:"kernel"`
	Containerd string `json:"containerd"`
	Runc       string `json:"runc"`
	// Crun is the system services' runtime.
	Crun string `json:"crun,omitempty"`
}

// Client talks to the host API. Its errors are of the kind the host
// answered (errkind.ErrNotFound for an unknown service, ...), or
// errkind.ErrUnavailable when nobody answers on the socket.
type Client struct {
	hc   *http.Client
	path string
}

// NewClient connects to the socket at path (SocketPath when empty).
func NewClient(path string) *Client {
	if path == "" {
		path = SocketPath
	}
	return &Client{path: path, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// send makes a request (with a JSON body unless body is nil) and returns
// the response when it succeeded; the caller closes its body.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	return c.sendType(ctx, method, path, "application/json", body)
}

// sendType is send with a body of another content type.
func (c *Client) sendType(ctx context.Context, method, path, ctype string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://berth"+path, body)
	if err != nil {
		return nil, fmt.Errorf("host API: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		err = fmt.Errorf("host API at %s: %w", c.path, err)
		switch {
		case ctx.Err() != nil:
			return nil, err
		case errors.Is(err, os.ErrPermission):
			return nil, fmt.Errorf("%w (hostctl must run as root)", err)
		case errors.Is(err, os.ErrNotExist):
			err = fmt.Errorf("%w (hostctl must run on a Berth host)", err)
		}
		return nil, errkind.Mark(errkind.ErrUnavailable, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e Error
		if json.NewDecoder(resp.Body).Decode(&e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("host API: %s %s: %s", method, path, resp.Status)
		}
		return nil, &remoteError{msg: e.Error, kind: kindOf(resp.StatusCode)}
	}
	return resp, nil
}

// do makes a request and decodes the JSON answer into out, unless out is nil.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("host API: %s %s: %w", method, path, err)
		}
		r = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("host API: %s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

// Version asks the host what it runs.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	err := c.do(ctx, http.MethodGet, "/v1/version", nil, &v)
	return v, err
}

// Services lists the system services in start order.
func (c *Client) Services(ctx context.Context) ([]Service, error) {
	var s []Service
	err := c.do(ctx, http.MethodGet, "/v1/services", nil, &s)
	return s, err
}

// RestartService starts a system service again at once, with its backoff
// reset: a running one is stopped first, one that keeps failing or has
// stopped is started now. It returns once PID 1 has taken the request;
// Services shows the outcome.
func (c *Client) RestartService(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(name)+"/restart", nil, nil)
}

// Logs writes a service's captured output to w: the last tail lines (0 for
// all kept), then, with follow, new lines until ctx ends.
func (c *Client) Logs(ctx context.Context, name string, tail int, follow bool, w io.Writer) error {
	return c.LogsSince(ctx, name, tail, follow, time.Time{}, w)
}

// LogsSince is Logs of the lines at or after since (zero: all kept).
func (c *Client) LogsSince(ctx context.Context, name string, tail int, follow bool, since time.Time, w io.Writer) error {
	q := url.Values{}
	q.Set("tail", strconv.Itoa(tail))
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339Nano))
	}
	if follow {
		q.Set("follow", "1")
	}
	resp, err := c.send(ctx, http.MethodGet, "/v1/services/"+url.PathEscape(name)+"/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("host API: logs of %s: %w", name, err)
	}
	return nil
}

// Reboot asks PID 1 to stop everything cleanly and reboot.
func (c *Client) Reboot(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/reboot", nil, nil)
}

// Poweroff asks PID 1 to stop everything cleanly and power off.
func (c *Client) Poweroff(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/poweroff", nil, nil)
}
