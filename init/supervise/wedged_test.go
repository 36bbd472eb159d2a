package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-os/berth/internal/servicetest"
)

// wedgedRuntime starts tasks, then stops answering as a SIGSTOPped
// containerd does: once wedged, Signal and Delete block, until their
// context ends (honourCtx) or for ever.
type wedgedRuntime struct {
	mu        sync.Mutex
	wedged    chan struct{} // closed: no call returns
	honourCtx bool
	nextPID   int
	tasks     map[int]*wedgedTask
	// noDeadline lists the calls made without a deadline.
	noDeadline []string
}

type wedgedTask struct {
	rt     *wedgedRuntime
	pid    int
	exited chan Exit
}

func newWedged(honourCtx bool) *wedgedRuntime {
	return &wedgedRuntime{wedged: make(chan struct{}), honourCtx: honourCtx, nextPID: 100, tasks: map[int]*wedgedTask{}}
}

// block is a call to a wedged containerd.
func (r *wedgedRuntime) block(ctx context.Context, what string) error {
	if _, ok := ctx.Deadline(); !ok {
		r.mu.Lock()
		r.noDeadline = append(r.noDeadline, what)
		r.mu.Unlock()
	}
	select {
	case <-r.wedged:
	default:
		return nil
	}
	if !r.honourCtx {
		select {} // for ever
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * time.Second): // a call without a deadline: fail the test, not hang it
		return errors.New(what + ": no deadline")
	}
}

func (r *wedgedRuntime) Start(ctx context.Context, name string, _ *specs.Spec, _, _ io.Writer) (Task, error) {
	if err := r.block(ctx, "start "+name); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextPID++
	t := &wedgedTask{rt: r, pid: r.nextPID, exited: make(chan Exit, 1)}
	r.tasks[t.pid] = t
	return t, nil
}

func (t *wedgedTask) PID() int            { return t.pid }
func (t *wedgedTask) Exited() <-chan Exit { return t.exited }
func (t *wedgedTask) Signal(ctx context.Context, sig syscall.Signal) error {
	if err := t.rt.block(ctx, "signal "+sig.String()); err != nil {
		return err
	}
	t.exited <- Exit{Code: 128 + int(sig)}
	return nil
}
func (t *wedgedTask) Delete(ctx context.Context) error { return t.rt.block(ctx, "delete") }
func (t *wedgedTask) Exec(ctx context.Context, _ []string, _ io.Writer) (int, error) {
	return -1, t.rt.block(ctx, "exec")
}

// killer records the direct kills; a killed task exits, as a process does.
type killer struct {
	mu     sync.Mutex
	rt     *wedgedRuntime
	killed []int
}

func (k *killer) kill(pid int, sig syscall.Signal) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if sig != syscall.SIGKILL {
		return errors.New("not SIGKILL")
	}
	k.killed = append(k.killed, pid)
	if t := k.rt.tasks[pid]; t != nil {
		select {
		case t.exited <- Exit{Code: 137, Err: errors.New("killed by killed")}:
		default:
		}
	}
	return nil
}

// wedgedSupervisor runs udev (with a cgroup) and console, then wedges
// their runtime.
func wedgedSupervisor(t *testing.T, rt *wedgedRuntime, opt Options) (*Supervisor, *killer, string) {
	t.Helper()
	k := &killer{rt: rt}
	opt.Kill = k.kill
	kill := filepath.Join(opt.CgroupRoot, "berth/udev/cgroup.kill")
	os.MkdirAll(filepath.Dir(kill), 0o755)
	os.WriteFile(kill, nil, 0o644)
	s := New(rt, opt)
	errs := s.StartAll(context.Background(), []Service{
		{Name: "udev", Spec: &specs.Spec{Process: &specs.Process{}, Linux: &specs.Linux{CgroupsPath: "/berth/udev"}}},
		{Name: "console", Spec: &specs.Spec{Process: &specs.Process{}}},
	})
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	close(rt.wedged)
	return s, k, kill
}

// A containerd that answers no call, not even when its deadline passes,
// cannot hold StopAll past its timeout: what is left is killed directly,
// through its cgroup and its PID.
func TestStopAllWithAWedgedRuntime(t *testing.T) {
	rt := newWedged(false)
	opt := testOptions(t)
	opt.StopAllTimeout, opt.StopTimeout, opt.CallTimeout = 300*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond
	var alerts servicetest.Log
	opt.Alertf = func(f string, a ...any) { alerts.Write([]byte(strings.TrimSpace(fmt.Sprintf(f, a...)) + "\n")) }
	s, k, cgkill := wedgedSupervisor(t, rt, opt)
	pids := map[string]int{}
	for _, l := range s.List() {
		pids[l.Name] = l.PID
	}
	start := time.Now()
	done := make(chan struct{})
	go func() { s.StopAll(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("StopAll still waiting after 5 s")
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("StopAll took %s, want its timeout of 300ms", took)
	}
	k.mu.Lock()
	killed := k.killed
	k.mu.Unlock()
	if len(killed) != 2 || killed[0] != pids["console"] || killed[1] != pids["udev"] {
		t.Errorf("killed directly: %v, want console's %d then udev's %d", killed, pids["console"], pids["udev"])
	}
	if b, _ := os.ReadFile(cgkill); string(b) != "1" {
		t.Errorf("udev's cgroup.kill holds %q, want 1", b)
	}
	for _, want := range []string{"service console: not stopped after 300ms; killed", "service udev: not stopped after 300ms; killed"} {
		if !strings.Contains(alerts.String(), want) {
			t.Errorf("alerts lack %q:\n%s", want, alerts.String())
		}
	}
}

// Every call to a containerd that stops answering ends at its deadline;
// a SIGKILL the runtime cannot deliver is delivered directly, and the
// services stop well within StopAll's timeout.
func TestCallsHaveDeadlines(t *testing.T) {
	rt := newWedged(true)
	opt := testOptions(t)
	opt.StopAllTimeout, opt.StopTimeout, opt.CallTimeout = 10*time.Second, 50*time.Millisecond, 100*time.Millisecond
	s, k, _ := wedgedSupervisor(t, rt, opt)
	if err := s.Signal("udev", syscall.SIGHUP); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("signal through a wedged runtime: %v, want %v", err, context.DeadlineExceeded)
	}
	start := time.Now()
	s.StopAll()
	// Per service: SIGTERM's deadline, the stop timeout, SIGKILL's
	// deadline, the direct kill, delete's deadline: 350 ms.
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("StopAll took %s", took)
	}
	for _, l := range s.List() {
		if l.State != StateStopped {
			t.Errorf("%s: %s, want stopped", l.Name, l.State)
		}
	}
	if len(k.killed) != 2 {
		t.Errorf("killed directly: %v, want both services", k.killed)
	}
	if len(rt.noDeadline) > 0 {
		t.Errorf("calls without a deadline: %v", rt.noDeadline)
	}
	// A start through the wedged runtime ends at its deadline too.
	opt.ReadyAttempts, opt.StartTimeout = 1, 200*time.Millisecond
	s2 := New(rt, opt)
	defer s2.StopAll()
	err := s2.Start(context.Background(), Service{Name: "network", Spec: &specs.Spec{Process: &specs.Process{}}})
	if err == nil || err.Error() != "service network: start: context deadline exceeded" {
		t.Errorf("start through a wedged runtime: %v", err)
	}
}
