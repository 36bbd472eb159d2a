package main

import (
	"context"
	"os/exec"
	"strings"
	"time"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/init/logbuf"
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
	if out, err := exec.Command("/usr/bin/runc", "--version").Output(); err == nil {
		if f := strings.Fields(strings.SplitN(string(out), "\n", 2)[0]); len(f) == 3 {
			v.Runc = f[2]
		}
	}
	return v
}

func (h *host) Services() []api.Service {
	if h.sup == nil {
		return nil
	}
	var out []api.Service
	for _, s := range h.sup.List() {
		a := api.Service{Name: s.Name, State: string(s.State), PID: s.PID, Restarts: s.Restarts, Error: s.Error}
		if !s.Started.IsZero() {
			a.Started = &s.Started
		}
		out = append(out, a)
	}
	return out
}

// logSources are the captured outputs besides the services'.
var logSources = map[string]bool{"init": true, "containerd": true, "cloud-config": true}

func (h *host) HasService(name string) bool {
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
