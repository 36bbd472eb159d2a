// Package supervise runs PID 1's system services as containers and keeps
// them running: it starts each in order, waits for it to be ready, restarts
// it with backoff when it dies (never a hot loop), and stops them all in
// reverse order at shutdown. The container runtime sits behind a narrow
// seam (Runtime) so the state machine is tested without containerd.
package supervise

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/notify"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Error kinds of Restart and Signal, for callers that map them (an unknown
// service is "not found" to the host API).
var (
	ErrUnknown    = errors.New("unknown")
	ErrNotRunning = errors.New("not running")
)

// Runtime starts containers.
type Runtime interface {
	// Start replaces any container left with that name and starts a new task.
	Start(ctx context.Context, name string, spec *specs.Spec, stdout, stderr io.Writer) (Task, error)
}

// Task is one running container process.
type Task interface {
	PID() int
	// Exited delivers the exit once.
	Exited() <-chan Exit
	Signal(ctx context.Context, sig syscall.Signal) error
	// Delete removes the task and its container after exit.
	Delete(ctx context.Context) error
}

// Exit is how a task ended.
type Exit struct {
	Code int
	Err  error
}

// Service is what the supervisor runs.
type Service struct {
	Name    string
	Spec    *specs.Spec
	Notify  bool
	Restart string   // always, on-failure, never
	Env     []string // added at boot, e.g. BERTH_AUTOLOGIN
}

// Options tune the supervisor; zero values take the defaults.
type Options struct {
	NotifyDir    string        // host dir for per-service notify sockets
	ReadyTimeout time.Duration // how long boot waits for READY=1
	MinBackoff   time.Duration
	MaxBackoff   time.Duration
	StableAfter  time.Duration // a run this long resets the backoff
	MaxFailures  int           // consecutive quick failures before "failed"
	StopTimeout  time.Duration // SIGTERM to SIGKILL
	Logf         func(format string, args ...any)
	Alertf       func(format string, args ...any) // failures worth a console line

	Output func(svc, stream string) io.Writer
}

// Supervisor owns the services.
type Supervisor struct {
	rt    Runtime
	opt   Options
	mu    sync.Mutex
	order []string
	svcs  map[string]*svcState
}

type svcState struct {
	svc      Service
	state    State
	pid      int
	started  time.Time
	restarts int
	err      string
	task     Task
	stop     chan struct{}
	done     chan struct{}
	ready    chan error // boot waits on the first value
	notifyCh chan struct{}
	notifyLn *net.UnixConn
	// quickRestart: the exit was asked for (Restart); start again without
	// backoff and without counting a failure.
	quickRestart bool
}

// New returns a supervisor using rt.
func New(rt Runtime, opt Options) *Supervisor {
	if opt.NotifyDir == "" {
		opt.NotifyDir = layout.NotifyDir
	}
	if opt.ReadyTimeout == 0 {
		opt.ReadyTimeout = 2 * time.Minute
	}
	if opt.MinBackoff == 0 {
		opt.MinBackoff = time.Second
	}
	if opt.MaxBackoff == 0 {
		opt.MaxBackoff = 30 * time.Second
	}
	if opt.StableAfter == 0 {
		opt.StableAfter = 30 * time.Second
	}
	if opt.MaxFailures == 0 {
		opt.MaxFailures = 10
	}
	if opt.StopTimeout == 0 {
		opt.StopTimeout = 10 * time.Second
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	if opt.Alertf == nil {
		opt.Alertf = opt.Logf
	}
	if opt.Output == nil {
		opt.Output = func(string, string) io.Writer { return io.Discard }
	}
	return &Supervisor{rt: rt, opt: opt, svcs: map[string]*svcState{}}
}

// StartAll starts every service at once, in list order, and waits until
// each is ready or has failed; errs[i] is the outcome of svcs[i].
func (s *Supervisor) StartAll(ctx context.Context, svcs []Service) []error {
	errs := make([]error, len(svcs))
	waits := make([]func() error, len(svcs))
	for i, svc := range svcs {
		waits[i] = s.begin(ctx, svc)
	}
	var wg sync.WaitGroup
	for i := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = waits[i]()
		}()
	}
	wg.Wait()
	return errs
}

// Start begins supervising svc and waits until it is ready (running), has
// failed, or the ready timeout passes; the error says which. Supervision
// goes on in the background either way.
func (s *Supervisor) Start(ctx context.Context, svc Service) error {
	return s.begin(ctx, svc)()
}

// begin registers svc and starts its supervision loop; the returned
// function waits for readiness.
func (s *Supervisor) begin(ctx context.Context, svc Service) func() error {
	st := &svcState{svc: svc, state: StateStarting, stop: make(chan struct{}), done: make(chan struct{}), ready: make(chan error, 1), notifyCh: make(chan struct{}, 4)}
	s.mu.Lock()
	if _, dup := s.svcs[svc.Name]; dup {
		s.mu.Unlock()
		return func() error { return fmt.Errorf("service %s: already started", svc.Name) }
	}
	s.svcs[svc.Name] = st
	s.order = append(s.order, svc.Name)
	s.mu.Unlock()
	if svc.Notify {
		if err := s.listenNotify(st); err != nil {
			s.set(st, func() { st.state = StateFailed; st.err = err.Error() })
			close(st.done)
			return func() error { return err }
		}
	}
	go s.loop(ctx, st)
	return func() error {
		select {
		case err := <-st.ready:
			return err
		case <-time.After(s.opt.ReadyTimeout):
			return fmt.Errorf("service %s: not ready after %s", svc.Name, s.opt.ReadyTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Supervisor) set(st *svcState, f func()) {
	s.mu.Lock()
	f()
	s.mu.Unlock()
}

func (s *Supervisor) signalReady(st *svcState, err error) {
	select {
	case st.ready <- err:
	default:
	}
}

func (s *Supervisor) loop(ctx context.Context, st *svcState) {
	defer close(st.done)
	defer func() {
		if st.notifyLn != nil {
			st.notifyLn.Close()
		}
	}()
	name := st.svc.Name
	backoff := s.opt.MinBackoff
	failures := 0
	for {
		// Drop readiness left over from an earlier run.
		for len(st.notifyCh) > 0 {
			<-st.notifyCh
		}
		spec, err := s.prepare(st)
		var task Task
		if err == nil {
			task, err = s.rt.Start(ctx, name, spec, s.opt.Output(name, "stdout"), s.opt.Output(name, "stderr"))
		}
		if err != nil {
			failures++
			s.opt.Logf("service %s: start: %v", name, err)
			if failures >= s.opt.MaxFailures {
				s.opt.Alertf("service %s: could not start %d times in a row; giving up: %v", name, failures, err)
				s.set(st, func() { st.state = StateFailed; st.err = err.Error(); st.pid = 0 })
				s.signalReady(st, fmt.Errorf("service %s: %w", name, err))
				return
			}
			s.set(st, func() { st.state = StateRestarting; st.err = err.Error(); st.pid = 0 })
			if !s.sleep(st, backoff) {
				s.set(st, func() { st.state = StateStopped })
				return
			}
			backoff = min(backoff*2, s.opt.MaxBackoff)
			s.set(st, func() { st.restarts++; st.state = StateStarting })
			continue
		}
		started := time.Now()
		s.set(st, func() {
			st.task, st.pid, st.started, st.err = task, task.PID(), started, ""
			if !st.svc.Notify {
				st.state = StateRunning
			}
		})
		if !st.svc.Notify {
			s.signalReady(st, nil)
		}
		var exit Exit
		stopped := false
	wait:
		for {
			select {
			case <-st.notifyCh:
				s.set(st, func() { st.state = StateRunning })
				s.signalReady(st, nil)
			case exit = <-task.Exited():
				break wait
			case <-st.stop:
				stopped = true
				exit = s.terminate(ctx, task)
				break wait
			}
		}
		task.Delete(context.WithoutCancel(ctx))
		ran := time.Since(started)
		if stopped {
			s.set(st, func() { st.state = StateStopped; st.pid = 0; st.task = nil })
			s.signalReady(st, errors.New("stopped"))
			return
		}
		msg := fmt.Sprintf("exited with status %d after %s", exit.Code, ran.Round(time.Millisecond))
		if exit.Err != nil {
			msg = fmt.Sprintf("exited after %s: %v", ran.Round(time.Millisecond), exit.Err)
		}
		s.opt.Logf("service %s: %s", name, msg)
		s.mu.Lock()
		asked := st.quickRestart
		st.quickRestart = false
		s.mu.Unlock()
		if asked {
			s.set(st, func() { st.restarts++; st.state = StateStarting; st.pid = 0; st.task = nil })
			continue
		}
		if ran >= s.opt.StableAfter {
			failures, backoff = 0, s.opt.MinBackoff
		}
		failures++
		policy := st.svc.Restart
		if policy == "never" || (policy == "on-failure" && exit.Code == 0 && exit.Err == nil) {
			final := StateStopped
			if exit.Code != 0 || exit.Err != nil {
				final = StateFailed
			}
			s.set(st, func() { st.state = final; st.pid = 0; st.task = nil; st.err = msg })
			s.signalReady(st, fmt.Errorf("service %s: %s", name, msg))
			return
		}
		if failures >= s.opt.MaxFailures {
			s.opt.Alertf("service %s: failed %d times in a row; giving up", name, failures)
			s.set(st, func() { st.state = StateFailed; st.pid = 0; st.task = nil; st.err = msg })
			s.signalReady(st, fmt.Errorf("service %s: %s", name, msg))
			return
		}
		s.set(st, func() { st.state = StateRestarting; st.pid = 0; st.task = nil; st.err = msg })
		s.opt.Logf("service %s: restarting in %s", name, backoff)
		if !s.sleep(st, backoff) {
			s.set(st, func() { st.state = StateStopped })
			return
		}
		backoff = min(backoff*2, s.opt.MaxBackoff)
		s.set(st, func() { st.restarts++; st.state = StateStarting })
	}
}

// sleep waits d unless the service is being stopped; false means stop.
func (s *Supervisor) sleep(st *svcState, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-st.stop:
		return false
	}
}

func (s *Supervisor) terminate(ctx context.Context, t Task) Exit {
	ctx = context.WithoutCancel(ctx)
	t.Signal(ctx, syscall.SIGTERM)
	select {
	case e := <-t.Exited():
		return e
	case <-time.After(s.opt.StopTimeout):
	}
	t.Signal(ctx, syscall.SIGKILL)
	select {
	case e := <-t.Exited():
		return e
	case <-time.After(s.opt.StopTimeout):
		return Exit{Code: -1, Err: errors.New("did not exit after SIGKILL")}
	}
}

// prepare copies the spec and adds what is known only at boot: the notify
// socket, extra environment, and missing bind sources.
func (s *Supervisor) prepare(st *svcState) (*specs.Spec, error) {
	b, err := json.Marshal(st.svc.Spec)
	if err != nil {
		return nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, err
	}
	if spec.Process != nil {
		spec.Process.Env = append(spec.Process.Env, st.svc.Env...)
	}
	if st.svc.Notify {
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/run/notify", Type: "bind", Source: filepath.Join(s.opt.NotifyDir, st.svc.Name), Options: []string{"bind", "rw"}})
		if spec.Process != nil {
			spec.Process.Env = append(spec.Process.Env, notify.Env+"=/run/notify/notify.sock")
		}
	}
	for _, m := range spec.Mounts {
		if m.Type != "bind" {
			continue
		}
		if _, err := os.Stat(m.Source); os.IsNotExist(err) && (strings.HasPrefix(m.Source, "/run/") || strings.HasPrefix(m.Source, "/var/")) {
			os.MkdirAll(m.Source, 0o755)
		}
	}
	return &spec, nil
}

func (s *Supervisor) listenNotify(st *svcState) error {
	dir := filepath.Join(s.opt.NotifyDir, st.svc.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("service %s: notify socket: %w", st.svc.Name, err)
	}
	path := filepath.Join(dir, "notify.sock")
	os.Remove(path)
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("service %s: notify socket: %w", st.svc.Name, err)
	}
	st.notifyLn = ln
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ln.Read(buf)
			if err != nil {
				return
			}
			f := notify.Parse(buf[:n])
			if f["STATUS"] != "" {
				s.opt.Logf("service %s: %s", st.svc.Name, f["STATUS"])
			}
			if f["READY"] == "1" {
				select {
				case st.notifyCh <- struct{}{}:
				default:
				}
			}
		}
	}()
	return nil
}

// State is where a service is in its life.
type State string

// Service states, as hostctl service list shows them.
const (
	StateStarting   State = "starting"
	StateRunning    State = "running"
	StateRestarting State = "restarting"
	StateStopped    State = "stopped"
	StateFailed     State = "failed"
)

// Status is one service's state, as the supervisor sees it.
type Status struct {
	Name     string
	State    State
	PID      int
	Started  time.Time // zero unless a process is up
	Restarts int
	Error    string
}

// List returns every service's status in start order.
func (s *Supervisor) List() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.order))
	for _, n := range s.order {
		st := s.svcs[n]
		a := Status{Name: n, State: st.state, PID: st.pid, Restarts: st.restarts, Error: st.err}
		if st.state == StateRunning || st.state == StateStarting && st.pid > 0 {
			a.Started = st.started
		}
		out = append(out, a)
	}
	return out
}

// Signal sends sig to a running service's main process (e.g. SIGHUP to
// make it read its configuration again).
func (s *Supervisor) Signal(name string, sig syscall.Signal) error {
	s.mu.Lock()
	st, ok := s.svcs[name]
	var t Task
	if ok {
		t = st.task
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("service %s: %w", name, ErrUnknown)
	}
	if t == nil {
		return fmt.Errorf("service %s: %w", name, ErrNotRunning)
	}
	return t.Signal(context.Background(), sig)
}

// Restart stops a service's task; the supervisor starts it again at once
// (as after any exit, counting a restart).
func (s *Supervisor) Restart(ctx context.Context, name string) error {
	s.mu.Lock()
	st, ok := s.svcs[name]
	var t Task
	if ok {
		t = st.task
		st.quickRestart = true
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("service %s: %w", name, ErrUnknown)
	}
	if t == nil {
		return fmt.Errorf("service %s: %w", name, ErrNotRunning)
	}
	return t.Signal(ctx, syscall.SIGTERM)
}

// Has says whether a service is known.
func (s *Supervisor) Has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.svcs[name]
	return ok
}

// StopAll stops every service in reverse start order and waits for each.
func (s *Supervisor) StopAll() {
	s.mu.Lock()
	order := append([]string(nil), s.order...)
	s.mu.Unlock()
	for i := len(order) - 1; i >= 0; i-- {
		s.mu.Lock()
		st := s.svcs[order[i]]
		s.mu.Unlock()
		select {
		case <-st.stop:
		default:
			close(st.stop)
		}
		<-st.done
		s.opt.Alertf("service %s: stopped", order[i])
	}
}
