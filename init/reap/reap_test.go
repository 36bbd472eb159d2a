package reap

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test process becomes a subreaper so that orphans come to it, as they
// come to PID 1 on a real host.
func TestReapOrphansAndKeepStatuses(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal("PR_SET_CHILD_SUBREAPER:", err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	r := New()
	stop := make(chan struct{})
	defer close(stop)
	go r.Run(stop)

	// An orphan: sh starts a background sleep and exits at once.
	if err := r.RunCmd(exec.Command("/bin/sh", "-c", "sleep 0.2 & exit 0")); err != nil {
		t.Fatal(err)
	}
	// Our own child's exit status is delivered even while orphans are reaped.
	err := r.RunCmd(exec.Command("/bin/sh", "-c", "exit 3"))
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("err = %v, want exit status 3", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Reaped() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("orphan was not reaped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// No zombie children left.
	var ws unix.WaitStatus
	if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); err != unix.ECHILD && pid > 0 {
		t.Errorf("unreaped child %d", pid)
	}
}

func TestStartRejectsPipes(t *testing.T) {
	r := New()
	cmd := exec.Command("/bin/true")
	cmd.Stdout = &strings.Builder{}
	if _, err := r.Start(cmd); err == nil || err.Error() != "reap: /bin/true: stdio must be *os.File, got *strings.Builder" {
		t.Errorf("a non-file stdout: %v, want the stdio error", err)
	}
	cmd = exec.Command("/bin/true")
	cmd.Stdout = os.Stderr
	ch, err := r.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.ReapAll()
		select {
		case ws := <-ch:
			if ws.ExitStatus() != 0 {
				t.Errorf("status %v", ws)
			}
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("status never delivered")
		}
	}
}

// Output gives a child's output and status while the reaper reaps every
// exit, as PID 1's does (hostctl version runs runc and crun that way).
// exec.Cmd's own Output would race with the reaper for the exit and lose
// some ("no child processes").
func TestOutput(t *testing.T) {
	r := New()
	stop := make(chan struct{})
	defer close(stop)
	go r.Run(stop)
	errs := make(chan error, 40)
	for i := 0; i < cap(errs); i++ {
		go func() {
			out, err := r.Output(exec.Command("/bin/sh", "-c", fmt.Sprintf("echo out %d; echo noise >&2", i)))
			if err == nil && string(out) != fmt.Sprintf("out %d\n", i) {
				err = fmt.Errorf("output %q, want \"out %d\\n\"", out, i)
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	out, err := r.Output(exec.Command("/bin/sh", "-c", "echo partial; exit 4"))
	if err == nil || err.Error() != "/bin/sh: exit status 4" || string(out) != "partial\n" {
		t.Errorf("exit 4: %q, %v; want the output and /bin/sh: exit status 4", out, err)
	}
	cmd := exec.Command("/bin/true")
	cmd.Stdout = os.Stderr
	if _, err := r.Output(cmd); err == nil || !strings.Contains(err.Error(), "Stdout already set") {
		t.Errorf("Stdout set: %v, want the error", err)
	}
}
