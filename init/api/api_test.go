package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/internal/strictyaml"
)

type fakeHost struct {
	mu        sync.Mutex
	shutdown  []bool
	restarted []string
	lines     chan string
}

func (f *fakeHost) Version(context.Context) Version {
	return Version{Berth: "1.0", Kernel: "6.12.117-berth", Containerd: "v2.4.2", Runc: "1.5.2"}
}
func (f *fakeHost) Services() []Service {
	t := time.Unix(100, 0)
	return []Service{{Name: "udev", State: StateRunning, PID: 42, Started: &t}}
}
func (f *fakeHost) HasService(n string) bool { return n == "udev" }
func (f *fakeHost) LogTail(n string, k int) []string {
	all := []string{"a", "b", "c"}
	if k > 0 {
		return all[len(all)-k:]
	}
	return all
}
func (f *fakeHost) LogFollow(string) (<-chan string, func()) { return f.lines, func() {} }
func (f *fakeHost) RestartService(n string) error {
	if n != "udev" {
		return errkind.Mark(errkind.ErrNotFound, fmt.Errorf("no service %q", n))
	}
	f.mu.Lock()
	f.restarted = append(f.restarted, n)
	f.mu.Unlock()
	return nil
}
func (f *fakeHost) Shutdown(reboot bool) {
	f.mu.Lock()
	f.shutdown = append(f.shutdown, reboot)
	f.mu.Unlock()
}

func serve(t *testing.T, h Host) *Client {
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(sock)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", st.Mode().Perm())
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go Serve(ctx, l, h)
	return NewClient(sock)
}

func TestAPI(t *testing.T) {
	h := &fakeHost{lines: make(chan string, 1)}
	c := serve(t, h)
	ctx := context.Background()
	v, err := c.Version(ctx)
	if err != nil || v.Kernel != "6.12.117-berth" {
		t.Errorf("version %+v %v", v, err)
	}
	s, err := c.Services(ctx)
	if err != nil || len(s) != 1 || s[0].PID != 42 || s[0].State != "running" {
		t.Errorf("services %+v %v", s, err)
	}
	var buf bytes.Buffer
	if err := c.Logs(ctx, "udev", 2, false, &buf); err != nil || buf.String() != "b\nc\n" {
		t.Errorf("logs %q %v", buf.String(), err)
	}
	err = c.Logs(ctx, "nope", 0, false, &buf)
	if !errors.Is(err, errkind.ErrNotFound) || !strings.Contains(err.Error(), `no service "nope"`) {
		t.Errorf("unknown service: %v", err)
	}
	// Follow: a new line arrives after the tail.
	buf.Reset()
	fctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	h.lines <- "d"
	c.Logs(fctx, "udev", 1, true, &buf)
	cancel()
	if buf.String() != "c\nd\n" {
		t.Errorf("follow got %q", buf.String())
	}
	if err := c.RestartService(ctx, "udev"); err != nil || len(h.restarted) != 1 {
		t.Errorf("restart udev: %v; host restarted %v", err, h.restarted)
	}
	err = c.RestartService(ctx, "nope")
	if !errors.Is(err, errkind.ErrNotFound) || err.Error() != `no service "nope"` {
		t.Errorf("restart of an unknown service: %v", err)
	}
	if err := c.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Poweroff(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		h.mu.Lock()
		n := len(h.shutdown)
		h.mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// The server starts each shutdown after its answer, so the two calls
	// may come in either order: one reboot, one power-off.
	if len(h.shutdown) != 2 || h.shutdown[0] == h.shutdown[1] {
		t.Errorf("shutdown calls %v, want one reboot (true) and one power-off (false)", h.shutdown)
	}
}

func TestClientNoSocket(t *testing.T) {
	dir := t.TempDir()
	// A socket file nobody listens on, as PID 1 leaves it when it stops.
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	for _, tc := range []struct{ name, path, want string }{
		{"no socket", filepath.Join(dir, "absent.sock"), "host API at " + filepath.Join(dir, "absent.sock") + `: Get "http://berth/v1/services": dial unix ` + filepath.Join(dir, "absent.sock") + ": connect: no such file or directory (hostctl must run on a Berth host)"},
		{"nobody listens", stale, "connect: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewClient(tc.path).Services(context.Background())
			if !errors.Is(err, errkind.ErrUnavailable) || !strings.Contains(fmt.Sprint(err), tc.want) {
				t.Errorf("err = %v, want %q of kind unavailable", err, tc.want)
			}
		})
	}
}

// kindHost answers ConfigValue with an error of the kind its key names.
type kindHost struct{ fakeHost }

func (*kindHost) ConfigTree(bool) map[string]any { return nil }
func (*kindHost) ConfigValue(key string) (ConfigValue, error) {
	switch key {
	case "invalid":
		return ConfigValue{}, BadRequest(errors.New("invalid: unknown key"))
	case "strictyaml":
		return ConfigValue{}, strictyaml.Errors{{Source: "local config", Path: "berth.ssh.port", Msg: "expected 1 to 65535, got 70000"}}
	case "notfound":
		return ConfigValue{}, errkind.Mark(errkind.ErrNotFound, errors.New("notfound: not set"))
	case "invalid+notfound":
		return ConfigValue{}, BadRequest(errkind.Mark(errkind.ErrNotFound, errors.New("x: not set in the local config")))
	case "unavailable":
		return ConfigValue{}, errkind.Mark(errkind.ErrUnavailable, errors.New("no configuration yet"))
	}
	return ConfigValue{}, errors.New("write local config: disk full")
}
func (*kindHost) ConfigStatus() cloudconfig.Status { return cloudconfig.Status{} }
func (*kindHost) ConfigChange(ConfigChangeRequest) (ConfigChangeResult, error) {
	return ConfigChangeResult{}, nil
}

// TestErrorKinds checks that the host's error kinds reach the client
// through the HTTP status, with the host's message.
func TestErrorKinds(t *testing.T) {
	c := serve(t, &kindHost{})
	for _, tc := range []struct {
		key  string
		kind error // nil: none
		msg  string
	}{
		{"invalid", errkind.ErrInvalidConfig, "invalid: unknown key"},
		{"strictyaml", errkind.ErrInvalidConfig, "local config: berth.ssh.port: expected 1 to 65535, got 70000"},
		{"notfound", errkind.ErrNotFound, "notfound: not set"},
		{"invalid+notfound", errkind.ErrInvalidConfig, "x: not set in the local config"},
		{"unavailable", errkind.ErrUnavailable, "no configuration yet"},
		{"other", nil, "write local config: disk full"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			_, err := c.ConfigValue(context.Background(), tc.key)
			if err == nil || err.Error() != tc.msg {
				t.Fatalf("err = %v, want %q", err, tc.msg)
			}
			for _, k := range errkind.Kinds {
				if got, want := errors.Is(err, k.Err), k.Err == tc.kind; got != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v", k.Err, got, want)
				}
			}
		})
	}
}

// TestStatusKinds checks the client's reading of each status, also from
// a host of before 422 (400 for an invalid value) and without a JSON body.
func TestStatusKinds(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("key"))
		if code == http.StatusTeapot {
			w.WriteHeader(code)
			io.WriteString(w, "not JSON")
			return
		}
		writeJSON(w, code, Error{Error: "status " + strconv.Itoa(code)})
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c := NewClient(sock)
	for _, tc := range []struct {
		status int
		kind   error
		msg    string
	}{
		{400, errkind.ErrInvalidConfig, "status 400"},
		{404, errkind.ErrNotFound, "status 404"},
		{422, errkind.ErrInvalidConfig, "status 422"},
		{503, errkind.ErrUnavailable, "status 503"},
		{500, nil, "status 500"},
		{418, nil, "host API: GET /v1/config/value?key=418: 418 I'm a teapot"},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			_, err := c.ConfigValue(context.Background(), strconv.Itoa(tc.status))
			if err == nil || err.Error() != tc.msg {
				t.Fatalf("err = %v, want %q", err, tc.msg)
			}
			for _, k := range errkind.Kinds {
				if got, want := errors.Is(err, k.Err), k.Err == tc.kind; got != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v", k.Err, got, want)
				}
			}
		})
	}
}

// Only root's connections are served: a listener for another user closes
// root's connection (the test runs as root, so it plays the stranger by
// allowing only uid 4242).
func TestPeerCredentials(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(sock)); len(entries) != 1 {
		t.Errorf("Listen left %d entries beside the socket, want none", len(entries)-1)
	}
	if uid, err := peerUIDOf(t, sock); err != nil || uid != uint32(os.Getuid()) {
		t.Errorf("peer uid %d, %v; want %d", uid, err, os.Getuid())
	}
	l.(*peerListener).uid = 4242
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go Serve(ctx, l, &fakeHost{})
	if _, err := NewClient(sock).Version(context.Background()); err == nil {
		t.Error("a connection from a user the listener does not allow was served")
	}
}

// peerUIDOf connects to sock and reads the server side's view of the peer.
func peerUIDOf(t *testing.T, sock string) (uint32, error) {
	t.Helper()
	l, err := net.Listen("unix", sock+".2")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := net.Dial("unix", sock+".2")
		if err == nil {
			time.Sleep(100 * time.Millisecond)
			c.Close()
		}
	}()
	c, err := l.Accept()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return peerUID(c)
}

// A request body past 1 MiB is refused, not read into PID 1's memory.
func TestRequestBodyLimit(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go Serve(ctx, l, &kindHost{})
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	body := `{"op": "set", "key": "hostname", "value": "` + strings.Repeat("a", 2<<20) + `"}`
	resp, err := hc.Post("http://berth/v1/config/change", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "request body too large") {
		t.Errorf("a 2 MiB body: %d %s", resp.StatusCode, b)
	}
}
