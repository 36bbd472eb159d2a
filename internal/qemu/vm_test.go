package qemu

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeQEMUEnv makes the test binary a fake QEMU: it holds the folder where
// the fake counts its starts and finds the reason its machine shuts down
// with (reason.N for start N, "guest-shutdown" without one).
const fakeQEMUEnv = "BERTH_FAKE_QEMU"

// fakeBurnEnv makes each start of the fake QEMU use this much processor
// time (a duration) before its machine shuts down.
const fakeBurnEnv = "BERTH_FAKE_QEMU_BURN"

func TestMain(m *testing.M) {
	if dir := os.Getenv(fakeQEMUEnv); dir != "" {
		os.Exit(fakeQEMU(dir, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeQEMU serves the events monitor that Start asks for, as QEMU does
// (it waits for the client), prints a line with its start's number and
// whether it was asked to resume (-incoming), then sends the SHUTDOWN
// event and exits 0, as QEMU with -no-reboot does on a reset or power-off.
func fakeQEMU(dir string, args []string) int {
	n := 1
	for ; ; n++ {
		f, err := os.OpenFile(filepath.Join(dir, "start."+strconv.Itoa(n)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			f.Close()
			break
		}
	}
	joined := strings.Join(args, " ")
	m := regexp.MustCompile(`id=berthevents,path=([^,]+),server=on,wait=on`).FindStringSubmatch(joined)
	if m == nil || !strings.Contains(joined, "-no-reboot") {
		fmt.Fprintln(os.Stderr, "no events monitor or -no-reboot:", joined)
		return 1
	}
	l, err := net.Listen("unix", m[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := l.Accept()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(c, `{"QMP": {"version": {}, "capabilities": []}}`+"\n")
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.Contains(line, "qmp_capabilities") {
		fmt.Fprintln(os.Stderr, "no qmp_capabilities:", line, err)
		return 1
	}
	fmt.Fprintf(c, `{"return": {}}`+"\n")
	if burn, err := time.ParseDuration(os.Getenv(fakeBurnEnv)); err == nil {
		for cpuTime() < burn {
		}
	}
	fmt.Printf("start %d incoming=%v\n", n, strings.Contains(joined, "-incoming"))
	reason := "guest-shutdown"
	if b, err := os.ReadFile(filepath.Join(dir, "reason."+strconv.Itoa(n))); err == nil {
		reason = strings.TrimSpace(string(b))
	}
	fmt.Fprintf(c, `{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN", "data": {"guest": true, "reason": %q}}`+"\n", reason)
	c.Close()
	l.Close()
	return 0
}

// cpuTime is the processor time this process has used.
func cpuTime() time.Duration {
	var r syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// useFakeQEMU makes the test binary, which it returns, the test's fake
// QEMU, whose start N shuts down with reasons[N-1] (then "guest-shutdown").
func useFakeQEMU(t *testing.T, reasons ...string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Setenv(fakeQEMUEnv, dir)
	for i, reason := range reasons {
		if err := os.WriteFile(filepath.Join(dir, "reason."+strconv.Itoa(i+1)), []byte(reason), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return self
}

// With ColdReset, a reset (the guest's or QMP's) starts a new QEMU that
// boots rather than resumes, and the console runs on; a power-off ends
// the VM. Without it, QEMU's exit ends the VM whatever the reason.
func TestColdReset(t *testing.T) {
	self := useFakeQEMU(t, "guest-reset", "host-qmp-system-reset")
	sock := filepath.Join(t.TempDir(), "q.sock")
	vm, err := Start(context.Background(), Config{Binary: self, QMP: sock, ColdReset: true, Incoming: "/saved"}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Wait(time.Minute); err != nil {
		t.Fatalf("the VM: %v\n%s", err, vm.Output())
	}
	want := "start 1 incoming=true\nstart 2 incoming=false\nstart 3 incoming=false\n"
	if got := vm.Output(); got != want {
		t.Errorf("console %q, want %q: a reset starts a QEMU that boots, a power-off ends the VM", got, want)
	}
	if got := vm.Resets(); got != 2 {
		t.Errorf("Resets() = %d, want 2", got)
	}
}

// Run, as berth run uses it: a reset starts a new QEMU, a power-off ends.
func TestRun(t *testing.T) {
	self := useFakeQEMU(t, "guest-reset")
	var out, errs strings.Builder
	resets := 0
	err := Run(context.Background(), self, Config{Incoming: "/saved"}, t.TempDir(), strings.NewReader(""), &out, &errs, func() { resets++ })
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errs.String())
	}
	if want := "start 1 incoming=true\nstart 2 incoming=false\n"; out.String() != want || resets != 1 {
		t.Errorf("console %q after %d resets, want %q after 1", out.String(), resets, want)
	}
}

func TestColdResetNeedsQMP(t *testing.T) {
	_, err := Start(context.Background(), Config{Binary: "/bin/true", ColdReset: true}, t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "ColdReset needs a QMP socket") {
		t.Errorf("Start: %v, want the missing QMP socket named", err)
	}
}

// CPU is the processor time of every QEMU the VM ran: here two, the
// first one's reset starting the second, each using fakeBurnEnv's.
func TestCPU(t *testing.T) {
	const burn = 200 * time.Millisecond
	self := useFakeQEMU(t, "guest-reset")
	t.Setenv(fakeBurnEnv, burn.String())
	sock := filepath.Join(t.TempDir(), "q.sock")
	vm, err := Start(context.Background(), Config{Binary: self, QMP: sock, ColdReset: true}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Wait(time.Minute); err != nil {
		t.Fatalf("the VM: %v\n%s", err, vm.Output())
	}
	if vm.Resets() != 1 {
		t.Fatalf("Resets() = %d, want 1", vm.Resets())
	}
	// Each process's own start adds a little: ten times the two burns
	// is far more than that.
	if got := vm.CPU(); got < 2*burn || got > 20*burn {
		t.Errorf("CPU() = %s, want the two QEMUs' %s each, and a little more", got, burn)
	}
}
