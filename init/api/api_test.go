package api

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeHost struct {
	mu       sync.Mutex
	shutdown []bool
	lines    chan string
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
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `no service "nope"`) {
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
	c := NewClient(filepath.Join(t.TempDir(), "absent.sock"))
	_, err := c.Services(context.Background())
	if err == nil || !strings.Contains(err.Error(), "host API") {
		t.Errorf("err = %v", err)
	}
}
