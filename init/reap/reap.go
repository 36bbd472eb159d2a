// Package reap is PID 1's child reaper. Orphans (containerd shims, a killed
// service's children) are re-parented to PID 1 and must be waited for, or
// they stay zombies. Every wait goes through one loop, so the exit status of
// a process PID 1 started itself is handed to whoever started it and is not
// lost to the loop.
package reap

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Reaper waits for every child of this process.
type Reaper struct {
	mu        sync.Mutex
	waiters   map[int]chan syscall.WaitStatus
	unclaimed map[int]syscall.WaitStatus // exited before Start registered them
	reaped    int                        // orphans reaped, for tests and logs
}

// New returns a reaper; call Run to start reaping.
func New() *Reaper {
	return &Reaper{waiters: map[int]chan syscall.WaitStatus{}, unclaimed: map[int]syscall.WaitStatus{}}
}

// Run reaps on every SIGCHLD until stop is closed.
func (r *Reaper) Run(stop <-chan struct{}) {
	sig := make(chan os.Signal, 64)
	signal.Notify(sig, syscall.SIGCHLD)
	defer signal.Stop(sig)
	r.ReapAll()
	for {
		select {
		case <-stop:
			return
		case <-sig:
			r.ReapAll()
		}
	}
}

// ReapAll waits for every child that has exited, without blocking.
func (r *Reaper) ReapAll() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		r.mu.Lock()
		if ch, ok := r.waiters[pid]; ok {
			delete(r.waiters, pid)
			ch <- syscall.WaitStatus(ws)
		} else {
			r.unclaimed[pid] = syscall.WaitStatus(ws)
			r.reaped++
			if len(r.unclaimed) > 4096 { // orphans nobody will claim
				r.unclaimed = map[int]syscall.WaitStatus{}
			}
		}
		r.mu.Unlock()
	}
}

// Reaped counts the processes reaped that nobody started through Start.
func (r *Reaper) Reaped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reaped
}

// Start starts cmd and returns a channel that receives its wait status.
// Never call cmd.Wait on it: the reaper owns the wait. cmd's Stdin, Stdout
// and Stderr must be nil or *os.File, since nothing copies for them.
func (r *Reaper) Start(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error) {
	for _, f := range []any{cmd.Stdin, cmd.Stdout, cmd.Stderr} {
		if f == nil {
			continue
		}
		if _, ok := f.(*os.File); !ok {
			return nil, fmt.Errorf("reap: %s: stdio must be *os.File, got %T", cmd.Path, f)
		}
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	if ws, ok := r.unclaimed[pid]; ok {
		delete(r.unclaimed, pid)
		r.reaped--
		ch <- ws
		return ch, nil
	}
	r.waiters[pid] = ch
	return ch, nil
}

// RunCmd starts cmd and waits for it; a non-zero exit is an error.
func (r *Reaper) RunCmd(cmd *exec.Cmd) error {
	ch, err := r.Start(cmd)
	if err != nil {
		return err
	}
	return statusErr(cmd.Path, <-ch)
}

// Output runs cmd and returns its standard output, as exec.Cmd's Output
// does, with the reaper owning the wait: cmd.Output's own wait races with
// the reaper, which may take the exit first ("no child processes"). A
// non-zero exit is an error, returned with the output.
func (r *Reaper) Output(cmd *exec.Cmd) ([]byte, error) {
	if cmd.Stdout != nil {
		return nil, errors.New("reap: Output: Stdout already set")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = pw
	ch, err := r.Start(cmd)
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, err
	}
	out, rerr := io.ReadAll(pr)
	pr.Close()
	if err := statusErr(cmd.Path, <-ch); err != nil {
		return out, err
	}
	return out, rerr
}

// statusErr is nil for an exit with 0, and otherwise says how path ended.
func statusErr(path string, ws syscall.WaitStatus) error {
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		return nil
	case ws.Exited():
		return fmt.Errorf("%s: exit status %d", path, ws.ExitStatus())
	case ws.Signaled():
		return fmt.Errorf("%s: killed by %s", path, ws.Signal())
	}
	return fmt.Errorf("%s: %v", path, ws)
}
