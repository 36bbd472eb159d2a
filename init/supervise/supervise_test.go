package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-os/berth/internal/servicetest"
)

// fakeRuntime runs "containers" as goroutines whose behaviour the test picks.
type fakeRuntime struct {
	mu       sync.Mutex
	starts   map[string][]time.Time
	signals  []string
	behave   func(name string, n int, t *fakeTask)
	startErr func(name string) error
	nextPID  int
	// exec answers a task's Exec: exit status and output.
	exec func(name string, args []string) (int, string)
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
func (t *fakeTask) Exec(_ context.Context, args []string, out io.Writer) (int, error) {
	if t.rt.exec == nil {
		return -1, errors.New("fake: no exec")
	}
	code, o := t.rt.exec(t.name, args)
	io.WriteString(out, o)
	return code, nil
}
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

func (r *fakeRuntime) startTimes(name string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.starts[name]...)
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

// testOptions are quick ones; a process is never killed directly, since
// fake tasks have made-up PIDs.
func testOptions(t *testing.T) Options {
	return Options{NotifyDir: t.TempDir(), ReadyTimeout: 5 * time.Second, MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 80 * time.Millisecond, StableAfter: time.Hour, StopTimeout: time.Second, CgroupRoot: t.TempDir(), ProcDir: t.TempDir(),
		Kill: func(pid int, sig syscall.Signal) error { return fmt.Errorf("test: kill %d %s", pid, sig) }}
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
	opt := testOptions(t)
	var traced []string
	var mu sync.Mutex
	opt.Tracef = func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		traced = append(traced, fmt.Sprintf(format, args...))
	}
	s := New(rt, opt)
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
	// The boot timeline hears when a notify service got ready, and only
	// of those: udev here is ready when it runs.
	mu.Lock()
	if len(traced) != 1 || !regexp.MustCompile(`^service net: ready \(READY=1 after its start\) in [0-9]+\.[0-9]{3}s$`).MatchString(traced[0]) {
		t.Errorf("traced %q, want one line of net's readiness", traced)
	}
	mu.Unlock()
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

// A crash loop backs off on the wall clock too (never a hot loop).
func TestCrashLoopBacksOff(t *testing.T) {
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) { t.exited <- Exit{Code: 1} }}
	s := New(rt, testOptions(t))
	s.Start(context.Background(), Service{Name: "crashy", Spec: &specs.Spec{Process: &specs.Process{}}})
	deadline := time.Now().Add(5 * time.Second)
	for len(rt.startTimes("crashy")) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("not restarted 4 times: %+v", s.List()[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.StopAll()
	starts := rt.startTimes("crashy")
	// Backoff: 20, 40, 80, 80 ms between starts.
	wantGaps := []time.Duration{20, 40, 80, 80}
	for i := 1; i < 5; i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < wantGaps[i-1]*time.Millisecond {
			t.Errorf("gap %d = %s, want at least %dms", i, gap, wantGaps[i-1])
		}
	}
}

// fakeClock is a Clock that tests move: every wait the supervisor asks
// for is reported on asked and ends when the test calls fire.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	asked   chan time.Duration
	pending []chan time.Time
	at      []time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), asked: make(chan time.Duration, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.pending = append(c.pending, ch)
	c.at = append(c.at, c.now.Add(d))
	c.mu.Unlock()
	c.asked <- d
	return ch
}

// next waits for the supervisor to ask for a wait and returns it.
func (c *fakeClock) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.asked:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("the supervisor asked for no wait")
		return 0
	}
}

// fire ends the oldest wait, moving the clock to its end.
func (c *fakeClock) fire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.at[0]
	c.pending[0] <- c.now
	c.pending, c.at = c.pending[1:], c.at[1:]
}

// waitFor polls the service's status until ok says yes.
func waitFor(t *testing.T, s *Supervisor, what string, ok func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l := s.List()[0]
		if ok(l) {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached: %+v", what, l)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A service whose command fails 20 times in a row is retried for ever,
// never sooner than its backoff, which doubles from 1 s up to its 60 s cap
// and no further; its status shows the restarts and the next start; once
// fixed, it comes back.
func TestFailingServiceComesBackOnceFixed(t *testing.T) {
	var fixed atomic.Bool
	rt := failingUntil(&fixed)
	clock := newFakeClock()
	opt := testOptions(t)
	opt.MinBackoff, opt.MaxBackoff, opt.StableAfter, opt.Clock = time.Second, time.Minute, 30*time.Second, clock
	var alerts servicetest.Log
	opt.Alertf = func(f string, a ...any) { fmt.Fprintf(&alerts, f+"\n", a...) }
	s := New(rt, opt)
	defer s.StopAll()
	if err := s.Start(context.Background(), Service{Name: "flaky", Spec: &specs.Spec{Process: &specs.Process{}}}); err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	for i := 1; i <= 20; i++ {
		d := clock.next(t)
		waits = append(waits, d)
		l := s.List()[0]
		if l.State != StateRestarting || l.Restarts != i-1 || !l.NextRetry.Equal(clock.Now().Add(d)) || !strings.Contains(l.Error, "exited with status 1") {
			t.Errorf("after failure %d: %+v, want restarting, %d restarts, next start at %s", i, l, i-1, clock.Now().Add(d))
		}
		if n := len(rt.startTimes("flaky")); n != i {
			t.Fatalf("after failure %d: %d starts: started again before its backoff ended", i, n)
		}
		if i == 20 {
			fixed.Store(true)
		}
		clock.fire()
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60}
	for i := range want {
		want[i] *= time.Second
	}
	if diff := cmp.Diff(want, waits); diff != "" {
		t.Errorf("waits between starts (-want +got)\n%s", diff)
	}
	l := waitFor(t, s, "running once fixed", func(l Status) bool { return l.State == StateRunning })
	if l.Restarts != 20 || !l.NextRetry.IsZero() || l.Error != "" || l.PID == 0 {
		t.Errorf("once fixed: %+v, want running after 20 restarts", l)
	}
	// The consoles hear of it at failure 8 and 16, not at each failure.
	got := alerts.String()
	if strings.Count(got, "\n") != 2 || !strings.Contains(got, "service flaky: failed 16 times in a row (exited with status 1 after 0s); retrying every 1m0s until it starts") {
		t.Errorf("alerts:\n%s", got)
	}
}

// A stable run resets the backoff; so does a restart by hand.
func TestBackoff(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 5 * time.Second, StableAfter: time.Minute}
	var got []time.Duration
	for _, ran := range []time.Duration{0, time.Second, 0, 0, 0, time.Minute, 0} {
		got = append(got, b.Failed(ran))
	}
	want := []time.Duration{1, 2, 4, 5, 5, 1, 2}
	for i := range want {
		want[i] *= time.Second
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("waits (-want +got)\n%s", diff)
	}
	if b.Failures() != 2 {
		t.Errorf("failures after a stable run and one more: %d, want 2", b.Failures())
	}
	b.Reset()
	if d := b.Failed(0); d != time.Second || b.Failures() != 1 {
		t.Errorf("after Reset: wait %s, %d failures; want 1s, 1", d, b.Failures())
	}
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

// A service that cannot start is reported to boot after ReadyAttempts
// tries, and is retried after that.
func TestStartErrorIsReportedAndRetried(t *testing.T) {
	rt := &fakeRuntime{behave: func(string, int, *fakeTask) {}, startErr: func(string) error { return errors.New("runc: exec format error") }}
	s := New(rt, testOptions(t))
	defer s.StopAll()
	err := s.Start(context.Background(), Service{Name: "broken", Spec: &specs.Spec{Process: &specs.Process{}}})
	if err == nil || err.Error() != "service broken: start: runc: exec format error" {
		t.Errorf("err = %v", err)
	}
	if n := len(rt.startTimes("broken")); n != 3 {
		t.Errorf("boot heard of the failure after %d starts, want 3 (ReadyAttempts)", n)
	}
	waitFor(t, s, "a fourth start", func(Status) bool { return len(rt.startTimes("broken")) >= 4 })
	if l := s.List()[0]; l.State != StateRestarting && l.State != StateStarting || !strings.Contains(l.Error, "exec format error") {
		t.Errorf("status %+v, want restarting with the start error", l)
	}
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
	opt.ReadyAttempts = 1
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
	if err := s.Restart("console"); err != nil {
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
	if err := s.Restart("nope"); !errors.Is(err, ErrUnknown) || err.Error() != "service nope: unknown" {
		t.Errorf("restart of an unknown service: %v, want %v", err, ErrUnknown)
	}
	if err := s.Signal("nope", syscall.SIGHUP); !errors.Is(err, ErrUnknown) || err.Error() != "service nope: unknown" {
		t.Errorf("signal to an unknown service: %v, want %v", err, ErrUnknown)
	}
	s.StopAll()
}

// A restart by hand starts a service waiting out its backoff at once, with
// the backoff reset, and one stopped by its restart policy too. After
// StopAll there is nothing to restart.
func TestRestartOfAFailingService(t *testing.T) {
	var fixed atomic.Bool
	rt := failingUntil(&fixed)
	clock := newFakeClock()
	opt := testOptions(t)
	opt.MinBackoff, opt.MaxBackoff, opt.Clock = time.Second, time.Minute, clock
	s := New(rt, opt)
	if err := s.Start(context.Background(), Service{Name: "bad", Spec: &specs.Spec{Process: &specs.Process{}}}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		clock.next(t)
		clock.fire()
	}
	if d := clock.next(t); d != 32*time.Second {
		t.Fatalf("sixth wait %s, want 32s", d)
	}
	// The wait is never fired: only Restart can start it now.
	if err := s.Restart("bad"); err != nil {
		t.Fatal(err)
	}
	if d := clock.next(t); d != time.Second {
		t.Errorf("wait after a restart by hand: %s, want 1s (the backoff reset)", d)
	}
	if n := len(rt.startTimes("bad")); n != 7 {
		t.Errorf("%d starts, want 7: the restart did not start it at once", n)
	}
	fixed.Store(true)
	s.Restart("bad")
	waitFor(t, s, "running after a restart", func(l Status) bool { return l.State == StateRunning })

	if err := s.Signal("nope", syscall.SIGHUP); !errors.Is(err, ErrUnknown) || err.Error() != "service nope: unknown" {
		t.Errorf("signal to an unknown service: %v, want %v", err, ErrUnknown)
	}
	s.StopAll()
	if err := s.Restart("bad"); !errors.Is(err, ErrStopped) || err.Error() != "service bad: stopped for shutdown" {
		t.Errorf("restart after StopAll: %v, want %v", err, ErrStopped)
	}
	if err := s.Signal("bad", syscall.SIGHUP); !errors.Is(err, ErrNotRunning) || err.Error() != "service bad: not running" {
		t.Errorf("signal to a stopped service: %v, want %v", err, ErrNotRunning)
	}
}

func TestRestartAfterPolicyNever(t *testing.T) {
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) {
		if n == 1 {
			t.exited <- Exit{Code: 3}
			return
		}
		runUntilSignal(t)
	}}
	s := New(rt, testOptions(t))
	defer s.StopAll()
	s.Start(context.Background(), Service{Name: "once", Spec: &specs.Spec{Process: &specs.Process{}}, Restart: "never"})
	waitFor(t, s, "failed by its policy", func(l Status) bool { return l.State == StateFailed })
	if err := s.Restart("once"); err != nil {
		t.Fatal(err)
	}
	l := waitFor(t, s, "running after a restart", func(l Status) bool { return l.State == StateRunning })
	if l.Restarts != 1 || len(rt.startTimes("once")) != 2 {
		t.Errorf("%+v after %d starts, want 1 restart after 2", l, len(rt.startTimes("once")))
	}
}

// failingUntil is a runtime whose tasks exit 1 at once until fixed is
// set, then run until signalled.
func failingUntil(fixed *atomic.Bool) *fakeRuntime {
	return &fakeRuntime{behave: func(name string, n int, t *fakeTask) {
		if !fixed.Load() {
			t.exited <- Exit{Code: 1}
			return
		}
		runUntilSignal(t)
	}}
}
