package supervise

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeRuntime runs "containers" as goroutines whose behaviour the test picks.
type fakeRuntime struct {
	mu       sync.Mutex
	starts   map[string][]time.Time
	signals  []string
	behave   func(name string, n int, t *fakeTask)
	startErr func(name string) error
	nextPID  int
}

type fakeTask struct {
	name   string
	pid    int
	exited chan Exit
	sig    chan syscall.Signal
	spec   *specs.Spec
	rt     *fakeRuntime
}

func (t *fakeTask) PID() int                     { return t.pid }
func (t *fakeTask) Exited() <-chan Exit          { return t.exited }
func (t *fakeTask) Delete(context.Context) error { return nil }
func (t *fakeTask) Signal(_ context.Context, s syscall.Signal) error {
	t.rt.mu.Lock()
	t.rt.signals = append(t.rt.signals, t.name+":"+s.String())
	t.rt.mu.Unlock()
	select {
	case t.sig <- s:
	default:
	}
	return nil
}

// ready sends READY=1 the way a service in the container would.
func (t *fakeTask) ready() error {
	for _, m := range t.spec.Mounts {
		if m.Destination == "/run/notify" {
			c, err := net.Dial("unixgram", filepath.Join(m.Source, "notify.sock"))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte("READY=1\nSTATUS=up"))
			return err
		}
	}
	return errors.New("no notify mount")
}

func (r *fakeRuntime) Start(_ context.Context, name string, spec *specs.Spec, _, _ io.Writer) (Task, error) {
	r.mu.Lock()
	if r.starts == nil {
		r.starts = map[string][]time.Time{}
	}
	r.starts[name] = append(r.starts[name], time.Now())
	n := len(r.starts[name])
	r.nextPID++
	pid := r.nextPID
	r.mu.Unlock()
	if r.startErr != nil {
		if err := r.startErr(name); err != nil {
			return nil, err
		}
	}
	t := &fakeTask{name: name, pid: pid, exited: make(chan Exit, 1), sig: make(chan syscall.Signal, 4), spec: spec, rt: r}
	go r.behave(name, n, t)
	return t, nil
}

// runUntilSignal is a well-behaved service.
func runUntilSignal(t *fakeTask) {
	<-t.sig
	t.exited <- Exit{Code: 0}
}

func testOptions(t *testing.T) Options {
	return Options{NotifyDir: t.TempDir(), ReadyTimeout: 5 * time.Second, MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 80 * time.Millisecond, StableAfter: time.Hour, MaxFailures: 5, StopTimeout: time.Second}
}

func TestStartOrderReadyAndStop(t *testing.T) {
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) {
		if name == "net" {
			if err := t.ready(); err != nil {
				panic(err)
			}
		}
		runUntilSignal(t)
	}}
	s := New(rt, testOptions(t))
	ctx := context.Background()
	if err := s.Start(ctx, Service{Name: "udev", Spec: &specs.Spec{Process: &specs.Process{}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, Service{Name: "net", Spec: &specs.Spec{Process: &specs.Process{}}, Notify: true, Env: []string{"A=1"}}); err != nil {
		t.Fatal(err)
	}
	list := s.List()
	var got []string
	for _, l := range list {
		got = append(got, l.Name+"="+string(l.State))
		if l.PID == 0 || l.Started.IsZero() {
			t.Errorf("%s: pid %d started %v", l.Name, l.PID, l.Started)
		}
	}
	if diff := cmp.Diff([]string{"udev=running", "net=running"}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	s.StopAll()
	if diff := cmp.Diff([]string{"net:terminated", "udev:terminated"}, rt.signals); diff != "" {
		t.Errorf("stop order (-want +got)\n%s", diff)
	}
	for _, l := range s.List() {
		if l.State != StateStopped {
			t.Errorf("%s after stop: %s", l.Name, l.State)
		}
	}
}

func TestNotifyEnvAndMountAdded(t *testing.T) {
	var seen *specs.Spec
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) {
		seen = t.spec
		t.ready()
		runUntilSignal(t)
	}}
	s := New(rt, testOptions(t))
	orig := &specs.Spec{Process: &specs.Process{Env: []string{"PATH=/bin"}}}
	if err := s.Start(context.Background(), Service{Name: "x", Spec: orig, Notify: true, Env: []string{"BERTH_AUTOLOGIN=all"}}); err != nil {
		t.Fatal(err)
	}
	defer s.StopAll()
	want := []string{"PATH=/bin", "BERTH_AUTOLOGIN=all", "NOTIFY_SOCKET=/run/notify/notify.sock"}
	if diff := cmp.Diff(want, seen.Process.Env); diff != "" {
		t.Errorf("env (-want +got)\n%s", diff)
	}
	if len(orig.Process.Env) != 1 || len(orig.Mounts) != 0 {
		t.Error("the service's own spec was modified")
	}
}

func TestNotReadyTimesOut(t *testing.T) {
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) { runUntilSignal(t) }}
	opt := testOptions(t)
	opt.ReadyTimeout = 100 * time.Millisecond
	s := New(rt, opt)
	err := s.Start(context.Background(), Service{Name: "slow", Spec: &specs.Spec{Process: &specs.Process{}}, Notify: true})
	if err == nil || !strings.Contains(err.Error(), "not ready after") {
		t.Errorf("err = %v", err)
	}
	if st := s.List()[0].State; st != StateStarting {
		t.Errorf("state = %s, want starting", st)
	}
	s.StopAll()
}

func TestCrashLoopBacksOffThenFails(t *testing.T) {
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) { t.exited <- Exit{Code: 1} }}
	s := New(rt, testOptions(t))
	s.Start(context.Background(), Service{Name: "crashy", Spec: &specs.Spec{Process: &specs.Process{}}})
	deadline := time.Now().Add(5 * time.Second)
	for s.List()[0].State != StateFailed {
		if time.Now().After(deadline) {
			t.Fatalf("never failed: %+v", s.List()[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
	starts := rt.starts["crashy"]
	if len(starts) != 5 {
		t.Errorf("%d starts, want 5 (MaxFailures)", len(starts))
	}
	// Backoff: 20, 40, 80, 80 ms between starts (never a hot loop).
	wantGaps := []time.Duration{20, 40, 80, 80}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < wantGaps[i-1]*time.Millisecond {
			t.Errorf("gap %d = %s, want at least %dms", i, gap, wantGaps[i-1])
		}
	}
	l := s.List()[0]
	if l.Restarts != 4 || !strings.Contains(l.Error, "exited with status 1") {
		t.Errorf("status = %+v", l)
	}
	s.StopAll()
}

func TestRestartAfterExitKeepsRunning(t *testing.T) {
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) {
		if n == 1 {
			t.exited <- Exit{Code: 2}
			return
		}
		runUntilSignal(t)
	}}
	s := New(rt, testOptions(t))
	s.Start(context.Background(), Service{Name: "flaky", Spec: &specs.Spec{Process: &specs.Process{}}})
	deadline := time.Now().Add(5 * time.Second)
	for {
		l := s.List()[0]
		if l.State == StateRunning && l.Restarts == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted: %+v", l)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.StopAll()
}

func TestRestartPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy string
		code   int
		want   State
	}{
		{"never", 0, StateStopped},
		{"never", 3, StateFailed},
		{"on-failure", 0, StateStopped},
	} {
		rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) { t.exited <- Exit{Code: tc.code} }}
		s := New(rt, testOptions(t))
		s.Start(context.Background(), Service{Name: "once", Spec: &specs.Spec{Process: &specs.Process{}}, Restart: tc.policy})
		deadline := time.Now().Add(2 * time.Second)
		for s.List()[0].State != tc.want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := s.List()[0].State; got != tc.want || len(rt.starts["once"]) != 1 {
			t.Errorf("%s/exit %d: state %s after %d starts, want %s after 1", tc.policy, tc.code, got, len(rt.starts["once"]), tc.want)
		}
		s.StopAll()
	}
}

func TestStartErrorFails(t *testing.T) {
	rt := &fakeRuntime{behave: func(string, int, *fakeTask) {}, startErr: func(string) error { return errors.New("runc: exec format error") }}
	s := New(rt, testOptions(t))
	err := s.Start(context.Background(), Service{Name: "broken", Spec: &specs.Spec{Process: &specs.Process{}}})
	if err == nil || !strings.Contains(err.Error(), "exec format error") {
		t.Errorf("err = %v", err)
	}
	if l := s.List()[0]; l.State != StateFailed {
		t.Errorf("state %s", l.State)
	}
	s.StopAll()
}

func TestStartAllWaitsForEachInOrder(t *testing.T) {
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) {
		if name == "slow" {
			time.Sleep(100 * time.Millisecond)
			t.ready()
		}
		if name == "bad" {
			t.exited <- Exit{Code: 1}
			return
		}
		runUntilSignal(t)
	}}
	opt := testOptions(t)
	opt.MaxFailures = 1
	s := New(rt, opt)
	start := time.Now()
	errs := s.StartAll(context.Background(), []Service{
		{Name: "slow", Spec: &specs.Spec{Process: &specs.Process{}}, Notify: true},
		{Name: "fast", Spec: &specs.Spec{Process: &specs.Process{}}},
		{Name: "bad", Spec: &specs.Spec{Process: &specs.Process{}}, Notify: true},
	})
	if errs[0] != nil || errs[1] != nil || errs[2] == nil || !strings.HasPrefix(errs[2].Error(), "service bad: exited with status 1 after ") {
		t.Errorf("errs = %v, want only bad's exit", errs)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Error("StartAll returned before the slow service was ready")
	}
	var names []string
	for _, l := range s.List() {
		names = append(names, l.Name)
	}
	if diff := cmp.Diff([]string{"slow", "fast", "bad"}, names); diff != "" {
		t.Errorf("order (-want +got)\n%s", diff)
	}
	s.StopAll()
}

func TestRestartStartsAgainAtOnce(t *testing.T) {
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) { runUntilSignal(t) }}
	opt := testOptions(t)
	opt.MinBackoff = time.Hour // a backoff would hang the test
	s := New(rt, opt)
	if err := s.Start(context.Background(), Service{Name: "console", Spec: &specs.Spec{Process: &specs.Process{}}}); err != nil {
		t.Fatal(err)
	}
	first := s.List()[0].PID
	if err := s.Restart(context.Background(), "console"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		l := s.List()[0]
		if l.State == StateRunning && l.PID != first && l.Restarts == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted: %+v", l)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Restart(context.Background(), "nope"); !errors.Is(err, ErrUnknown) || err.Error() != "service nope: unknown" {
		t.Errorf("restart of an unknown service: %v, want %v", err, ErrUnknown)
	}
	if err := s.Signal("nope", syscall.SIGHUP); !errors.Is(err, ErrUnknown) || err.Error() != "service nope: unknown" {
		t.Errorf("signal to an unknown service: %v, want %v", err, ErrUnknown)
	}
	s.StopAll()
}

// A service that gave up has no task to restart: the caller is told so.
func TestRestartOfAFailedService(t *testing.T) {
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) { t.exited <- Exit{Code: 1} }}
	opt := testOptions(t)
	opt.MaxFailures = 1
	s := New(rt, opt)
	defer s.StopAll()
	// Without notify the service is ready once started; it fails after.
	if err := s.Start(context.Background(), Service{Name: "bad", Spec: &specs.Spec{Process: &specs.Process{}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for s.List()[0].State != StateFailed {
		if time.Now().After(deadline) {
			t.Fatalf("not failed: %+v", s.List()[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Restart(context.Background(), "bad"); !errors.Is(err, ErrNotRunning) || err.Error() != "service bad: not running" {
		t.Errorf("restart of a failed service: %v, want %v", err, ErrNotRunning)
	}
	if err := s.Signal("bad", syscall.SIGHUP); !errors.Is(err, ErrNotRunning) || err.Error() != "service bad: not running" {
		t.Errorf("signal to a failed service: %v, want %v", err, ErrNotRunning)
	}
}
