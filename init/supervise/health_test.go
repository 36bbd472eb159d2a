package supervise

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-os/berth/internal/servicetest"
)

// An exec check that fails Retries times in a row makes the service
// unhealthy, and it is restarted; its next run is checked afresh.
func TestUnhealthyIsRestarted(t *testing.T) {
	var mu sync.Mutex
	var calls []string // the run each check saw, and its outcome
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) { runUntilSignal(t) }}
	rt.exec = func(name string, args []string) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		run := len(rt.startTimes(name))
		// Run 1 passes twice, then fails for ever; run 2 passes.
		fail := run == 1 && len(calls) >= 2
		calls = append(calls, fmt.Sprintf("run %d %s: %v", run, strings.Join(args, " "), !fail))
		if fail {
			return 1, "connection refused\n"
		}
		return 0, ""
	}
	opt := testOptions(t)
	var alerts servicetest.Log
	opt.Alertf = func(f string, a ...any) { fmt.Fprintf(&alerts, f+"\n", a...) }
	s := New(rt, opt)
	defer s.StopAll()
	web := svc("web")
	web.Health = &Health{Exec: []string{"curl", "-f", "localhost"}, Interval: 5 * time.Millisecond, Retries: 3}
	if err := s.Start(context.Background(), web); err != nil {
		t.Fatal(err)
	}
	l := waitFor(t, s, "healthy again after a restart", func(l Status) bool { return l.Restarts == 1 && l.Health == HealthHealthy })
	mu.Lock()
	var run1 []string
	for _, c := range calls {
		if strings.HasPrefix(c, "run 1 ") {
			run1 = append(run1, c)
		}
	}
	mu.Unlock()
	want := []string{"run 1 curl -f localhost: true", "run 1 curl -f localhost: true", "run 1 curl -f localhost: false", "run 1 curl -f localhost: false", "run 1 curl -f localhost: false"}
	if strings.Join(run1, "\n") != strings.Join(want, "\n") {
		t.Errorf("checks of run 1:\n%s\nwant\n%s", strings.Join(run1, "\n"), strings.Join(want, "\n"))
	}
	if n := len(rt.startTimes("web")); n != 2 {
		t.Errorf("%d starts, want 2", n)
	}
	if d, _ := s.Detail("web"); l.State != StateRunning || d.LastExit == nil || l.HealthError != "" {
		t.Errorf("after the restart: %+v", l)
	}
	wantAlert := "service web: unhealthy after 3 failed checks: exec curl -f localhost: exited with status 1: connection refused\n"
	if got := alerts.String(); got != wantAlert {
		t.Errorf("alerts %q, want %q", got, wantAlert)
	}
}

// Under restart policy never an unhealthy service is only reported, and
// becomes healthy again when a check passes. Failures during the start
// period do not count.
func TestUnhealthyReportedUnderNever(t *testing.T) {
	var mu sync.Mutex
	failing := true
	checks := 0
	rt := &fakeRuntime{behave: func(name string, n int, t *fakeTask) { runUntilSignal(t) }, exec: func(string, []string) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		checks++
		if failing {
			return 7, ""
		}
		return 0, ""
	}}
	s := New(rt, testOptions(t))
	defer s.StopAll()
	db := svc("db")
	db.Restart = "never"
	db.Health = &Health{Exec: []string{"check"}, Interval: 5 * time.Millisecond, Retries: 2, StartPeriod: 100 * time.Millisecond}
	start := time.Now()
	if err := s.Start(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	l := waitFor(t, s, "unhealthy", func(l Status) bool { return l.Health == HealthUnhealthy })
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Errorf("unhealthy after %s, within its start period", took)
	}
	if l.State != StateRunning || l.Restarts != 0 || l.HealthError != "exec check: exited with status 7" {
		t.Errorf("unhealthy under never: %+v, want running, not restarted", l)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	l = waitFor(t, s, "healthy again", func(l Status) bool { return l.Health == HealthHealthy })
	if len(rt.startTimes("db")) != 1 || l.HealthError != "" {
		t.Errorf("healthy again: %+v after %d starts, want 1", l, len(rt.startTimes("db")))
	}
}

// File and socket checks look in the container's root, following its
// symlinks inside it and never out of it.
func TestFileAndSocketChecks(t *testing.T) {
	root := t.TempDir()
	opt := testOptions(t)
	s := New(&fakeRuntime{}, opt)
	os.MkdirAll(filepath.Join(root, "run"), 0o755)
	os.WriteFile(filepath.Join(root, "run/ready"), nil, 0o644)
	os.Symlink("/run/ready", filepath.Join(root, "run/link"))
	os.Symlink("/etc/passwd", filepath.Join(root, "run/escape"))
	ln, err := net.Listen("unix", filepath.Join(root, "run/db.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	stale, err := net.Listen("unix", filepath.Join(root, "run/stale.sock"))
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	// The root of process 4242, as procfs shows it, has what its mounts
	// add.
	procRoot := filepath.Join(opt.ProcDir, "4242", "root")
	os.MkdirAll(filepath.Join(procRoot, "run"), 0o755)
	os.WriteFile(filepath.Join(procRoot, "run/mounted"), nil, 0o644)

	st := &svcState{svc: Service{Name: "db", Spec: &specs.Spec{Root: &specs.Root{Path: root}}}}
	for _, tc := range []struct {
		name string
		h    Health
		pid  int
		err  string
	}{
		{"file", Health{File: "/run/ready"}, 1, ""},
		{"missing file", Health{File: "/run/absent"}, 1, "file /run/absent: open /run/absent: no such file or directory"},
		{"symlink inside", Health{File: "/run/link"}, 1, ""},
		{"symlink out", Health{File: "/run/escape"}, 1, "file /run/escape: open /run/escape: no such file or directory"},
		{"dot-dot out", Health{File: "../../../../../etc/passwd"}, 1, "file ../../../../../etc/passwd: open ../../../../../etc/passwd: no such file or directory"},
		{"socket", Health{Socket: "/run/db.sock"}, 1, ""},
		{"socket nobody listens on", Health{Socket: "/run/stale.sock"}, 1, "socket /run/stale.sock: connect: connection refused"},
		{"not a socket", Health{Socket: "/run/ready"}, 1, "socket /run/ready: connect: connection refused"},
		{"process root", Health{File: "/run/mounted"}, 4242, ""},
		{"process root, not the spec's", Health{File: "/run/ready"}, 4242, "file /run/ready: open /run/ready: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.checkHealth(context.Background(), st, &fakeTask{pid: tc.pid}, tc.h.withDefaults())
			if got := fmt.Sprint(err); (tc.err == "" && err != nil) || (tc.err != "" && got != tc.err) {
				t.Errorf("check: %v, want %q", err, tc.err)
			}
		})
	}
}
