package supervise

// Control by hand (hostctl service start|stop|status): a service stopped
// by hand stays stopped, through its restart policy and its backoff, until
// it is started by hand or the host reboots; what starts at boot is not
// this package's business.

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrHeld is the kind of error for a service stopped by hand that is asked
// to do what only a running one can.
var ErrHeld = errors.New("stopped by hand")

// errStopping: a service stopped by hand whose loop has not ended yet.
var errStopping = errors.New("still stopping")

// replaceable says whether a new supervision may take the place of st: only
// once st was stopped by hand and its loop has ended. The caller holds s.mu.
func (st *svcState) replaceable() error {
	if !st.held {
		return errors.New("already started")
	}
	select {
	case <-st.done:
		return nil
	default:
		return errStopping
	}
}

// exited records how a run ended, for Detail.
func (s *Supervisor) exited(st *svcState, e Exit) {
	now := s.opt.Clock.Now()
	s.set(st, func() { st.lastExit, st.exitAt = &e, now })
}

// Detail is one service's status with what hostctl service status adds.
type Detail struct {
	Status
	// Held: stopped by hand; the backoff does not start it again.
	Held       bool
	LastExit   *Exit     // how its last run ended; nil before the first end
	LastExitAt time.Time // when
}

// Detail returns one service's status; false when it is unknown.
func (s *Supervisor) Detail(name string) (Detail, bool) {
	for _, l := range s.List() {
		if l.Name != name {
			continue
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		st := s.svcs[name]
		d := Detail{Status: l, Held: st.held, LastExitAt: st.exitAt}
		if st.lastExit != nil {
			e := *st.lastExit
			d.LastExit = &e
		}
		return d, true
	}
	return Detail{}, false
}

// Stop stops a service and keeps it stopped until StartStopped (hostctl
// service start) or a reboot: neither its restart policy nor its backoff
// starts it again. It waits until the service has stopped, ctx's end or
// the stop's own bound (SIGTERM, SIGKILL after StopTimeout); a service
// already stopped by hand is no error.
func (s *Supervisor) Stop(ctx context.Context, name string) error {
	s.mu.Lock()
	st, ok := s.svcs[name]
	closing := s.closing
	if ok && !closing {
		st.held = true
	}
	s.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("service %s: %w", name, ErrUnknown)
	case closing:
		return fmt.Errorf("service %s: %w", name, ErrStopped)
	}
	st.requestStop()
	bound := time.NewTimer(2*s.opt.StopTimeout + 3*s.opt.CallTimeout)
	defer bound.Stop()
	select {
	case <-st.done:
		s.opt.Logf("service %s: stopped by hand", name)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("service %s: stop: %w", name, ctx.Err())
	case <-bound.C:
		return fmt.Errorf("service %s: stop: not stopped yet; it stays stopped once it is", name)
	}
}

// StartStopped starts a service stopped by hand again, with a fresh
// backoff, and waits as Launch does. An unknown service is ErrUnknown; one
// not stopped by hand is "already started" (Restart is for those).
func (s *Supervisor) StartStopped(ctx context.Context, name string) error {
	s.mu.Lock()
	st, ok := s.svcs[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("service %s: %w", name, ErrUnknown)
	}
	return s.Launch(ctx, st.svc)
}

// Launch starts supervising svc, a service not running yet or stopped by
// hand, and waits until it is ready, has failed, or ctx ends; after ctx's
// end it goes on starting in the background and the error is ctx's.
func (s *Supervisor) Launch(ctx context.Context, svc Service) error {
	wait := s.begin(context.Background(), svc)
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("service %s: %w", svc.Name, ctx.Err())
	}
}
