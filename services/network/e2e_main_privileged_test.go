//go:build privileged

// The privileged tests need root. Each makes network namespaces of its own
// (internal/netnstest): links and, for DHCP, a server in one namespace, and
// the service, as a child process, in another. They never touch the
// namespace they started in.
//
//	go test -count=1 -tags privileged ./services/network/
//
// This file holds the service process; e2e_helpers_privileged_test.go the
// checks of the kernel's state, e2e_dhcpserver_privileged_test.go the test
// DHCP server, and one file a scenario: e2e_dhcp (leases, links that come
// and go, renewal), e2e_rebind and e2e_static.

package network

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/berth-os/berth/internal/netnstest"
	"github.com/berth-os/berth/internal/notify"
	"github.com/berth-os/berth/internal/servicetest"
)

// serviceEnv makes the test binary be the service, for the child process.
const serviceEnv = "BERTH_NETWORK_TEST_SERVICE"

func TestMain(m *testing.M) {
	if os.Getenv(serviceEnv) == "1" {
		Main() // exits 1 on an error
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the privileged tests need root")
	}
}

// serviceProcess is the service running in a child process.
type serviceProcess struct {
	cmd     *exec.Cmd
	start   time.Time
	resolv  string
	notify  *servicetest.NotifySocket
	exited  chan error
	mu      sync.Mutex
	out     bytes.Buffer
	stopped bool
}

// startServiceProcess starts the service in ns with a notify socket of its own and
// a resolv.conf under a directory that does not exist yet.
func startServiceProcess(t *testing.T, ns netns.NsHandle, args ...string) *serviceProcess {
	t.Helper()
	p := &serviceProcess{
		resolv: filepath.Join(t.TempDir(), "run", "berth", "network", "resolv.conf"),
		notify: servicetest.ListenNotify(t),
		exited: make(chan error, 1),
	}
	p.cmd = exec.Command(os.Args[0], append([]string{"-resolv", p.resolv}, args...)...)
	p.cmd.Env = append(os.Environ(), serviceEnv+"=1", notify.Env+"="+p.notify.Path)
	p.cmd.Stdout = writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.out.Write(b)
	})
	p.cmd.Stderr = p.cmd.Stdout
	p.start = time.Now()
	// Forked from a thread in ns, the child lives there.
	if err := netnstest.In(ns, p.cmd.Start); err != nil {
		t.Fatalf("start service: %v", err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if !p.stopped {
			p.cmd.Process.Kill()
			<-p.exited
		}
		t.Logf("service output:\n%s", p.output())
	})
	return p
}

func (p *serviceProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *serviceProcess) since() time.Duration { return time.Since(p.start).Round(time.Millisecond) }

// waitReady waits for the readiness message and checks its status.
func (p *serviceProcess) waitReady(t *testing.T, status string) {
	t.Helper()
	msg, err := p.notify.Read(90 * time.Second)
	if err != nil {
		t.Fatalf("no readiness: %v", err)
	}
	f := notify.Parse([]byte(msg))
	if f["READY"] != "1" || f["STATUS"] != status {
		t.Errorf("readiness message %q, want READY=1 with STATUS=%s", msg, status)
	}
	t.Logf("ready after %s", p.since())
}

// stop sends SIGTERM and expects a clean exit.
func (p *serviceProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.stopped = true
		if err != nil {
			t.Errorf("service exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("service did not stop on SIGTERM")
	}
}

// waitLog waits for the service's log to hold line: the server has seen
// a request, the service then takes the answer in and says so.
func (p *serviceProcess) waitLog(t *testing.T, line string) {
	t.Helper()
	eventually(t, "log line "+line, 10*time.Second, func() error {
		if !strings.Contains(p.output(), line) {
			return errors.New("not in the service's log")
		}
		return nil
	})
}

func (p *serviceProcess) logHas(t *testing.T, lines ...string) {
	t.Helper()
	out := p.output()
	for _, want := range lines {
		if !strings.Contains(out, want) {
			t.Errorf("service log lacks %q", want)
		}
	}
}

// hup has the service read its configuration again, as PID 1 does.
func hup(t *testing.T, p *serviceProcess) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
