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
	"time"

	"github.com/berth-os/berth/internal/errkind"
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
		var lines <-chan string
		var cancel func()
		if follow {
			lines, cancel = h.LogFollow(name) // subscribe first: no line falls between
			defer cancel()
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, l := range h.LogTail(name, tail) {
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
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// Listen opens the root-only API socket at path.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Serve serves h on l until ctx ends.
func Serve(ctx context.Context, l net.Listener, h Host) error {
	srv := &http.Server{Handler: Handler(h), ReadHeaderTimeout: 10 * time.Second}
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
