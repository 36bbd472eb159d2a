// Package supervise runs PID 1's system services as containers and keeps
// them running: it starts each as soon as what it depends on is there
// (started, healthy or completed: see Dependency), all in parallel, waits
// for it to be ready, runs one-shot services to completion, checks health
// (see Health), restarts a service with a capped backoff when it dies or
// turns unhealthy (never a hot loop, and never giving up: a broken service
// comes back once it is fixed), starts it again at once when asked
// (hostctl service restart), and stops them all at shutdown, dependents
// before what they depend on. The container runtime sits behind a narrow
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
	"slices"
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
	// Exec runs args beside the task (in its container, as its process
	// runs), with stdout and stderr to out, and returns the exit status.
	// When ctx ends the process is killed.
	Exec(ctx context.Context, args []string, out io.Writer) (int, error)
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
	// Oneshot runs to completion: exit 0 completes it, and it is not
	// started again (but by hand); a failure is retried with the backoff
	// unless the policy is "never". It counts as started, for what depends
	// on it or comes after it, once it has completed.
	Oneshot bool
	// DependsOn are services it requires: it starts once each has reached
	// its condition, and is blocked when one cannot. They gate its first
	// start only: a restart does not wait for them again.
	DependsOn []Dependency
	// After are services it starts after, once they are started, when
	// they are supervised here; one that is absent, fails or does not
	// start within the ready timeout is not waited for.
	After  []string
	Health *Health // nil: none
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
	Kill func(pid int, sig syscall.Signal) error
	// ProcDir is where procfs is mounted (/proc): a file or socket
	// healthcheck looks in ProcDir/PID/root, the service's root with its
	// mounts, or in its spec's root when that is not there.
	ProcDir string
	Clock   Clock // the backoff's time; the wall clock when nil
	Logf    func(format string, args ...any)
	Alertf  func(format string, args ...any) // failures worth a console line
	// Tracef, when set, hears how long a notify service took from its
	// task's start to READY=1 (the boot timeline in make bench).
	Tracef func(format string, args ...any)

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
	// changed is closed, and replaced, whenever a service's state changes:
	// what waits for a dependency waits on it.
	changed chan struct{}
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

	launched   time.Time     // when it stopped waiting for dependencies
	launchedCh chan struct{} // closed then
	waitingOn  string        // what it waits for, while waiting or blocked
	wasReady   bool          // started (ready) at least once
	wasHealthy bool          // its healthcheck has passed at least once
	completed  bool          // exited 0 and not started again by its policy
	readyErr   string        // why boot heard it failed to start
	health     HealthState
	healthErr  string // the last failed check, until one passes
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
	if opt.ProcDir == "" {
		opt.ProcDir = "/proc"
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
	return &Supervisor{rt: rt, opt: opt, svcs: map[string]*svcState{}, changed: make(chan struct{})}
}

// broadcast wakes what waits for a change of state; the caller holds s.mu.
func (s *Supervisor) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// StartAll starts every service as soon as what it waits for is there,
// all in parallel, and waits until each is ready (a oneshot: completed),
// has failed, or is blocked; errs[i] is the outcome of svcs[i]. A service
// that is not valid (a bad dependency or healthcheck, or one in a
// dependency cycle) is refused before anything starts, and the others
// still start; so does one whose requirement fails, which is reported as
// blocked.
func (s *Supervisor) StartAll(ctx context.Context, svcs []Service) []error {
	errs, sts := s.register(svcs)
	waits := make([]func() error, len(svcs))
	for i, st := range sts {
		if st != nil {
			waits[i] = s.launch(ctx, st)
		}
	}
	var wg sync.WaitGroup
	for i := range svcs {
		if waits[i] == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = waits[i]()
		}()
	}
	wg.Wait()
	return errs
}

// register checks svcs, all before any is taken, and takes the valid ones:
// sts[i] is svcs[i]'s state, or nil and errs[i] says why not. A service
// stopped by hand may be taken again (StartStopped); nothing is taken once
// StopAll has begun.
func (s *Supervisor) register(svcs []Service) (errs []error, sts []*svcState) {
	errs = make([]error, len(svcs))
	sts = make([]*svcState, len(svcs))
	s.mu.Lock()
	defer s.mu.Unlock()
	present := map[string]Service{}
	order := slices.Clone(s.order)
	for _, n := range s.order {
		present[n] = s.svcs[n].svc
	}
	batch := map[string]bool{}
	for i, svc := range svcs {
		if s.closing {
			errs[i] = fmt.Errorf("service %s: %w", svc.Name, ErrStopped)
			continue
		}
		if batch[svc.Name] {
			errs[i] = fmt.Errorf("service %s: already started", svc.Name)
			continue
		}
		if old, ok := s.svcs[svc.Name]; ok {
			if err := old.replaceable(); err != nil {
				errs[i] = fmt.Errorf("service %s: %w", svc.Name, err)
				continue
			}
		} else {
			order = append(order, svc.Name)
		}
		batch[svc.Name] = true
		present[svc.Name] = svc
	}
	for i, svc := range svcs {
		if errs[i] == nil {
			if err := validate(svc, present); err != nil {
				errs[i] = fmt.Errorf("service %s: %w", svc.Name, err)
			}
		}
	}
	cyc := cycles(order, present)
	for i, svc := range svcs {
		if c, ok := cyc[svc.Name]; ok && errs[i] == nil {
			errs[i] = fmt.Errorf("service %s: dependency cycle %s", svc.Name, c)
		}
	}
	for i, svc := range svcs {
		if errs[i] != nil {
			continue
		}
		st := &svcState{svc: svc, state: StateWaiting, stop: make(chan struct{}), done: make(chan struct{}), ready: make(chan error, 1),
			kick: make(chan struct{}, 1), notifyCh: make(chan struct{}, 4), launchedCh: make(chan struct{}),
			backoff: Backoff{Min: s.opt.MinBackoff, Max: s.opt.MaxBackoff, StableAfter: s.opt.StableAfter}}
		if old, ok := s.svcs[svc.Name]; ok {
			st.restarts = old.restarts // started by hand after a stop by hand
			st.lastExit, st.exitAt = old.lastExit, old.exitAt
		} else {
			s.order = append(s.order, svc.Name)
		}
		s.svcs[svc.Name] = st
		sts[i] = st
	}
	s.broadcast()
	return errs, sts
}

// Start begins supervising svc and waits until it is ready (running), has
// failed, or the ready timeout passes; the error says which. Supervision
// goes on in the background either way.
func (s *Supervisor) Start(ctx context.Context, svc Service) error {
	return s.StartAll(ctx, []Service{svc})[0]
}

// begin registers svc and starts its supervision loop; the returned
// function waits for readiness (Launch).
func (s *Supervisor) begin(ctx context.Context, svc Service) func() error {
	errs, sts := s.register([]Service{svc})
	if errs[0] != nil {
		return func() error { return errs[0] }
	}
	return s.launch(ctx, sts[0])
}

// launch starts a registered service's supervision loop; the returned
// function waits for readiness: the ready timeout runs from when its
// dependencies are met.
func (s *Supervisor) launch(ctx context.Context, st *svcState) func() error {
	name := st.svc.Name
	if st.svc.Notify {
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
		case <-st.launchedCh:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case err := <-st.ready:
			return err
		case <-time.After(s.opt.ReadyTimeout):
			return fmt.Errorf("service %s: not ready after %s", name, s.opt.ReadyTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// set changes a service's state and wakes what waits for a change.
func (s *Supervisor) set(st *svcState, f func()) {
	s.mu.Lock()
	f()
	s.broadcast()
	s.mu.Unlock()
}

// signalReady tells boot that a service is ready (nil) or why it is not,
// once; a failure before it was ever ready also tells its dependents.
func (s *Supervisor) signalReady(st *svcState, err error) {
	s.mu.Lock()
	if err == nil {
		st.wasReady, st.readyErr = true, ""
	} else if !st.wasReady && !st.completed && st.readyErr == "" {
		st.readyErr = strings.TrimPrefix(err.Error(), "service "+st.svc.Name+": ")
	}
	s.broadcast()
	s.mu.Unlock()
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
	started := s.awaitDependencies(st)
	s.set(st, func() {
		st.launched, st.waitingOn = time.Now(), ""
		if started {
			st.state, st.err = StateStarting, ""
		}
	})
	close(st.launchedCh)
	if !started {
		s.set(st, func() { st.state = StateStopped })
		s.signalReady(st, errors.New("stopped"))
		return
	}
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
		oneshot := st.svc.Oneshot
		// A oneshot is ready when it completes, not when it runs.
		readyAtStart := !st.svc.Notify && !oneshot
		s.set(st, func() {
			st.task, st.pid, st.started, st.err = task, task.PID(), started, ""
			if !st.svc.Notify || oneshot {
				st.state = StateRunning
			}
			if st.svc.Health != nil {
				st.health, st.healthErr = HealthStarting, ""
			}
		})
		if readyAtStart {
			everReady = true
			s.signalReady(st, nil)
		}
		sick := make(chan string, 1)
		hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
		hdone := make(chan struct{})
		if st.svc.Health != nil {
			go func() {
				defer close(hdone)
				s.watchHealth(hctx, st, task, sick)
			}()
		} else {
			close(hdone)
		}
		var exit Exit
		stopped, asked, unhealthy := false, false, ""
	wait:
		for {
			select {
			case <-st.notifyCh:
				if oneshot {
					continue
				}
				s.set(st, func() { st.state = StateRunning })
				if s.opt.Tracef != nil && !everReady {
					s.opt.Tracef("service %s: ready (READY=1 after its start) in %.3fs", name, s.opt.Clock.Now().Sub(started).Seconds())
				}
				everReady = true
				s.signalReady(st, nil)
			case exit = <-task.Exited():
				break wait
			case unhealthy = <-sick:
				exit = s.terminate(ctx, st, task)
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
		hcancel()
		<-hdone
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
		if unhealthy != "" {
			msg = unhealthy + "; " + msg
		}
		s.opt.Logf("service %s: %s", name, msg)
		if asked {
			st.backoff.Reset()
			s.set(st, func() { st.restarts++; st.state = StateStarting; st.pid = 0; st.task = nil })
			continue
		}
		policy := st.svc.Restart
		succeeded := exit.Code == 0 && exit.Err == nil && unhealthy == ""
		if oneshot && succeeded || unhealthy == "" && (policy == "never" || policy == "on-failure" && succeeded) {
			if oneshot && succeeded {
				st.backoff.Reset()
				s.set(st, func() { st.state = StateCompleted; st.completed = true; st.pid = 0; st.task = nil; st.err = "" })
				s.signalReady(st, nil)
			} else {
				final := StateStopped
				if !succeeded {
					final = StateFailed
				}
				s.set(st, func() {
					st.state, st.pid, st.task, st.err = final, 0, nil, msg
					st.completed = st.completed || succeeded
				})
				s.signalReady(st, fmt.Errorf("service %s: %s", name, msg))
			}
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
	// StateWaiting: not started yet, waiting for its dependencies.
	StateWaiting State = "waiting"
	// StateBlocked: not started, because a dependency it requires failed
	// or did not come in time; it still starts if the dependency comes.
	StateBlocked State = "blocked"
	// StateCompleted: a oneshot that exited 0.
	StateCompleted State = "completed"
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
	// Health is "" for a service without a healthcheck; HealthError is
	// its last failed check, until one passes.
	Health      HealthState
	HealthError string
	// WaitingOn names what a waiting or blocked service waits for.
	WaitingOn string
}

// List returns every service's status in start order.
func (s *Supervisor) List() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.order))
	for _, n := range s.order {
		st := s.svcs[n]
		a := Status{Name: n, State: st.state, PID: st.pid, Restarts: st.restarts, NextRetry: st.nextRetry, Error: st.err,
			Health: st.health, HealthError: st.healthErr, WaitingOn: st.waitingOn}
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

// StopAll stops every service, one at a time, dependents before what they
// depend on (or come after), and waits for each, for StopAllTimeout at
// most in all: then what is left is killed directly (its cgroup and its
// main process) and StopAll returns, so that a wedged containerd cannot
// hold shutdown.
func (s *Supervisor) StopAll() {
	s.mu.Lock()
	s.closing = true
	svcs := map[string]Service{}
	for n, st := range s.svcs {
		svcs[n] = st.svc
	}
	order := startOrder(s.order, svcs)
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
