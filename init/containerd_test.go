package main

import (
	"fmt"
	"io/fs"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-os/berth/init/supervise"
	"github.com/berth-os/berth/internal/servicetest"
)

// A containerd that cannot be exec'd is retried with the services'
// backoff, however often that fails, and runs once it can: the restarter
// never stops for good, and boot is not stopped by the first failures.
func TestContainerdRestarterRetriesExec(t *testing.T) {
	h, _ := testHost(t, "")
	var mu sync.Mutex
	var calls []time.Time
	spawn := func(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error) {
		mu.Lock()
		calls = append(calls, time.Now())
		n := len(calls)
		mu.Unlock()
		if cmd.Path != "/usr/bin/containerd" {
			return nil, fmt.Errorf("spawned %s, want /usr/bin/containerd", cmd.Path)
		}
		if n <= 6 {
			return nil, &fs.PathError{Op: "fork/exec", Path: cmd.Path, Err: syscall.ENOENT}
		}
		// The seventh try works: a stand-in for containerd that runs until
		// it is stopped.
		cmd.Path, cmd.Args = "/bin/sleep", []string{"sleep", "1000"}
		return servicetest.Spawn(cmd)
	}
	start := time.Now()
	h.startContainerd(spawn, supervise.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, ReadyTimeout: 10 * time.Second})
	defer h.procs.StopAll()
	deadline := time.Now().Add(10 * time.Second)
	var l supervise.Status
	for {
		l = h.procs.List()[0]
		if l.State == supervise.StateRunning || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if l.Name != "containerd" || l.State != supervise.StateRunning || l.Restarts != 6 || l.PID == 0 {
		t.Fatalf("containerd %+v, want running after 6 restarts", l)
	}
	// Waits of 10, 20, 40, 40, 40, 40 ms between the tries: backoff, capped.
	mu.Lock()
	defer mu.Unlock()
	want := []time.Duration{10, 20, 40, 40, 40, 40}
	for i, w := range want {
		if gap := calls[i+1].Sub(calls[i]); gap < w*time.Millisecond || gap > w*time.Millisecond+2*time.Second {
			t.Errorf("wait before try %d: %s, want %d ms", i+2, gap, w)
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
	// Boot heard of the failing starts, and that they are retried.
	var log []string
	for _, l := range h.logs.Tail("init", 0) {
		log = append(log, l.Text)
	}
	if !strings.Contains(strings.Join(log, "\n"), "service containerd: start: process containerd: start /usr/bin/containerd: fork/exec /usr/bin/containerd: no such file or directory; retrying") {
		t.Errorf("init log:\n%s", strings.Join(log, "\n"))
	}
}

// The system containerd starts as the config phase begins, unless
// berth.break stops boot at a phase from config to containerd: there the
// rescue shell finds it not started. (A start here would spawn the real
// containerd, so only the refusals are run; the QEMU suite boots with the
// early start, and BreakToRescueShell checks the break.)
func TestContainerdNotStartedEarlyBeforeABreak(t *testing.T) {
	for _, at := range []string{"config", "etc", "sysctl", "apply", "containerd"} {
		h, _ := testHost(t, "berth.break="+at)
		h.startContainerdEarly()
		if h.procs != nil {
			t.Errorf("berth.break=%s: containerd started early", at)
		}
	}
}
