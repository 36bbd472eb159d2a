package main

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCPU(t *testing.T) {
	const out = "uptime 21.43 3.10\r\nmachine cpu  1500 3 900 310 20 0 40 0 0 0\r\n" +
		"cpu init 119 221 7 7\r\ncpu containerd 144 124 30 10\r\ncpu containerd 37 34 0 0\r\n" +
		"cpu kworker/0:1-events 0 12 0 0\r\ncpu kworker/u4:0-events_unbound 1 3 0 0\r\ncpu (udev-worker) 3 2 0 0\r\n" +
		"cpu berth ntp 27 36 0 0\r\ncpu broken x 1 2\r\n"
	got, err := parseCPU(out)
	want := cpuUse{uptime: 21.43, busy: 1500 + 3 + 900 + 0 + 40, idle: 310 + 20, procs: []procCPU{
		{"init", 119, 221, 14}, {"containerd", 144, 124, 40}, {"containerd", 37, 34, 0},
		{"kworker/0:1-events", 0, 12, 0}, {"kworker/u4:0-events_unbound", 1, 3, 0}, {"(udev-worker)", 3, 2, 0}, {"berth ntp", 27, 36, 0},
	}}
	if err != nil || !cmp.Equal(got, want, cmp.AllowUnexported(cpuUse{}, procCPU{})) {
		t.Errorf("parseCPU = %+v, %v", got, err)
	}
	rows, n, all := cpuByName(got.procs)
	if len(rows) != 5 || rows[0] != (procCPU{"init", 119, 221, 14}) || rows[1] != (procCPU{"containerd", 181, 158, 40}) || n["containerd"] != 2 {
		t.Errorf("cpuByName rows = %+v, %v", rows, n)
	}
	if rows[3] != (procCPU{"kworker", 1, 15, 0}) || n["kworker"] != 2 {
		t.Errorf("the kernel threads of one name: %+v, %v", rows[3], n)
	}
	if all != (procCPU{"all", 331, 432, 54}) {
		t.Errorf("all = %+v", all)
	}
	for _, tc := range []struct{ drop, want string }{
		{"uptime 21.43 3.10\r\n", "no /proc/uptime line"},
		{"machine cpu  1500 3 900 310 20 0 40 0 0 0\r\n", "no /proc/stat cpu line"},
	} {
		if _, err := parseCPU(strings.Replace(out, tc.drop, "", 1)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("without %q: %v, want %q", tc.drop, err, tc.want)
		}
	}
	if _, err := parseCPU("uptime 1 1\nmachine cpu 1 2 3 4 5 6 7 8\n"); err == nil || !strings.Contains(err.Error(), "no process's stat") {
		t.Errorf("without processes: %v", err)
	}
}

// The script reads this machine's /proc as it reads the guest's: it finds
// this test's own process, with the user time the kernel counts for it.
func TestCPUScriptHere(t *testing.T) {
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
	}
	userTicks := func() int64 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return ru.Utime.Sec*userHZ + ru.Utime.Usec/(1e6/userHZ)
	}
	before := userTicks()
	out, err := exec.Command("sh", "-c", cpuScript).Output()
	if err != nil {
		t.Fatal(err)
	}
	after := userTicks()
	c, err := parseCPU(string(out))
	if err != nil {
		t.Fatal(err)
	}
	if c.uptime <= 0 || c.busy <= 0 {
		t.Errorf("uptime %v, busy %d: want both above 0", c.uptime, c.busy)
	}
	// Another bench.test may run beside this one (a go test of the same
	// package in another tree): one of them is this process.
	var named []procCPU
	self := false
	for _, p := range c.procs {
		if p.name == "bench.test" {
			named = append(named, p)
			self = self || p.user >= before-1 && p.user <= after+1
		}
	}
	if !self {
		t.Errorf("bench.test: %+v; want one with this process's user time, %d to %d ticks (getrusage)", named, before, after)
	}
}
