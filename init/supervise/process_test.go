package supervise

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-os/berth/internal/servicetest"
)

// A host process that dies is restarted with the services' backoff, its
// output (both streams) reaches the service's writer, and StopAll ends it
// with SIGTERM.
func TestProcessesRestartAndStop(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "starts")
	// The first two runs die at once; the third stays up until SIGTERM.
	script := `trap 'echo bye; exit 0' TERM
echo run >> ` + count + `; echo "out $(wc -l < ` + count + `)"; echo err >&2
n=$(wc -l < ` + count + `); [ "$n" -lt 3 ] && exit 7
while :; do sleep 0.05; done`
	out := &servicetest.Log{}
	opt := testOptions(t)
	opt.Output = func(string, string) io.Writer { return out }
	s := New(Processes{Spawn: servicetest.Spawn}, opt)
	svc := Service{Name: "daemon", Restart: "always", Spec: &specs.Spec{Process: &specs.Process{Args: []string{"/bin/sh", "-c", script}, Env: []string{"PATH=/usr/bin:/bin"}, Cwd: dir}}}
	start := time.Now()
	if err := s.Start(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := s.List()[0]
		if l.State == StateRunning && l.Restarts == 2 && strings.Contains(out.String(), "out 3") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not running after two restarts: %+v\n%s", l, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Backoff: 20 ms, then 40 ms, between the starts.
	if took := time.Since(start); took < 60*time.Millisecond {
		t.Errorf("three starts in %s: no backoff", took)
	}
	if !strings.Contains(out.String(), "err\n") {
		t.Errorf("stderr not captured:\n%s", out.String())
	}
	pid := s.List()[0].PID
	s.StopAll()
	if l := s.List()[0]; l.State != StateStopped {
		t.Errorf("after StopAll: %+v", l)
	}
	if !strings.Contains(out.String(), "bye") {
		t.Errorf("no SIGTERM handler output:\n%s", out.String())
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("pid %d still there after StopAll: %v", pid, err)
	}
}

// A stopped host process (kill -STOP: a wedged containerd, in the
// ServiceLiveness scenario) that is asked to stop ends through its SIGTERM
// handler at once, not at the stop timeout's SIGKILL.
func TestProcessesStopStopped(t *testing.T) {
	out := &servicetest.Log{}
	opt := testOptions(t)
	opt.StopTimeout = time.Minute
	opt.Output = func(string, string) io.Writer { return out }
	s := New(Processes{Spawn: servicetest.Spawn}, opt)
	script := `trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.05; done`
	svc := Service{Name: "daemon", Restart: "always", Spec: &specs.Spec{Process: &specs.Process{Args: []string{"/bin/sh", "-c", script}, Env: []string{"PATH=/usr/bin:/bin"}}}}
	if err := s.Start(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "up"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not up:\n%s", out.String())
		}
	}
	pid := s.List()[0].PID
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.StopAll()
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("StopAll of a stopped process took %s: its SIGTERM waited for the SIGKILL", took)
	}
	if !strings.Contains(out.String(), "bye") {
		t.Errorf("the stopped process did not run its SIGTERM handler:\n%s", out.String())
	}
}

func TestProcessesErrors(t *testing.T) {
	p := Processes{Spawn: servicetest.Spawn}
	if _, err := p.Start(context.Background(), "x", &specs.Spec{}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "process x: no args") {
		t.Errorf("no process: %v", err)
	}
	_, err := p.Start(context.Background(), "x", &specs.Spec{Process: &specs.Process{Args: []string{"/nonexistent/containerd"}}}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "process x: start /nonexistent/containerd") {
		t.Errorf("missing program: %v", err)
	}
	for _, tc := range []struct {
		ws   syscall.WaitStatus
		code int
		err  string
	}{
		{syscall.WaitStatus(3 << 8), 3, ""},
		{syscall.WaitStatus(syscall.SIGKILL), 128 + 9, "killed by killed"},
	} {
		e := exitOf(tc.ws)
		if e.Code != tc.code || (tc.err == "") != (e.Err == nil) || (e.Err != nil && e.Err.Error() != tc.err) {
			t.Errorf("exitOf(%#x) = %+v, want code %d err %q", uint32(tc.ws), e, tc.code, tc.err)
		}
	}
}

// Exec runs a command beside a host process, with its environment, and
// kills it when its context ends.
func TestProcessesExec(t *testing.T) {
	p := Processes{Spawn: servicetest.Spawn}
	task, err := p.Start(context.Background(), "x", &specs.Spec{Process: &specs.Process{Args: []string{"/bin/sleep", "10"}, Env: []string{"WHO=berth"}}}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { task.Signal(context.Background(), syscall.SIGKILL); <-task.Exited() }()
	out := &cappedBuffer{max: 100}
	code, err := task.Exec(context.Background(), []string{"/bin/sh", "-c", "echo hi $WHO; echo err >&2; exit 3"}, out)
	if code != 3 || err != nil || out.String() != "hi berth\nerr\n" {
		t.Errorf("exec: %d %v %q, want 3 <nil> \"hi berth\\nerr\\n\"", code, err, out.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := task.Exec(ctx, []string{"/bin/sleep", "10"}, io.Discard); err != context.DeadlineExceeded {
		t.Errorf("exec past its deadline: %v, want %v", err, context.DeadlineExceeded)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("exec past its deadline returned after %s", took)
	}
}
