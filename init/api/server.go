package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-os/berth/internal/errkind"
	"golang.org/x/sys/unix"
)

// Host is what PID 1 exposes through the API.
type Host interface {
	Version(ctx context.Context) Version
	Services() []Service
	HasService(name string) bool
	// LogTail returns the last n lines of a service's output (all when n <= 0).
	LogTail(name string, n int) []string
	// LogFollow streams new lines until cancel is called.
	LogFollow(name string) (lines <-chan string, cancel func())
	// RestartService starts a service again at once with a fresh backoff
	// and returns without waiting; an unknown service is errkind.ErrNotFound.
	RestartService(name string) error
	// Shutdown starts a clean reboot or power-off and returns at once.
	Shutdown(reboot bool)
}

// Handler serves the API for h.
func Handler(h Host) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, h.Version(r.Context()))
	})
	mux.HandleFunc("GET /v1/services", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, h.Services())
	})
	mux.HandleFunc("GET /v1/services/{name}/logs", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if !h.HasService(name) {
			writeError(w, errkind.Mark(errkind.ErrNotFound, fmt.Errorf("no service %q", name)))
			return
		}
		tail, _ := strconv.Atoi(r.URL.Query().Get("tail"))
		follow := r.URL.Query().Get("follow") == "1"
		var since time.Time
		if v := r.URL.Query().Get("since"); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				writeError(w, BadRequest(fmt.Errorf("since: expected an RFC 3339 time, got %q", v)))
				return
			}
			since = t
		}
		var lines <-chan string
		var cancel func()
		if follow {
			lines, cancel = h.LogFollow(name) // subscribe first: no line falls between
			defer cancel()
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, l := range LinesSince(h.LogTail(name, sinceTail(tail, since)), since, tail) {
			fmt.Fprintln(w, l)
		}
		if !follow {
			return
		}
		fl, _ := w.(http.Flusher)
		if fl != nil {
			fl.Flush()
		}
		for {
			select {
			case <-r.Context().Done():
				return
			case l := <-lines:
				fmt.Fprintln(w, l)
				if fl != nil {
					fl.Flush()
				}
			}
		}
	})
	mux.HandleFunc("POST /v1/services/{name}/restart", func(w http.ResponseWriter, r *http.Request) {
		if err := h.RestartService(r.PathValue("name")); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]bool{"ok": true})
	})
	power := func(reboot bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusAccepted, map[string]bool{"ok": true})
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			h.Shutdown(reboot)
		}
	}
	mux.HandleFunc("POST /v1/reboot", power(true))
	mux.HandleFunc("POST /v1/poweroff", power(false))
	if ch, ok := h.(ConfigHost); ok {
		configRoutes(mux, ch)
	}
	if sh, ok := h.(ServiceHost); ok {
		serviceRoutes(mux, sh)
	}
	if ih, ok := h.(ImageHost); ok {
		imageRoutes(mux, ih)
	}
	if ch, ok := h.(ConsoleHost); ok {
		consoleRoutes(mux, ch)
	}
	if oh, ok := h.(OSHost); ok {
		osRoutes(mux, oh)
	}
	if ih, ok := h.(InstallHost); ok {
		installRoutes(mux, ih)
	}
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// Listen opens the root-only API socket at path. The socket never exists
// with a laxer mode, not even between bind and chmod: it is made in a
// private folder (0700), set to 0600 there, then renamed into place.
// Connections from any user but root are closed at once (SO_PEERCRED).
func Listen(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	priv, err := os.MkdirTemp(dir, ".api-")
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	defer os.RemoveAll(priv)
	tmp := filepath.Join(priv, "sock")
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	return &peerListener{Listener: l, uid: 0}, nil
}

// peerListener accepts connections from one user only, by the kernel's
// word for who is at the other end (SO_PEERCRED).
type peerListener struct {
	net.Listener
	uid uint32
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if uid, err := peerUID(c); err == nil && uid == l.uid {
			return c, nil
		}
		c.Close()
	}
}

// peerUID is the user id of the process at the other end of a unix socket.
func peerUID(c net.Conn) (uint32, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, fmt.Errorf("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return cred.Uid, nil
}

// MaxRequest bounds a request body (a config change is a few hundred bytes).
const MaxRequest = 1 << 20

// limitBodies bounds every request body to MaxRequest but an image
// import's, a tarball that is streamed into containerd, and an upgrade's,
// a bundle streamed onto the disk.
func limitBodies(h http.Handler) http.Handler {
	limited := http.MaxBytesHandler(h, MaxRequest)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && (r.URL.Path == importPath || r.URL.Path == upgradePath) {
			h.ServeHTTP(w, r)
			return
		}
		limited.ServeHTTP(w, r)
	})
}

// Serve serves h on l until ctx ends.
func Serve(ctx context.Context, l net.Listener, h Host) error {
	// No WriteTimeout: hostctl logs -f streams for as long as it likes.
	srv := &http.Server{
		Handler:           limitBodies(Handler(h)),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	err := srv.Serve(l)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// sinceTail is how many lines to ask the log for: all of them when a time
// bounds them first.
func sinceTail(tail int, since time.Time) int {
	if since.IsZero() {
		return tail
	}
	return 0
}

// LinesSince keeps the lines (each "TIME text", as LogTail gives them) at
// or after since, then the last tail of them (all when tail <= 0).
func LinesSince(lines []string, since time.Time, tail int) []string {
	if since.IsZero() {
		return lines
	}
	var out []string
	for _, l := range lines {
		ts, _, _ := strings.Cut(l, " ")
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil && t.Before(since) {
			continue
		}
		out = append(out, l)
	}
	if tail > 0 && len(out) > tail {
		out = out[len(out)-tail:]
	}
	return out
}
