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

	cloudconfig "github.com/berth-os/berth/cloud-config"
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

// The system containerd starts before etc, sysctl and apply only when
// nothing of theirs may touch its store and no break stops boot before
// its phase.
func TestEarlyContainerd(t *testing.T) {
	plan := (&host{}).plan()
	mounts := func(targets ...string) *cloudconfig.Config {
		c := &cloudconfig.Config{}
		for _, t := range targets {
			c.Mounts = append(c.Mounts, []string{"LABEL=data", t})
		}
		return c
	}
	for _, tc := range []struct {
		name, breakAt string
		cfg           *cloudconfig.Config
		want          bool
		why           string
	}{
		{"plain", "", &cloudconfig.Config{}, true, ""},
		{"unrelated mounts and swap", "", mounts("/mnt/data", "/var/lib/docker", "none", "swap", "/var/lib/containerd-old"), true, ""},
		{"break at services", "services", &cloudconfig.Config{}, true, ""},
		{"break at mounts", "mounts", &cloudconfig.Config{}, true, ""},
		{"break at config", "config", &cloudconfig.Config{}, false, "berth.break=config"},
		{"break at etc", "etc", &cloudconfig.Config{}, false, "berth.break=etc"},
		{"break at apply", "apply", &cloudconfig.Config{}, false, "berth.break=apply"},
		{"break at containerd", "containerd", &cloudconfig.Config{}, false, "berth.break=containerd"},
		{"no config", "", nil, false, "no merged configuration"},
		{"bootcmd", "", &cloudconfig.Config{Bootcmd: []cloudconfig.Command{{Shell: "mount /dev/vdb /var/lib"}}}, false, "bootcmd runs first"},
		{"mount on /var", "", mounts("/mnt/a", "/var/"), false, "mounts[1] mounts on /var first"},
		{"mount on its store", "", mounts("/var/lib/containerd"), false, "mounts[0] mounts on /var/lib/containerd first"},
		{"mount in its store", "", mounts("/var/lib/containerd/system/io.containerd.content.v1.content"), false, "mounts[0] mounts on /var/lib/containerd/system/io.containerd.content.v1.content first"},
	} {
		ok, why := earlyContainerd(tc.breakAt, plan, tc.cfg)
		if ok != tc.want || why != tc.why {
			t.Errorf("%s: earlyContainerd = %v, %q; want %v, %q", tc.name, ok, why, tc.want, tc.why)
		}
	}
}
