package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/init/logbuf"
	"github.com/berth-os/berth/init/supervise"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/internal/layout"
	"golang.org/x/sys/unix"
)

// The host implements api.Host.
var _ api.Host = (*host)(nil)

func (h *host) Version(ctx context.Context) api.Version {
	v := api.Version{Berth: h.info.Versions.Berth, Containerd: h.info.Versions.Containerd, Runc: h.info.Versions.Runc}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		v.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if h.ctr != nil {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if cv, err := h.ctr.Client.Version(cctx); err == nil {
			v.Containerd = cv.Version
		}
		cancel()
	}
	// The reaper owns every wait of PID 1's children: exec.Cmd's Output
	// would race with it.
	if out, err := h.reaper.Output(exec.Command("/usr/bin/runc", "--version")); err == nil {
		if f := strings.Fields(strings.SplitN(string(out), "\n", 2)[0]); len(f) == 3 {
			v.Runc = f[2]
		}
	}
	if out, err := h.reaper.Output(exec.Command(layout.SystemRuntime, "--version")); err == nil {
		if f := strings.Fields(strings.SplitN(string(out), "\n", 2)[0]); len(f) == 3 {
			v.Crun = f[2]
		}
	}
	return v
}

// The host implements the service verbs too.
var _ api.ServiceHost = (*host)(nil)

// RestartService starts a system service again at once (hostctl service
// restart), with its backoff reset; one stopped by hand starts.
func (h *host) RestartService(name string) error {
	if h.sup == nil {
		return errkind.Mark(errkind.ErrUnavailable, errors.New("services are not started yet"))
	}
	if d, ok := h.sup.Detail(name); ok && d.Held {
		h.goSafe("start "+name, func() { h.startService(context.Background(), name) })
		return nil
	}
	err := h.sup.Restart(name)
	switch {
	case err == nil:
		h.logf("service %s: restart asked for by hostctl", name)
	case errors.Is(err, supervise.ErrUnknown):
		err = errkind.Mark(errkind.ErrNotFound, fmt.Errorf("no service %q", name))
	case errors.Is(err, supervise.ErrStopped):
		err = errkind.Mark(errkind.ErrUnavailable, err)
	}
	return err
}

// logSources are the captured outputs besides the services'.
var logSources = map[string]bool{"init": true, "containerd": true, "cloud-config": true}

func (h *host) HasService(name string) bool {
	if _, ok := findEntry(h.catalogue(), name); ok {
		return true
	}
	return logSources[name] || (h.sup != nil && h.sup.Has(name))
}

func (h *host) LogTail(name string, n int) []string {
	var out []string
	for _, l := range h.logs.Tail(name, n) {
		out = append(out, formatLine(l))
	}
	return out
}

func (h *host) LogFollow(name string) (<-chan string, func()) {
	ch, cancel := h.logs.Subscribe(name)
	out := make(chan string, 64)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case l := <-ch:
				select {
				case out <- formatLine(l):
				case <-done:
					return
				}
			case <-done:
				return
			}
		}
	}()
	return out, func() { cancel(); close(done) }
}

func formatLine(l logbuf.Line) string {
	return l.Time.UTC().Format("2006-01-02T15:04:05.000Z") + " " + l.Text
}
