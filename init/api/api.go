// Package api is the host API that PID 1 serves on a root-only unix socket
// and hostctl uses: JSON over HTTP, one writer of host state (PID 1).
package api

import (
	"bufio"
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
	Error    string     `json:"error,omitempty"`
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
}

// Error is the body of a failed request.
type Error struct {
	Error string `json:"error"`
}

// ErrNotFound is returned for an unknown service.
var ErrNotFound = errors.New("not found")

// Client talks to the host API.
type Client struct {
	hc *http.Client
}

// NewClient connects to the socket at path (SocketPath when empty).
func NewClient(path string) *Client {
	if path == "" {
		path = SocketPath
	}
	return &Client{hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://berth"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("host API at %s: %w (hostctl must run as root on a Berth host)", SocketPath, err)
		}
		return fmt.Errorf("host API: %w", err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func checkStatus(resp *http.Response) error {
	if resp.StatusCode < 300 {
		return nil
	}
	var e Error
	json.NewDecoder(resp.Body).Decode(&e)
	if e.Error == "" {
		e.Error = resp.Status
	}
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s: %w", e.Error, ErrNotFound)
	}
	return errors.New(e.Error)
}

// Version asks the host what it runs.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	err := c.do(ctx, http.MethodGet, "/v1/version", &v)
	return v, err
}

// Services lists the system services in start order.
func (c *Client) Services(ctx context.Context) ([]Service, error) {
	var s []Service
	err := c.do(ctx, http.MethodGet, "/v1/services", &s)
	return s, err
}

// Logs writes a service's captured output to w: the last tail lines (0 for
// all kept), then, with follow, new lines until ctx ends.
func (c *Client) Logs(ctx context.Context, name string, tail int, follow bool, w io.Writer) error {
	q := url.Values{}
	q.Set("tail", strconv.Itoa(tail))
	if follow {
		q.Set("follow", "1")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://berth/v1/services/"+url.PathEscape(name)+"/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("host API: %w", err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return err
	}
	br := bufio.NewReader(resp.Body)
	_, err = io.Copy(w, br)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Reboot asks PID 1 to stop everything cleanly and reboot.
func (c *Client) Reboot(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/reboot", nil)
}

// Poweroff asks PID 1 to stop everything cleanly and power off.
func (c *Client) Poweroff(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/poweroff", nil)
}
