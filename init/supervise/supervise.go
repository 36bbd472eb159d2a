// Package supervise runs PID 1's system services as containers and keeps
// them running: it starts each in order, waits for it to be ready, restarts
// it with a capped backoff when it dies (never a hot loop, and never giving
// up: a broken service comes back once it is fixed), starts it again at
// once when asked (hostctl service restart), and stops them all in reverse
// order at shutdown. The container runtime sits behind a narrow
// seam (Runtime) so the state machine is tested without containerd.
package supervise

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
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
	ErrStopped    = errors.New("stopped for shutdown")
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
	// ReadyAttempts is how many failed starts boot waits through before it
	// hears that a service that was never ready failed (3). Supervision
	// goes on regardless: the service is retried for ever.
	ReadyAttempts int
	MinBackoff    time.Duration // the first wait before a restart (1 s)
	MaxBackoff    time.Duration // the longest (60 s)
	StableAfter   time.Duration // a run this long resets the backoff (30 s)
	StopTimeout   time.Duration // SIGTERM to SIGKILL
	// CallTimeout bounds every call to the runtime but a start (30 s):
	// signalling and deleting a task. A wedged containerd fails the call
	// instead of hanging PID 1.
	CallTimeout time.Duration
	// StartTimeout bounds starting a task (2 minutes): the first start also
	// starts the shim, which under emulation on a busy machine has taken
	// more than 30 s.
	StartTimeout time.Duration
	// StopAllTimeout bounds StopAll as a whole (30 s): a service still
	// there after it is killed directly, without its runtime.
	StopAllTimeout time.Duration
	// CgroupRoot is where cgroup2 is mounted (/sys/fs/cgroup): a service's
	// cgroup.kill there ends all its processes when its runtime does not.
	CgroupRoot string
	// Kill signals a process directly (syscall.Kill); tests record it.
	Kill   func(pid int, sig syscall.Signal) error
	Clock  Clock // the backoff's time; the wall clock when nil
	Logf   func(format string, args ...any)
	Alertf func(format string, args ...any) // failures worth a console line

	Output func(svc, stream string) io.Writer
}

// Supervisor owns the services.
type Supervisor struct {
	rt    Runtime
	opt   Options
	mu    sync.Mutex
	order []string
	svcs  map[string]*svcState
	// closing: StopAll has begun; nothing starts any more (control.go).
	closing bool
}

type svcState struct {
	svc       Service
	state     State
	pid       int
	started   time.Time
	restarts  int
	nextRetry time.Time // when restarting: the next start
	err       string
	task      Task
	stop      chan struct{} // closed by requestStop
	stopOnce  sync.Once
	done      chan struct{}
	ready     chan error    // boot waits on the first value
	kick      chan struct{} // Restart: start again now, with a fresh backoff
	notifyCh  chan struct{}
	notifyLn  *net.UnixConn
	backoff   Backoff // the loop's alone
	// held: stopped by hand (Stop in control.go), kept stopped until
	// started by hand.
	held     bool
	lastExit *Exit // how the last run ended, nil before the first end
	exitAt   time.Time
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
		opt.MaxBackoff = time.Minute
	}
	if opt.StableAfter == 0 {
		opt.StableAfter = 30 * time.Second
	}
	if opt.ReadyAttempts == 0 {
		opt.ReadyAttempts = 3
	}
	if opt.Clock == nil {
		opt.Clock = realClock{}
	}
	if opt.StopTimeout == 0 {
		opt.StopTimeout = 10 * time.Second
	}
	if opt.CallTimeout == 0 {
		opt.CallTimeout = 30 * time.Second
	}
	if opt.StartTimeout == 0 {
		opt.StartTimeout = 2 * time.Minute
	}
	if opt.StopAllTimeout == 0 {
		opt.StopAllTimeout = 30 * time.Second
	}
	if opt.CgroupRoot == "" {
		opt.CgroupRoot = "/sys/fs/cgroup"
	}
	if opt.Kill == nil {
		opt.Kill = syscall.Kill
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
	st := &svcState{svc: svc, state: StateStarting, stop: make(chan struct{}), done: make(chan struct{}), ready: make(chan error, 1),
		kick: make(chan struct{}, 1), notifyCh: make(chan struct{}, 4),
		backoff: Backoff{Min: s.opt.MinBackoff, Max: s.opt.MaxBackoff, StableAfter: s.opt.StableAfter}}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return func() error { return fmt.Errorf("service %s: %w", svc.Name, ErrStopped) }
	}
	if old, dup := s.svcs[svc.Name]; dup {
		if err := old.replaceable(); err != nil {
			s.mu.Unlock()
			return func() error { return fmt.Errorf("service %s: %w", svc.Name, err) }
		}
		st.restarts = old.restarts // started by hand after a stop by hand
		st.lastExit, st.exitAt = old.lastExit, old.exitAt
	} else {
		s.order = append(s.order, svc.Name)
	}
	s.svcs[svc.Name] = st
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

// loop supervises one service until it is stopped. A panic in it is
// logged and the supervision starts over after the longest backoff: PID 1
// never dies of it, and the service is not left alone.
func (s *Supervisor) loop(ctx context.Context, st *svcState) {
	defer close(st.done)
	defer func() {
		if st.notifyLn != nil {
			st.notifyLn.Close()
		}
	}()
	for !s.supervise(ctx, st) {
		if !s.wait(st, s.opt.MaxBackoff) {
			s.set(st, func() { st.state = StateStopped; st.pid = 0; st.task = nil })
			return
		}
	}
}

// supervise starts, watches and restarts one service until it is stopped
// (true), or until a panic (false).
func (s *Supervisor) supervise(ctx context.Context, st *svcState) (stopped bool) {
	name := st.svc.Name
	defer func() {
		if r := recover(); r != nil {
			s.opt.Alertf("service %s: supervisor panic: %v\n%s", name, r, debug.Stack())
			s.set(st, func() { st.state = StateRestarting; st.err = fmt.Sprintf("supervisor panic: %v", r) })
			stopped = false
		}
	}()
	// tries counts the failures before the service was ready once: after
	// ReadyAttempts of them, boot hears of the failure (and goes on).
	tries := 0
	everReady := false
	failed := func(msg string) {
		tries++
		if !everReady && tries >= s.opt.ReadyAttempts {
			s.signalReady(st, fmt.Errorf("service %s: %s", name, msg))
		}
	}
	for {
		select {
		case <-st.stop:
			s.set(st, func() { st.state = StateStopped; st.pid = 0; st.task = nil })
			s.signalReady(st, errors.New("stopped"))
			return true
		default:
		}
		// Drop readiness left over from an earlier run, and a restart asked
		// for before this start, which this start is.
		for len(st.notifyCh) > 0 {
			<-st.notifyCh
		}
		select {
		case <-st.kick:
		default:
		}
		spec, err := s.prepare(st)
		var task Task
		if err == nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.StartTimeout)
			task, err = s.rt.Start(cctx, name, spec, s.opt.Output(name, "stdout"), s.opt.Output(name, "stderr"))
			cancel()
		}
		if err != nil {
			msg := "start: " + err.Error()
			s.opt.Logf("service %s: %s", name, msg)
			failed(msg)
			if !s.retry(st, 0, msg) {
				return true
			}
			continue
		}
		started := s.opt.Clock.Now()
		s.set(st, func() {
			st.task, st.pid, st.started, st.err = task, task.PID(), started, ""
			if !st.svc.Notify {
				st.state = StateRunning
			}
		})
		if !st.svc.Notify {
			everReady = true
			s.signalReady(st, nil)
		}
		var exit Exit
		stopped, asked := false, false
	wait:
		for {
			select {
			case <-st.notifyCh:
				s.set(st, func() { st.state = StateRunning })
				everReady = true
				s.signalReady(st, nil)
			case exit = <-task.Exited():
				break wait
			case <-st.kick:
				asked = true
				exit = s.terminate(ctx, st, task)
				break wait
			case <-st.stop:
				stopped = true
				exit = s.terminate(ctx, st, task)
				break wait
			}
		}
		dctx, cancel := s.call(ctx)
		if err := task.Delete(dctx); err != nil {
			s.opt.Logf("service %s: %v", name, err)
		}
		cancel()
		s.exited(st, exit)
		ran := s.opt.Clock.Now().Sub(started)
		if stopped {
			s.set(st, func() { st.state = StateStopped; st.pid = 0; st.task = nil })
			s.signalReady(st, errors.New("stopped"))
			return true
		}
		msg := fmt.Sprintf("exited with status %d after %s", exit.Code, ran.Round(time.Millisecond))
		if exit.Err != nil {
			msg = fmt.Sprintf("exited after %s: %v", ran.Round(time.Millisecond), exit.Err)
		}
		s.opt.Logf("service %s: %s", name, msg)
		if asked {
			st.backoff.Reset()
			s.set(st, func() { st.restarts++; st.state = StateStarting; st.pid = 0; st.task = nil })
			continue
		}
		policy := st.svc.Restart
		if policy == "never" || (policy == "on-failure" && exit.Code == 0 && exit.Err == nil) {
			final := StateStopped
			if exit.Code != 0 || exit.Err != nil {
				final = StateFailed
			}
			s.set(st, func() { st.state = final; st.pid = 0; st.task = nil; st.err = msg })
			s.signalReady(st, fmt.Errorf("service %s: %s", name, msg))
			// Done by its policy; only a restart by hand starts it again.
			select {
			case <-st.kick:
				st.backoff.Reset()
				s.set(st, func() { st.restarts++; st.state = StateStarting })
				continue
			case <-st.stop:
				s.set(st, func() { st.state = StateStopped })
				return true
			}
		}
		failed(msg)
		if !s.retry(st, ran, msg) {
			return true
		}
	}
}

// retry waits out the backoff after a failure that ended a run of ran (0
// for a start that failed), or less when a restart is asked for; false
// means the service is being stopped.
func (s *Supervisor) retry(st *svcState, ran time.Duration, msg string) bool {
	name := st.svc.Name
	d := st.backoff.Failed(ran)
	next := s.opt.Clock.Now().Add(d)
	s.set(st, func() { st.state = StateRestarting; st.pid = 0; st.task = nil; st.err = msg; st.nextRetry = next })
	if n := st.backoff.Failures(); d == s.opt.MaxBackoff && n > 1 && (n-1)&n == 0 {
		// Alerts for a service that keeps failing, ever less often:
		// failure 8, 16, 32... once the backoff is at its cap.
		s.opt.Alertf("service %s: failed %d times in a row (%s); retrying every %s until it starts (hostctl service restart %s retries now)", name, n, msg, d, name)
	} else {
		s.opt.Logf("service %s: restarting in %s", name, d)
	}
	select {
	case <-s.opt.Clock.After(d):
	case <-st.kick:
		st.backoff.Reset()
	case <-st.stop:
		s.set(st, func() { st.state = StateStopped; st.nextRetry = time.Time{} })
		return false
	}
	s.set(st, func() { st.restarts++; st.state = StateStarting; st.nextRetry = time.Time{} })
	return true
}

// wait waits d of the supervisor's clock unless the service is being
// stopped; false means stop.
func (s *Supervisor) wait(st *svcState, d time.Duration) bool {
	select {
	case <-s.opt.Clock.After(d):
		return true
	case <-st.stop:
		return false
	}
}

// call is the context of one call to the runtime: it outlives ctx's
// cancellation (a stop must still reach the task) but has a deadline of
// its own.
func (s *Supervisor) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.opt.CallTimeout)
}

// terminate stops a task: SIGTERM, and after StopTimeout SIGKILL. When
// the runtime cannot deliver the SIGKILL (a wedged containerd), the
// service's processes are killed directly.
func (s *Supervisor) terminate(ctx context.Context, st *svcState, t Task) Exit {
	signal := func(sig syscall.Signal) error {
		cctx, cancel := s.call(ctx)
		defer cancel()
		return t.Signal(cctx, sig)
	}
	if err := signal(syscall.SIGTERM); err != nil {
		s.opt.Logf("service %s: SIGTERM: %v", st.svc.Name, err)
	}
	select {
	case e := <-t.Exited():
		return e
	case <-time.After(s.opt.StopTimeout):
	}
	if err := signal(syscall.SIGKILL); err != nil {
		s.opt.Logf("service %s: SIGKILL through the runtime: %v; killing it directly", st.svc.Name, err)
		s.kill(st)
	}
	select {
	case e := <-t.Exited():
		return e
	case <-time.After(s.opt.StopTimeout):
		return Exit{Code: -1, Err: errors.New("did not exit after SIGKILL")}
	}
}

// kill ends a service without its runtime, for when the runtime does not
// answer: SIGKILL to every process of the service's cgroup (cgroup.kill)
// and to its main process.
func (s *Supervisor) kill(st *svcState) {
	s.mu.Lock()
	pid := st.pid
	s.mu.Unlock()
	var errs []error
	if p := s.cgroupKill(st.svc); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteString("1")
			f.Close()
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("cgroup: %w", err))
		}
	}
	if pid > 0 {
		if err := s.opt.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("pid %d: %w", pid, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.opt.Logf("service %s: kill: %v", st.svc.Name, err)
	}
}

// cgroupKill is the cgroup.kill file of a service's cgroup, "" when its
// spec names none that cgroupfs has (runc's systemd form slice:prefix:name
// is not one).
func (s *Supervisor) cgroupKill(svc Service) string {
	if svc.Spec == nil || svc.Spec.Linux == nil || svc.Spec.Linux.CgroupsPath == "" || strings.Contains(svc.Spec.Linux.CgroupsPath, ":") {
		return ""
	}
	return filepath.Join(s.opt.CgroupRoot, filepath.Clean("/"+svc.Spec.Linux.CgroupsPath), "cgroup.kill")
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
			s.notified(st, buf[:n])
		}
	}()
	return nil
}

// notified handles one message on a service's notify socket. What a
// service sends cannot take PID 1 down: a panic is logged.
func (s *Supervisor) notified(st *svcState, msg []byte) {
	defer func() {
		if r := recover(); r != nil {
			s.opt.Logf("service %s: notify message %q: panic: %v", st.svc.Name, msg, r)
		}
	}()
	f := notify.Parse(msg)
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
	Name      string
	State     State
	PID       int
	Started   time.Time // zero unless a process is up
	Restarts  int
	NextRetry time.Time // when restarting: the next start; zero otherwise
	Error     string
}

// List returns every service's status in start order.
func (s *Supervisor) List() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.order))
	for _, n := range s.order {
		st := s.svcs[n]
		a := Status{Name: n, State: st.state, PID: st.pid, Restarts: st.restarts, NextRetry: st.nextRetry, Error: st.err}
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
	ctx, cancel := s.call(context.Background())
	defer cancel()
	return t.Signal(ctx, sig)
}

// Restart starts a service again at once, with its backoff reset: a
// running one is stopped first (SIGTERM, then SIGKILL), one waiting out its
// backoff or stopped by its restart policy starts now. It returns at once;
// List shows the outcome.
func (s *Supervisor) Restart(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.svcs[name]
	if !ok {
		return fmt.Errorf("service %s: %w", name, ErrUnknown)
	}
	select {
	case <-st.stop:
		return fmt.Errorf("service %s: %w", name, ErrStopped)
	default:
	}
	select {
	case <-st.done: // its notify socket failed: it never started
		return fmt.Errorf("service %s: %w", name, ErrNotRunning)
	default:
	}
	select {
	case st.kick <- struct{}{}:
	default: // one is pending already
	}
	return nil
}

// Has says whether a service is known.
func (s *Supervisor) Has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.svcs[name]
	return ok
}

// requestStop tells a service's loop to stop it; it may be called more
// than once.
func (st *svcState) requestStop() { st.stopOnce.Do(func() { close(st.stop) }) }

// StopAll stops every service in reverse start order and waits for each,
// for StopAllTimeout at most in all: then what is left is killed directly
// (its cgroup and its main process) and StopAll returns, so that a wedged
// containerd cannot hold shutdown.
func (s *Supervisor) StopAll() {
	s.mu.Lock()
	s.closing = true
	order := append([]string(nil), s.order...)
	s.mu.Unlock()
	timeout := time.NewTimer(s.opt.StopAllTimeout)
	defer timeout.Stop()
	for i := len(order) - 1; i >= 0; i-- {
		s.mu.Lock()
		st := s.svcs[order[i]]
		s.mu.Unlock()
		st.requestStop()
		select {
		case <-st.done:
			s.opt.Alertf("service %s: stopped", order[i])
			continue
		case <-timeout.C:
		}
		for j := i; j >= 0; j-- {
			name := order[j]
			s.mu.Lock()
			st := s.svcs[name]
			s.mu.Unlock()
			st.requestStop()
			select {
			case <-st.done:
				continue
			default:
			}
			s.kill(st)
			s.opt.Alertf("service %s: not stopped after %s; killed", name, s.opt.StopAllTimeout)
		}
		return
	}
}
