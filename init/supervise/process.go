package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Processes is the Runtime of what runs on the host itself rather than in
// a container: the system containerd, which has to run before any
// container can. A supervisor over it restarts such a process with the
// same backoff as a service. Only the spec's process args, env and cwd are
// used.
type Processes struct {
	// Spawn starts cmd and delivers its wait status: PID 1's reaper, which
	// owns every wait. cmd's stdio are files.
	Spawn func(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error)
}

// Start runs spec.Process with its output copied to stdout (stdout and
// stderr share one pipe: the order of lines is kept).
func (p Processes) Start(ctx context.Context, name string, spec *specs.Spec, stdout, _ io.Writer) (Task, error) {
	if spec.Process == nil || len(spec.Process.Args) == 0 {
		return nil, fmt.Errorf("process %s: no args", name)
	}
	args := spec.Process.Args
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = spec.Process.Env
	cmd.Dir = spec.Process.Cwd
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("process %s: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	ch, err := p.Spawn(cmd)
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("process %s: start %s: %w", name, args[0], err)
	}
	t := &process{p: p, env: cmd.Env, dir: cmd.Dir, pid: cmd.Process.Pid, exited: make(chan Exit, 1)}
	copied := make(chan struct{})
	go func() {
		io.Copy(stdout, r)
		r.Close()
		close(copied)
	}()
	go func() {
		ws := <-ch
		<-copied // the last lines are out before the exit is
		t.exited <- exitOf(ws)
	}()
	return t, nil
}

type process struct {
	p      Processes
	env    []string
	dir    string
	pid    int
	exited chan Exit
}

func (t *process) PID() int                     { return t.pid }
func (t *process) Exited() <-chan Exit          { return t.exited }
func (t *process) Delete(context.Context) error { return nil }

// Signal sends sig to the process. SIGTERM is followed by SIGCONT, as
// systemd sends them: a stopped process (SIGSTOP, a debugger let go) would
// hold the TERM pending until its stop timeout ran out and SIGKILL came;
// so continued, it ends as it does when asked. A wedged system containerd
// stopped that way held shutdown 10 s.
func (t *process) Signal(_ context.Context, sig syscall.Signal) error {
	if err := syscall.Kill(t.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %d: %w", t.pid, err)
	}
	if sig == syscall.SIGTERM {
		syscall.Kill(t.pid, syscall.SIGCONT)
	}
	return nil
}

// Exec runs args on the host, with the environment and directory of the
// process, through Spawn; when ctx ends it is killed.
func (t *process) Exec(ctx context.Context, args []string, out io.Writer) (int, error) {
	if len(args) == 0 {
		return -1, errors.New("exec: no args")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env, cmd.Dir = t.env, t.dir
	r, w, err := os.Pipe()
	if err != nil {
		return -1, fmt.Errorf("exec %s: %w", args[0], err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	ch, err := t.p.Spawn(cmd)
	w.Close()
	if err != nil {
		r.Close()
		return -1, fmt.Errorf("exec %s: %w", args[0], err)
	}
	copied := make(chan struct{})
	go func() {
		io.Copy(out, r)
		r.Close()
		close(copied)
	}()
	select {
	case ws := <-ch:
		<-copied
		e := exitOf(ws)
		if e.Err != nil {
			return e.Code, fmt.Errorf("exec %s: %w", args[0], e.Err)
		}
		return e.Code, nil
	case <-ctx.Done():
		syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-ch
		return -1, ctx.Err()
	}
}

// exitOf turns a wait status into an Exit.
func exitOf(ws syscall.WaitStatus) Exit {
	switch {
	case ws.Exited():
		return Exit{Code: ws.ExitStatus()}
	case ws.Signaled():
		return Exit{Code: 128 + int(ws.Signal()), Err: fmt.Errorf("killed by %s", ws.Signal())}
	}
	return Exit{Code: -1, Err: fmt.Errorf("wait status %v", ws)}
}
