package reap

import (
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
