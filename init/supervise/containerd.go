package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Namespace is the containerd namespace of system services.
const Namespace = "system"

// Containerd is the Runtime backed by the system containerd.
type Containerd struct {
	Client *containerd.Client
	// RuncRoot is runc's state folder of the services' containers, and
	// FIFODir the folder of their stdio FIFOs; "" is containerd's default
	// (under /run/containerd), which on Berth is the user containerd's.
	RuncRoot, FIFODir string
	// Runtime is the OCI runtime program the shim runs for the services'
	// containers; "" is runc.
	Runtime string
	// Tracef, when set, hears how long each step of a start took (berth.debug:
	// where a boot's services phase goes).
	Tracef func(format string, args ...any)

	shim anchor // the live task whose shim the next tasks join
}

// trace reports a step's time since *t and moves *t on.
func (c *Containerd) trace(name, step string, t *time.Time) {
	if c.Tracef != nil {
		now := time.Now()
		c.Tracef("service %s: %s in %.3fs", name, step, now.Sub(*t).Seconds())
		*t = now
	}
}

// Connect waits for containerd's socket to answer, up to timeout.
func Connect(ctx context.Context, socket string, timeout time.Duration) (*Containerd, error) {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		c, err := containerd.New(socket, containerd.WithDefaultNamespace(Namespace), containerd.WithTimeout(2*time.Second))
		if err == nil {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = c.Version(sctx)
			cancel()
			if err == nil {
				return &Containerd{Client: c}, nil
			}
			c.Close()
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("containerd at %s did not answer in %s: %w", socket, timeout, lastErr)
}

// Start replaces a container left from an earlier boot and starts the task.
func (c *Containerd) Start(ctx context.Context, name string, spec *specs.Spec, stdout, stderr io.Writer) (Task, error) {
	ctx = namespaces.WithNamespace(ctx, Namespace)
	t0 := time.Now()
	if old, err := c.Client.LoadContainer(ctx, name); err == nil {
		c.shim.drop(name)
		if t, err := old.Task(ctx, nil); err == nil {
			t.Kill(ctx, syscall.SIGKILL)
			t.Delete(ctx, containerd.WithProcessKill)
		}
		if err := old.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("remove old container %s: %w", name, err)
		}
	}
	// Every service's task runs in one shim (spec.go's group annotation).
	// The first task starts it, through the shim's start command; the
	// next join it through containerd's sandbox path, with no command run.
	// When the task joined is gone, the retry starts a shim of its own.
	var cont containerd.Container
	var task containerd.Task
	for try := 0; ; try++ {
		join, lead := c.shim.join(ctx)
		var err error
		cont, task, err = c.newTask(ctx, name, spec, join, stdout, stderr, &t0)
		if lead {
			c.shim.led(name, err == nil)
		}
		if err == nil {
			break
		}
		// NotFound: containerd has no task join any more.
		if join == "" || try > 0 || !errdefs.IsNotFound(err) {
			return nil, err
		}
		c.shim.drop(join)
	}
	waitCtx, cancelWait := context.WithCancel(context.WithoutCancel(ctx))
	statusCh, err := task.Wait(waitCtx)
	if err != nil {
		cancelWait()
		task.Delete(ctx)
		cont.Delete(ctx)
		return nil, fmt.Errorf("wait task %s: %w", name, err)
	}
	if err := task.Start(ctx); err != nil {
		cancelWait()
		task.Delete(ctx)
		cont.Delete(ctx)
		return nil, fmt.Errorf("start task %s: %w", name, err)
	}
	c.trace(name, "task started (OCI runtime start)", &t0)
	t := &ctrTask{cont: cont, task: task, exited: make(chan Exit, 1), cancel: cancelWait, shim: &c.shim}
	go func() {
		st := <-statusCh
		code, _, err := st.Result()
		t.exited <- Exit{Code: int(code), Err: err}
	}()
	return t, nil
}

// newTask creates the container and its task, in the shim of the task
// join when join is not "".
func (c *Containerd) newTask(ctx context.Context, name string, spec *specs.Spec, join string, stdout, stderr io.Writer, t0 *time.Time) (containerd.Container, containerd.Task, error) {
	var rt any
	if c.RuncRoot != "" || c.Runtime != "" {
		rt = &options.Options{Root: c.RuncRoot, BinaryName: c.Runtime}
	}
	opts := []containerd.NewContainerOpts{containerd.WithSpec(spec), containerd.WithRuntime(plugins.RuntimeRuncV2, rt)}
	how := "task created (shim, OCI runtime create)"
	if join != "" {
		release, err := c.shim.record(ctx, c.Client.SandboxStore(), join)
		if err != nil {
			return nil, nil, fmt.Errorf("create task %s: join %s's shim: %w", name, join, err)
		}
		defer release()
		opts = append(opts, containerd.WithSandbox(join))
		how = "task created (joined " + join + "'s shim, OCI runtime create)"
	}
	cont, err := c.Client.NewContainer(ctx, name, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("create container %s: %w", name, err)
	}
	c.trace(name, "container created", t0)
	ioOpts := []cio.Opt{cio.WithStreams(nil, stdout, stderr)}
	if c.FIFODir != "" {
		ioOpts = append(ioOpts, cio.WithFIFODir(c.FIFODir))
	}
	task, err := cont.NewTask(ctx, cio.NewCreator(ioOpts...))
	if err != nil {
		cont.Delete(ctx)
		return nil, nil, fmt.Errorf("create task %s: %w", name, err)
	}
	c.trace(name, how, t0)
	return cont, task, nil
}

type ctrTask struct {
	cont   containerd.Container
	task   containerd.Task
	exited chan Exit
	cancel context.CancelFunc
	execs  atomic.Int64 // numbers the exec IDs
	shim   *anchor
}

func (t *ctrTask) PID() int            { return int(t.task.Pid()) }
func (t *ctrTask) Exited() <-chan Exit { return t.exited }

func (t *ctrTask) Signal(ctx context.Context, sig syscall.Signal) error {
	ctx = namespaces.WithNamespace(ctx, Namespace)
	err := t.task.Kill(ctx, sig)
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

func (t *ctrTask) Delete(ctx context.Context) error {
	ctx = namespaces.WithNamespace(ctx, Namespace)
	t.cancel()
	t.shim.drop(t.cont.ID())
	_, err := t.task.Delete(ctx)
	if err != nil && !errdefs.IsNotFound(err) {
		err = fmt.Errorf("delete task: %w", err)
	} else {
		err = nil
	}
	if cerr := t.cont.Delete(ctx); cerr != nil && !errdefs.IsNotFound(cerr) {
		err = errors.Join(err, fmt.Errorf("delete container: %w", cerr))
	}
	return err
}

// Exec runs args in the task's container as a process like its own (the
// spec's user, environment, capabilities...) with only the arguments
// changed: what a healthcheck runs.
func (t *ctrTask) Exec(ctx context.Context, args []string, out io.Writer) (int, error) {
	ctx = namespaces.WithNamespace(ctx, Namespace)
	spec, err := t.cont.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec %s: container spec: %w", args[0], err)
	}
	if spec.Process == nil {
		return -1, fmt.Errorf("exec %s: the container's spec has no process", args[0])
	}
	p := *spec.Process
	p.Args, p.Terminal, p.ConsoleSize = args, false, nil
	id := fmt.Sprintf("exec-%d", t.execs.Add(1))
	proc, err := t.task.Exec(ctx, id, &p, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		return -1, fmt.Errorf("exec %s: %w", args[0], err)
	}
	// The process is deleted even when ctx has ended, within a deadline.
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		proc.Delete(dctx, containerd.WithProcessKill)
	}()
	statusCh, err := proc.Wait(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec %s: wait: %w", args[0], err)
	}
	if err := proc.Start(ctx); err != nil {
		return -1, fmt.Errorf("exec %s: start: %w", args[0], err)
	}
	select {
	case st := <-statusCh:
		code, _, err := st.Result()
		if err != nil {
			return -1, fmt.Errorf("exec %s: %w", args[0], err)
		}
		return int(code), nil
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}
