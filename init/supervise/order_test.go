package supervise

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// events is what happened, in order, across the fake services.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(format string, args ...any) {
	e.mu.Lock()
	e.log = append(e.log, fmt.Sprintf(format, args...))
	e.mu.Unlock()
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.log...)
}

func (e *events) has(s string) bool {
	for _, l := range e.list() {
		if l == s {
			return true
		}
	}
	return false
}

// index is where s happened, or -1.
func (e *events) index(s string) int {
	for i, l := range e.list() {
		if l == s {
			return i
		}
	}
	return -1
}

func svc(name string) Service {
	return Service{Name: name, Spec: &specs.Spec{Process: &specs.Process{}}}
}

// status is one service's status, with its last exit, by name.
func status(t *testing.T, s *Supervisor, name string) Detail {
	t.Helper()
	d, ok := s.Detail(name)
	if !ok {
		t.Fatalf("no service %s in %+v", name, s.List())
	}
	return d
}

// waitUntil polls ok for up to 5 s.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// startAll runs StartAll in the background; the channel gets its errors.
func startAll(s *Supervisor, svcs ...Service) <-chan []error {
	ch := make(chan []error, 1)
	go func() { ch <- s.StartAll(context.Background(), svcs) }()
	return ch
}

// A service starts only once what it depends on is ready; services that
// wait for nothing start together, not one after another.
func TestDependentStartsAfterReady(t *testing.T) {
	var ev events
	release := make(chan struct{})
	rt := &fakeRuntime{}
	rt.behave = func(name string, n int, t *fakeTask) {
		ev.add("start %s", name)
		switch name {
		case "db":
			<-release
			ev.add("ready db")
			t.ready()
		case "a", "b":
			// Each is ready only once the other has started: one after
			// the other, neither would be.
			other := map[string]string{"a": "b", "b": "a"}[name]
			for len(rt.startTimes(other)) == 0 {
				time.Sleep(time.Millisecond)
			}
			t.ready()
		}
		runUntilSignal(t)
	}
	opt := testOptions(t)
	opt.ReadyTimeout = 2 * time.Second
	s := New(rt, opt)
	defer s.StopAll()
	web := svc("web")
	web.DependsOn = []Dependency{{Name: "db"}}
	db, a, b := svc("db"), svc("a"), svc("b")
	db.Notify, a.Notify, b.Notify = true, true, true
	done := startAll(s, web, db, a, b)
	waitUntil(t, "db started", func() bool { return ev.has("start db") })
	time.Sleep(50 * time.Millisecond)
	if ev.has("start web") {
		t.Fatalf("web started before db was ready: %v", ev.list())
	}
	if l := status(t, s, "web"); l.State != StateWaiting || l.WaitingOn != "db (started)" || l.PID != 0 {
		t.Errorf("web while db starts: %+v, want waiting on db (started)", l)
	}
	close(release)
	errs := <-done
	for i, err := range errs {
		if err != nil {
			t.Errorf("errs[%d] = %v", i, err)
		}
	}
	waitUntil(t, "web started", func() bool { return ev.has("start web") })
	if r, w := ev.index("ready db"), ev.index("start web"); r < 0 || w < r {
		t.Errorf("events %v: web did not start after db was ready", ev.list())
	}
	if l := status(t, s, "web"); l.State != StateRunning || l.WaitingOn != "" {
		t.Errorf("web: %+v, want running", l)
	}
}

// healthy waits for the healthcheck to pass; completed for a oneshot to
// exit 0, and so does after.
func TestConditions(t *testing.T) {
	var ev events
	var mu sync.Mutex
	checks := 0
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) {
		ev.add("start %s", name)
		if name == "migrate" {
			time.Sleep(30 * time.Millisecond)
			ev.add("exit migrate")
			t.exited <- Exit{Code: 0}
			return
		}
		runUntilSignal(t)
	}, exec: func(name string, args []string) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		checks++
		if checks < 3 {
			ev.add("check %s failed", name)
			return 1, "not yet"
		}
		ev.add("check %s passed", name)
		return 0, ""
	}}
	s := New(rt, testOptions(t))
	defer s.StopAll()
	db := svc("db")
	db.Health = &Health{Exec: []string{"pg_isready"}, Interval: 10 * time.Millisecond, Retries: 5}
	api := svc("api")
	api.DependsOn = []Dependency{{Name: "db", Condition: ConditionHealthy}}
	migrate := svc("migrate")
	migrate.Oneshot = true
	web := svc("web")
	web.DependsOn = []Dependency{{Name: "migrate", Condition: ConditionCompleted}}
	late := svc("late")
	late.After = []string{"migrate"}
	errs := s.StartAll(context.Background(), []Service{api, db, web, migrate, late})
	for i, err := range errs {
		if err != nil {
			t.Errorf("errs[%d] = %v", i, err)
		}
	}
	for _, e := range []string{"start api", "start web", "start late"} {
		waitUntil(t, e, func() bool { return ev.has(e) })
	}
	want := []string{"check db failed", "check db failed", "check db passed", "start api"}
	var got []string
	for _, e := range ev.list() {
		if strings.Contains(e, "db") || e == "start api" {
			got = append(got, e)
		}
		if e == "start api" {
			break
		}
	}
	if diff := cmp.Diff(want, got[1:]); diff != "" || got[0] != "start db" {
		t.Errorf("db and api (-want +got)\n%s\n%v", diff, got)
	}
	for _, after := range []string{"start web", "start late"} {
		if e, w := ev.index("exit migrate"), ev.index(after); w < e {
			t.Errorf("%s before migrate completed: %v", after, ev.list())
		}
	}
	if l := status(t, s, "db"); l.Health != HealthHealthy || l.HealthError != "" {
		t.Errorf("db: %+v, want healthy", l)
	}
	l := status(t, s, "migrate")
	if l.State != StateCompleted || l.Restarts != 0 || l.LastExit == nil || l.LastExit.Code != 0 || l.LastExitAt.IsZero() || len(rt.startTimes("migrate")) != 1 {
		t.Errorf("migrate: %+v (last exit %+v) after %d starts, want completed once", l, l.LastExit, len(rt.startTimes("migrate")))
	}
}

// A oneshot that fails is retried with the backoff under on-failure, and
// what depends on it waits until it completes.
func TestOneshotRetriedUntilCompleted(t *testing.T) {
	var ev events
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) {
		ev.add("start %s %d", name, n)
		if name == "setup" {
			if n < 3 {
				t.exited <- Exit{Code: 2}
			} else {
				t.exited <- Exit{Code: 0}
			}
			return
		}
		runUntilSignal(t)
	}}
	opt := testOptions(t)
	opt.ReadyAttempts = 5
	s := New(rt, opt)
	defer s.StopAll()
	setup := svc("setup")
	setup.Oneshot, setup.Restart = true, "on-failure"
	app := svc("app")
	app.DependsOn = []Dependency{{Name: "setup", Condition: ConditionCompleted}}
	start := time.Now()
	errs := s.StartAll(context.Background(), []Service{app, setup})
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("errs = %v", errs)
	}
	// The backoff: 20 ms, then 40 ms.
	if took := time.Since(start); took < 60*time.Millisecond {
		t.Errorf("three runs in %s: not backed off", took)
	}
	waitUntil(t, "app started", func() bool { return ev.has("start app 1") })
	want := []string{"start setup 1", "start setup 2", "start setup 3", "start app 1"}
	if diff := cmp.Diff(want, ev.list()); diff != "" {
		t.Errorf("events (-want +got)\n%s", diff)
	}
	l := status(t, s, "setup")
	if l.State != StateCompleted || l.Restarts != 2 || l.LastExit == nil || l.LastExit.Code != 0 {
		t.Errorf("setup: %+v, want completed after 2 restarts", l)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(rt.startTimes("setup")); n != 3 {
		t.Errorf("setup started %d times, want 3: a completed oneshot was started again", n)
	}
}

// A service whose requirement fails is blocked, with the reason, and the
// others still start; it starts once the requirement comes after all.
// What a service is only after never blocks it.
func TestBlockedDependency(t *testing.T) {
	var fixed sync.Map
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) {
		if _, ok := fixed.Load(name); !ok && (name == "net" || name == "broken") {
			t.exited <- Exit{Code: 1}
			return
		}
		if name == "net" {
			t.ready()
		}
		runUntilSignal(t) // slow never sends READY=1
	}}
	opt := testOptions(t)
	opt.ReadyTimeout = 150 * time.Millisecond
	s := New(rt, opt)
	defer s.StopAll()
	net, slow, broken := svc("net"), svc("slow"), svc("broken")
	net.Restart, broken.Restart = "never", "never"
	net.Notify, broken.Notify, slow.Notify = true, true, true
	web := svc("web")
	web.DependsOn = []Dependency{{Name: "net"}}
	api := svc("api")
	api.DependsOn = []Dependency{{Name: "slow"}}
	orphan := svc("orphan")
	orphan.DependsOn = []Dependency{{Name: "nowhere"}}
	chain := svc("chain")
	chain.DependsOn = []Dependency{{Name: "web"}}
	relaxed := svc("relaxed")
	relaxed.After = []string{"broken", "nowhere", "slow"}
	relaxed.DependsOn = []Dependency{{Name: "nowhere", Optional: true}, {Name: "broken", Condition: ConditionStarted, Optional: true}}
	var errs []error
	select {
	case errs = <-startAll(s, net, web, slow, api, orphan, chain, broken, relaxed, svc("other")):
	case <-time.After(5 * time.Second):
		t.Fatalf("StartAll still waiting after 5s: %+v", s.List())
	}
	var got []string
	for _, err := range errs {
		got = append(got, runTime.ReplaceAllStringFunc(fmt.Sprint(err), runFor0))
	}
	want := []string{
		"service net: exited with status 1 after 0s",
		"service web: blocked: dependency net failed: exited with status 1 after 0s",
		"service slow: not ready after 150ms",
		"service api: blocked: dependency slow not started after 150ms",
		"service orphan: blocked: requires nowhere, which is not a service here",
		"service chain: blocked: dependency web is blocked: dependency net failed: exited with status 1 after 0s",
		"service broken: exited with status 1 after 0s",
		"<nil>",
		"<nil>",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errs (-want +got)\n%s", diff)
	}
	if l := status(t, s, "web"); l.State != StateBlocked || l.WaitingOn != "net" || runTime.ReplaceAllStringFunc(l.Error, runFor0) != "dependency net failed: exited with status 1 after 0s" || len(rt.startTimes("web")) != 0 {
		t.Errorf("web: %+v, want blocked on net, never started", l)
	}
	if l := status(t, s, "relaxed"); l.State != StateRunning {
		t.Errorf("relaxed: %+v, want running", l)
	}
	// net comes after all: what was blocked on it starts.
	fixed.Store("net", true)
	if err := s.Restart("net"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "web and chain running", func() bool {
		return status(t, s, "web").State == StateRunning && status(t, s, "chain").State == StateRunning
	})
	if l := status(t, s, "chain"); l.Error != "" || l.WaitingOn != "" {
		t.Errorf("chain once running: %+v", l)
	}
	// A restart by hand starts a blocked service without its requirement.
	if err := s.Restart("orphan"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "orphan running", func() bool { return status(t, s, "orphan").State == StateRunning })
}

// runTime matches how long a run lasted, in an exit message.
var runTime = regexp.MustCompile(`(?:status 1 )?after [0-9.]+[µm]?s`)

// runFor0 makes the run time in an exit message 0s.
func runFor0(m string) string {
	if strings.HasPrefix(m, "status 1 ") {
		return "status 1 after 0s"
	}
	return m
}

// Boot waits for a oneshot to complete; one that fails under policy never
// is reported, and what requires it is blocked.
func TestOneshotStartWaitsForCompletion(t *testing.T) {
	var ev events
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) {
		time.Sleep(20 * time.Millisecond)
		ev.add("exit %s", name)
		t.exited <- Exit{Code: map[string]int{"ok": 0, "bad": 1}[name]}
	}}
	s := New(rt, testOptions(t))
	defer s.StopAll()
	ok, bad, after := svc("ok"), svc("bad"), svc("after")
	ok.Oneshot, bad.Oneshot, bad.Restart = true, true, "never"
	after.DependsOn = []Dependency{{Name: "bad", Condition: ConditionCompleted}}
	errs := s.StartAll(context.Background(), []Service{ok, bad, after})
	if !ev.has("exit ok") || !ev.has("exit bad") {
		t.Errorf("StartAll returned before the oneshots ended: %v", ev.list())
	}
	var got []string
	for _, err := range errs {
		got = append(got, runTime.ReplaceAllStringFunc(fmt.Sprint(err), runFor0))
	}
	want := []string{"<nil>", "service bad: exited with status 1 after 0s", "service after: blocked: dependency bad failed: exited with status 1 after 0s"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errs (-want +got)\n%s", diff)
	}
	if l := status(t, s, "bad"); l.State != StateFailed || l.LastExit == nil || l.LastExit.Code != 1 {
		t.Errorf("bad: %+v, want failed with exit 1", l)
	}
}

// completed is also a daemon's exit 0 under restart on-failure; an
// optional dependency that is present is waited for.
func TestCompletedDaemonAndOptional(t *testing.T) {
	var ev events
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) {
		ev.add("start %s", name)
		if name == "fetch" {
			time.Sleep(30 * time.Millisecond)
			ev.add("exit fetch")
			t.exited <- Exit{Code: 0}
			return
		}
		runUntilSignal(t)
	}}
	s := New(rt, testOptions(t))
	defer s.StopAll()
	fetch, use, opt := svc("fetch"), svc("use"), svc("opt")
	fetch.Restart = "on-failure"
	use.DependsOn = []Dependency{{Name: "fetch", Condition: ConditionCompleted}}
	opt.DependsOn = []Dependency{{Name: "fetch", Condition: ConditionCompleted, Optional: true}}
	for i, err := range s.StartAll(context.Background(), []Service{use, fetch, opt}) {
		if err != nil {
			t.Errorf("errs[%d] = %v", i, err)
		}
	}
	for _, n := range []string{"use", "opt"} {
		waitUntil(t, n+" started", func() bool { return ev.has("start " + n) })
		if e, u := ev.index("exit fetch"), ev.index("start "+n); e < 0 || u < e {
			t.Errorf("%s started before fetch completed: %v", n, ev.list())
		}
	}
	if l := status(t, s, "fetch"); l.State != StateStopped || l.LastExit == nil || l.LastExit.Code != 0 {
		t.Errorf("fetch: %+v, want stopped after exit 0", l)
	}
}

// A dependency cycle is refused before anything starts, naming the cycle;
// the rest start, and what requires a refused service is blocked.
func TestCycleRefused(t *testing.T) {
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) { runUntilSignal(t) }}
	s := New(rt, testOptions(t))
	defer s.StopAll()
	a, b, c, e := svc("a"), svc("b"), svc("c"), svc("e")
	a.DependsOn = []Dependency{{Name: "b"}}
	b.After = []string{"c"}
	c.DependsOn = []Dependency{{Name: "a", Condition: ConditionStarted}}
	e.DependsOn = []Dependency{{Name: "a"}}
	done := startAll(s, svc("d"), a, b, c, e)
	var errs []error
	select {
	case errs = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("StartAll deadlocked on a cycle")
	}
	var got []string
	for _, err := range errs {
		got = append(got, fmt.Sprint(err))
	}
	want := []string{
		"<nil>",
		"service a: dependency cycle a -> b -> c -> a",
		"service b: dependency cycle a -> b -> c -> a",
		"service c: dependency cycle a -> b -> c -> a",
		"service e: blocked: requires a, which is not a service here",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errs (-want +got)\n%s", diff)
	}
	for _, n := range []string{"a", "b", "c", "e"} {
		if len(rt.startTimes(n)) != 0 {
			t.Errorf("%s was started", n)
		}
	}
}

// A service's fields are checked, all of them, before it starts.
func TestValidation(t *testing.T) {
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) { runUntilSignal(t) }}
	s := New(rt, testOptions(t))
	defer s.StopAll()
	bad := svc("bad")
	bad.DependsOn = []Dependency{{Name: "plain", Condition: ConditionHealthy}, {Name: "plain", Condition: ConditionCompleted}, {Name: "plain", Condition: "service_ready"}, {Name: "bad"}, {}}
	bad.After = []string{"bad"}
	bad.Health = &Health{File: "/run/x", Socket: "/run/x.sock", Interval: -time.Second, Retries: -1}
	job := svc("job")
	job.Oneshot = true
	job.Health = &Health{Exec: []string{"true"}}
	errs := s.StartAll(context.Background(), []Service{svc("plain"), bad, job})
	want := `service bad: depends_on[0].condition: plain has no healthcheck, so it never becomes healthy
depends_on[1].condition: plain restarts always, so it never completes
depends_on[2].condition: "service_ready": want started, healthy or completed
depends_on[3].name: bad depends on itself
depends_on[4].name: missing
after[0]: bad is after itself
healthcheck: want exactly one of exec, file and socket, got 2
healthcheck.interval: -1s: want a duration of 0 or more
healthcheck.retries: -1: want 0 or more`
	if errs[0] != nil || errs[1] == nil || errs[1].Error() != want {
		t.Errorf("errs[1] = %v\nwant %s", errs[1], want)
	}
	if errs[2] == nil || errs[2].Error() != "service job: healthcheck: a oneshot has none: it is done when it exits 0" {
		t.Errorf("errs[2] = %v", errs[2])
	}
	if s.Has("bad") || s.Has("job") || len(rt.startTimes("bad")) != 0 {
		t.Error("a service that is not valid was taken")
	}
}

// StopAll stops dependents before what they depend on or come after.
func TestStopInReverseDependencyOrder(t *testing.T) {
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) { runUntilSignal(t) }}
	s := New(rt, testOptions(t))
	top, mid := svc("top"), svc("mid")
	top.After = []string{"mid"}
	mid.DependsOn = []Dependency{{Name: "base"}}
	for i, err := range s.StartAll(context.Background(), []Service{top, mid, svc("base"), svc("other")}) {
		if err != nil {
			t.Fatalf("errs[%d] = %v", i, err)
		}
	}
	s.StopAll()
	want := []string{"other:terminated", "top:terminated", "mid:terminated", "base:terminated"}
	if diff := cmp.Diff(want, rt.signals); diff != "" {
		t.Errorf("stop order (-want +got)\n%s", diff)
	}
	var got []string
	for _, l := range s.List() {
		got = append(got, l.Name)
	}
	if diff := cmp.Diff([]string{"top", "mid", "base", "other"}, got); diff != "" {
		t.Errorf("List keeps the given order (-want +got)\n%s", diff)
	}
}

// A service stopped by hand while it waits for a dependency stops at once;
// started by hand again it waits for the dependency again.
func TestStopWhileWaiting(t *testing.T) {
	release := make(chan struct{})
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) {
		if name == "db" {
			<-release
			t.ready()
		}
		runUntilSignal(t)
	}}
	s := New(rt, testOptions(t))
	defer s.StopAll()
	db, web := svc("db"), svc("web")
	db.Notify = true
	web.DependsOn = []Dependency{{Name: "db"}}
	done := startAll(s, db, web)
	waitUntil(t, "web waiting", func() bool { return s.Has("web") && status(t, s, "web").State == StateWaiting })
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(context.Background(), "web") }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Stop of a waiting service still waiting")
	}
	if l := status(t, s, "web"); l.State != StateStopped || !l.Held || len(rt.startTimes("web")) != 0 {
		t.Errorf("web stopped while waiting: %+v, want stopped, held, never started", l)
	}
	close(release)
	if errs := <-done; errs[0] != nil {
		t.Errorf("db: %v", errs[0])
	}
	if err := s.StartStopped(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	if l := status(t, s, "web"); l.State != StateRunning {
		t.Errorf("web started by hand: %+v", l)
	}
}
