package supervise

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// Health is a service's healthcheck: exactly one of Exec (a command run
// inside the service's container, healthy when it exits 0), File (a path in
// the container that exists) and Socket (a unix socket in the container
// that accepts a connection). Zero durations and retries take Compose's
// defaults: every 30 s, 30 s to answer, no start period, 3 retries.
//
// A check runs every Interval from the service's start. A pass makes it
// healthy; Retries failures in a row make it unhealthy, except that during
// StartPeriod, before its first pass, failures do not count. An unhealthy
// service is restarted as if it had failed (with its backoff), unless its
// restart policy is "never": then it is only reported, and checked on.
type Health struct {
	Exec        []string
	File        string
	Socket      string
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
}

// HealthState is where a service with a healthcheck stands.
type HealthState string

// Health states; a service without a healthcheck has none ("").
const (
	HealthStarting  HealthState = "starting"
	HealthHealthy   HealthState = "healthy"
	HealthUnhealthy HealthState = "unhealthy"
)

// withDefaults fills in Compose's defaults.
func (h Health) withDefaults() Health {
	if h.Interval == 0 {
		h.Interval = 30 * time.Second
	}
	if h.Timeout == 0 {
		h.Timeout = 30 * time.Second
	}
	if h.Retries == 0 {
		h.Retries = 3
	}
	return h
}

// String names the check, for messages.
func (h Health) String() string {
	switch {
	case len(h.Exec) > 0:
		return "exec " + strings.Join(h.Exec, " ")
	case h.File != "":
		return "file " + h.File
	}
	return "socket " + h.Socket
}

// watchHealth checks a running service until ctx ends, keeping its health
// in its status; sick hears why it became unhealthy, when it is to be
// restarted for it.
func (s *Supervisor) watchHealth(ctx context.Context, st *svcState, t Task, sick chan<- string) {
	h := st.svc.Health.withDefaults()
	name := st.svc.Name
	start := time.Now()
	failures := 0
	timer := time.NewTimer(h.Interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		err := s.checkHealth(ctx, st, t, h)
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		switch {
		case err == nil:
			failures = 0
			if st.health != HealthHealthy {
				s.opt.Logf("service %s: healthy", name)
			}
			st.health, st.healthErr, st.wasHealthy = HealthHealthy, "", true
		case st.health == HealthStarting && time.Since(start) < h.StartPeriod:
			st.healthErr = err.Error()
		default:
			failures++
			st.healthErr = err.Error()
			if failures >= h.Retries && st.health != HealthUnhealthy {
				st.health = HealthUnhealthy
				restart := st.svc.Restart != "never"
				s.broadcast()
				s.mu.Unlock()
				s.opt.Alertf("service %s: unhealthy after %d failed checks: %v", name, failures, err)
				if restart {
					select {
					case sick <- fmt.Sprintf("unhealthy after %d failed checks: %v", failures, err):
					case <-ctx.Done():
					}
					return
				}
				timer.Reset(h.Interval)
				continue
			}
		}
		s.broadcast()
		s.mu.Unlock()
		timer.Reset(h.Interval)
	}
}

// checkHealth runs one check.
func (s *Supervisor) checkHealth(ctx context.Context, st *svcState, t Task, h Health) error {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	if len(h.Exec) > 0 {
		out := &cappedBuffer{max: 512}
		code, err := t.Exec(ctx, h.Exec, out)
		switch {
		case ctx.Err() == context.DeadlineExceeded:
			return fmt.Errorf("%s: no answer in %s", h, h.Timeout)
		case err != nil:
			return fmt.Errorf("%s: %w", h, err)
		case code != 0:
			msg := fmt.Sprintf("%s: exited with status %d", h, code)
			if o := strings.TrimSpace(out.String()); o != "" {
				msg += ": " + o
			}
			return errors.New(msg)
		}
		return nil
	}
	root := s.rootOf(st, t)
	path := h.File
	if path == "" {
		path = h.Socket
	}
	f, err := openInRoot(root, path)
	if err != nil {
		return fmt.Errorf("%s: %w", h, err)
	}
	defer f.Close()
	if h.File != "" {
		return nil
	}
	// The handle names the socket without its path (which may be longer
	// than a socket address holds, or be swapped for a symlink meanwhile).
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", "/proc/self/fd/"+strconv.Itoa(int(f.Fd())))
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			err = errno
		}
		return fmt.Errorf("%s: connect: %w", h, err)
	}
	c.Close()
	return nil
}

// openInRoot opens path as if root were /, symlinks and all, as a handle
// that only names the file (O_PATH): nothing is read, and a symlink
// swapped in after the path was resolved is not followed.
func openInRoot(root, path string) (*os.File, error) {
	p, err := securejoin.SecureJoin(root, path)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// rootOf is a running service's root as the host sees it: the root of its
// main process (ProcDir/PID/root, which shows what is mounted in the
// container too), or the spec's root when there is no such process.
func (s *Supervisor) rootOf(st *svcState, t Task) string {
	if pid := t.PID(); pid > 0 {
		p := filepath.Join(s.opt.ProcDir, strconv.Itoa(pid), "root")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if st.svc.Spec != nil && st.svc.Spec.Root != nil && st.svc.Spec.Root.Path != "" {
		return st.svc.Spec.Root.Path
	}
	return "/"
}

// cappedBuffer keeps the first max bytes written to it, from any number of
// goroutines (an exec's stdout and stderr).
type cappedBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := b.max - b.buf.Len(); n > 0 {
		b.buf.Write(p[:min(n, len(p))])
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
