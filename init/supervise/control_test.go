package supervise

import (
	"context"
	"errors"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A service stopped by hand stays stopped: no restart by its policy or its
// backoff, through several backoff periods. Started by hand it runs again
// with a new PID, its restart count kept; the last exit is recorded.
func TestStopKeepsStoppedUntilStarted(t *testing.T) {
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) {
		<-t.sig
		t.exited <- Exit{Code: 143}
	}}
	s := New(rt, testOptions(t))
	defer s.StopAll()
	svc := Service{Name: "net", Spec: &specs.Spec{Process: &specs.Process{}}, Restart: "always"}
	if err := s.Start(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	first := s.List()[0].PID
	if err := s.Stop(context.Background(), "net"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * testOptions(t).MaxBackoff) // several backoffs
	if n := len(rt.startTimes("net")); n != 1 {
		t.Errorf("%d starts while stopped by hand, want 1", n)
	}
	d, ok := s.Detail("net")
	if !ok || d.State != StateStopped || !d.Held || d.PID != 0 || d.LastExit == nil || d.LastExit.Code != 143 || d.LastExitAt.IsZero() {
		t.Errorf("detail after stop: %+v (ok %v), want stopped, held, last exit 143", d, ok)
	}
	if err := s.Restart("net"); !errors.Is(err, ErrStopped) {
		t.Errorf("restart of a service stopped by hand: %v", err)
	}
	if err := s.StartStopped(context.Background(), "net"); err != nil {
		t.Fatal(err)
	}
	d, _ = s.Detail("net")
	if d.State != StateRunning || d.Held || d.PID == 0 || d.PID == first || d.LastExit == nil {
		t.Errorf("detail after start: %+v, want running, not held, a new PID (was %d), the last exit kept", d, first)
	}
	if len(s.List()) != 1 {
		t.Errorf("list after a stop and a start: %+v, want the one service once", s.List())
	}
	if err := s.StartStopped(context.Background(), "net"); err == nil || err.Error() != "service net: already started" {
		t.Errorf("start of a running service: %v, want already started", err)
	}
	if err := s.Stop(context.Background(), "nope"); !errors.Is(err, ErrUnknown) || err.Error() != "service nope: unknown" {
		t.Errorf("stop of an unknown service: %v", err)
	}
	if _, ok := s.Detail("nope"); ok {
		t.Error("detail of an unknown service")
	}
}

// Launch starts a service the supervisor did not know (one not started at
// boot); after StopAll nothing starts or stops.
func TestLaunchAndShutdown(t *testing.T) {
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) { runUntilSignal(t) }}
	s := New(rt, testOptions(t))
	svc := Service{Name: "extra", Spec: &specs.Spec{Process: &specs.Process{}}}
	if err := s.Launch(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	if l := s.List(); len(l) != 1 || l[0].State != StateRunning {
		t.Fatalf("list after launch: %+v", l)
	}
	s.StopAll()
	if err := s.Launch(context.Background(), Service{Name: "late", Spec: &specs.Spec{Process: &specs.Process{}}}); !errors.Is(err, ErrStopped) {
		t.Errorf("launch after StopAll: %v, want %v", err, ErrStopped)
	}
	if err := s.StartStopped(context.Background(), "extra"); !errors.Is(err, ErrStopped) {
		t.Errorf("start after StopAll: %v, want %v", err, ErrStopped)
	}
	if err := s.Stop(context.Background(), "extra"); !errors.Is(err, ErrStopped) {
		t.Errorf("stop after StopAll: %v, want %v", err, ErrStopped)
	}
	if n := len(rt.startTimes("late")); n != 0 {
		t.Errorf("a service started during shutdown: %d starts", n)
	}
}

// Launch returns at ctx's end; the service goes on starting.
func TestLaunchWaitEndsWithContext(t *testing.T) {
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) { runUntilSignal(t) }}
	s := New(rt, testOptions(t))
	defer s.StopAll()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// Notify, and never ready: the wait is ctx's.
	err := s.Launch(ctx, Service{Name: "slow", Spec: &specs.Spec{Process: &specs.Process{}}, Notify: true})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("launch: %v, want the deadline", err)
	}
	if l := s.List(); len(l) != 1 || l[0].State != StateStarting || l[0].PID == 0 {
		t.Errorf("list: %+v, want slow starting with a process", l)
	}
}
