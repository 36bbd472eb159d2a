//go:build qemu

package test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-os/berth/build"
	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/image"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/qemu"
	"github.com/berth-os/berth/test/sched"
)

var (
	outDir   = flag.String("berth.out", "", "build output folder (default: a temporary folder)")
	logDir   = flag.String("berth.logs", "", "where console logs of every boot are kept (default: <out>/test-logs)")
	readyMax = flag.Duration("berth.ready-timeout", 6*time.Minute, "how long a boot may take to print the ready line")
)

// sockDir holds the VMs' QMP sockets, numbered by sockSeq.
var (
	sockDir string
	sockSeq atomic.Int64
)

// artifacts is the one build every test uses.
var (
	artifacts    map[string]string
	mainManifest build.Manifest
	moduleRoot   string
	buildErr     error
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	wd, _ := os.Getwd()
	root, err := build.FindModuleRoot(wd)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	moduleRoot = root
	if *outDir == "" {
		d, err := os.MkdirTemp("", "berth-test-out-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(d)
		*outDir = d
	}
	if *logDir == "" {
		*logDir = filepath.Join(*outDir, "test-logs")
	}
	// Every test's work folder (t.TempDir: disk overlays, seeds, saved
	// machines) goes under <out>/tmp, and the logs under -berth.logs; both
	// are emptied first, so that a killed run leaves nothing that piles up.
	// QMP sockets need short paths (108 bytes): they get a folder of their
	// own under /tmp.
	tmp := filepath.Join(*outDir, "tmp")
	for _, d := range []string{tmp, *logDir} {
		if err := os.RemoveAll(d); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	os.Setenv("TMPDIR", tmp)
	removeStaleRepro()
	os.Unsetenv("GOTMPDIR")
	if sockDir, err = os.MkdirTemp("/tmp", "berth-qmp-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(sockDir)
	if *refuseDNS {
		if err := serveRefusals("127.0.0.1:53"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	spec, err := image.Load(filepath.Join(root, "images", "berth.yaml"), filepath.Join(root, "services"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := cache.Open(cache.DefaultRoot())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	assetCache = c.Session()
	defer assetCache.Release()
	start := time.Now()
	res, err := build.Build(context.Background(), build.Options{Spec: spec, OutDir: *outDir, Cache: c, Progress: &progress.Plain{W: os.Stderr}, ModuleRoot: root})
	if err != nil {
		// Every test fails with this error rather than the run stopping here,
		// so the report names what could not be tested.
		buildErr = err
		fmt.Fprintln(os.Stderr, "build failed:", err)
	} else {
		artifacts = res.Files
		mainManifest = res.Manifest
		fmt.Fprintf(os.Stderr, "test: image built in %.1fs into %s\n", time.Since(start).Seconds(), *outDir)
	}
	return m.Run()
}

// artifact returns the path of a built artifact, failing the test when the
// build failed.
func artifact(t *testing.T, name string) string {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("the image did not build: %v", buildErr)
	}
	p, ok := artifacts[name]
	if !ok {
		t.Fatalf("the build made no %s", name)
	}
	return p
}

var (
	readyRe  = regexp.MustCompile(`berth: (ready|degraded) in ([0-9.]+)s \(([^)]*)\)|(berth(?: stage1)?: rescue shell)`)
	promptRe = regexp.MustCompile(`:~# `)
)

// machine is a booted VM with its console log.
type machine struct {
	*qemu.VM
	t    *testing.T
	name string
	cfg  qemu.Config // as it was started
}

// boot starts cfg with berth.autologin (through fw_cfg), waits for the
// ready line and for the root shell on ttyS0.
func boot(t *testing.T, cfg qemu.Config) *machine {
	t.Helper()
	return bootWith(t, cfg, qemu.Start)
}

// starter starts QEMU; tests that run it in a network namespace of their
// own pass one that starts it there.
type starter func(ctx context.Context, cfg qemu.Config, work string, log io.Writer) (*qemu.VM, error)

func bootWith(t *testing.T, cfg qemu.Config, start starter) *machine {
	t.Helper()
	m := launch(t, cfg, start)
	m.waitReady()
	return m
}

// launch starts QEMU with berth.autologin unless cfg says otherwise, logs
// its console to -berth.logs, and kills it when the test ends.
func launch(t *testing.T, cfg qemu.Config, start starter) *machine {
	t.Helper()
	if cfg.FwCfg == nil {
		cfg.FwCfg = map[string]string{}
	}
	if _, ok := cfg.FwCfg["opt/berth/cmdline"]; !ok {
		cfg.FwCfg["opt/berth/cmdline"] = "berth.autologin"
	}
	work := t.TempDir()
	if cfg.QMP == "" {
		cfg.QMP = filepath.Join(sockDir, fmt.Sprintf("%d.sock", sockSeq.Add(1)))
	}
	// A reboot starts a new QEMU: under TCG it boots faster than after a
	// warm reset (qemu.Config.ColdReset).
	cfg.ColdReset = true
	name := strings.ReplaceAll(t.Name(), "/", "_")
	logf, err := os.Create(filepath.Join(*logDir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	// QEMU runs under the scenario's context: its deadline kills it.
	vm, err := start(sched.Ctx(t), cfg, work, logf)
	if err != nil {
		t.Fatal(err)
	}
	m := &machine{VM: vm, t: t, name: name, cfg: cfg}
	t.Cleanup(func() {
		vm.Kill()
		// What the machine cost the host, whatever ended it: the
		// timing table's cpu column.
		sched.Spent(t, vm.CPU())
		logf.Close()
		if t.Failed() {
			t.Logf("console log: %s\n--- last console lines ---\n%s", logf.Name(), lastLines(vm.Output(), 60))
		}
	})
	return m
}

// with is m driven by t, a subtest: its checks fail that subtest.
func (m *machine) with(t *testing.T) *machine {
	c := *m
	c.t = t
	return &c
}

// check runs f as the subtest name of the scenario that booted m.
func (m *machine) check(name string, f func(m *machine)) bool {
	m.t.Helper()
	return m.t.Run(name, func(t *testing.T) { f(m.with(t)) })
}

// waitReady waits for the next ready line and the shell prompt after it.
func (m *machine) waitReady() []string {
	m.t.Helper()
	match, at, err := m.WaitFor(readyRe, *readyMax)
	if err != nil {
		if !errors.Is(err, qemu.ErrExited) {
			m.dumpKernelState()
		}
		m.t.Fatalf("no ready line: %v", err)
	}
	if match[4] != "" {
		m.t.Fatalf("boot failed: %s", match[4])
	}
	m.t.Logf("%s (%.1fs after QEMU started)", match[0], at.Sub(m.Started()).Seconds())
	if match[1] != "ready" {
		m.t.Errorf("boot degraded: %s", match[0])
	}
	m.waitShell()
	return match
}

// dumpKernelState has the kernel of a boot that hangs print its blocked
// tasks and the stacks of its CPUs on the console, for the log: magic
// SysRq w and l, each after a break on the serial line. It works until
// PID 1's sysctl phase sets kernel.sysrq = 0 (the container-host
// profile); after that the kernel ignores the keys, and this says so.
func (m *machine) dumpKernelState() {
	m.t.Helper()
	for _, k := range []struct{ key, says string }{{"w", "Show Blocked State"}, {"l", "Show backtrace of all active CPUs"}} {
		if _, err := m.QMPArgs("chardev-send-break", map[string]string{"id": "serial0"}); err != nil {
			m.t.Logf("sysrq %s: %v", k.key, err)
			return
		}
		// The break travels by QMP, the key by the serial line: the key
		// must not overtake it.
		time.Sleep(500 * time.Millisecond)
		m.Send(k.key)
		if _, _, err := m.WaitFor(regexp.MustCompile(`sysrq: `+k.says), 10*time.Second); err != nil {
			m.t.Logf("sysrq %s: %v", k.key, err)
			return
		}
	}
	// The backtraces follow the last header.
	m.WaitFor(regexp.MustCompile(`(?s)Call Trace:.*\n.*\n`), 10*time.Second)
	m.t.Logf("the kernel's blocked tasks and CPU backtraces are in the console log")
}

// waitShell waits for the root shell on ttyS0: services start together, so
// its prompt may come before or after the ready line. An empty line gets a
// fresh prompt once the shell is there.
func (m *machine) waitShell() {
	m.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		m.Send("\n")
		if _, _, err := m.WaitFor(promptRe, 5*time.Second); err == nil {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatal("no root shell on the serial console")
		}
	}
}

// sh runs a command on the console and fails the test on a non-zero exit.
func (m *machine) sh(cmd string) string {
	m.t.Helper()
	out, code, err := m.Run(cmd, 2*time.Minute)
	if err != nil {
		m.t.Fatalf("%s: %v", cmd, err)
	}
	if code != 0 {
		m.t.Fatalf("%s: exit status %d\n%s", cmd, code, out)
	}
	return out
}

// shCode runs a command and returns its output and exit code.
func (m *machine) shCode(cmd string) (string, int) {
	m.t.Helper()
	out, code, err := m.Run(cmd, 2*time.Minute)
	if err != nil {
		m.t.Fatalf("%s: %v", cmd, err)
	}
	return out, code
}

// eventually retries cmd until its output matches re, or fails after d.
func (m *machine) eventually(cmd string, re *regexp.Regexp, d time.Duration) string {
	m.t.Helper()
	deadline := time.Now().Add(d)
	for {
		out, _ := m.shCode(cmd)
		if re.MatchString(out) {
			return out
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("%s: output never matched %q; last output:\n%s", cmd, re, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkHost checks what every boot must show: every service running, eth0
// on QEMU's DHCP address, udev, network and kernel lines in /var/log, and a
// read-only root.
func (m *machine) checkHost() {
	m.t.Helper()
	var svcs []api.Service
	out := m.sh("hostctl service list -o json")
	if err := json.Unmarshal([]byte(out), &svcs); err != nil {
		m.t.Fatalf("hostctl service list -o json: %v\n%s", err, out)
	}
	want := map[string]bool{"udev": true, "logging": true, "network": true, "containerd": true, "console": true}
	for _, s := range svcs {
		if !s.Enabled {
			continue // the catalogue's consoles, say: listed, not running
		}
		if s.State != api.StateRunning || s.PID == 0 {
			m.t.Errorf("service %s is %s (pid %d): %s", s.Name, s.State, s.PID, s.Error)
		}
		delete(want, s.Name)
	}
	if len(want) > 0 {
		m.t.Errorf("services missing from hostctl service list: %v", want)
	}
	m.eventually("ip -4 -o addr show dev eth0", regexp.MustCompile(`inet 10\.0\.2\.15/24`), time.Minute)
	m.eventually("grep -c 'coldplug settled' /var/log/udev.log", regexp.MustCompile(`^[1-9]`), time.Minute)
	m.eventually("grep -c 'lease 10.0.2.15/24' /var/log/network.log", regexp.MustCompile(`^[1-9]`), time.Minute)
	m.eventually("grep -c 'Linux version' /var/log/kernel", regexp.MustCompile(`^[1-9]`), time.Minute)
	// udev.log may hold an earlier boot's line; hostctl logs only this one's.
	m.eventually("hostctl logs udev", regexp.MustCompile(`coldplug settled`), time.Minute)
	out, code := m.shCode("touch /usr/berth-write-test")
	if code == 0 || !strings.Contains(out, "Read-only file system") {
		m.t.Errorf("writing under /usr: exit %d, %q; want a read-only file system error", code, out)
	}
}

// rebootKeepsState writes under /var/lib, reboots with cmd (hostctl
// reboot, or the console's reboot), and checks the file is still there
// after the second ready line.
func (m *machine) rebootKeepsState(cmd string) {
	m.t.Helper()
	token := fmt.Sprintf("berth-%d", time.Now().UnixNano())
	m.sh("echo " + token + " > /var/lib/reboot-test && sync")
	m.Send(cmd + "\n")
	if _, _, err := m.WaitFor(regexp.MustCompile(`berth: shutting down to reboot`), time.Minute); err != nil {
		m.t.Fatalf("%s: the host did not shut down to reboot: %v", cmd, err)
	}
	m.waitReady()
	if got := strings.TrimSpace(m.sh("cat /var/lib/reboot-test")); got != token {
		m.t.Errorf("after reboot /var/lib/reboot-test = %q, want %q", got, token)
	}
}

// sshForward is a host forward to the guest's sshd on a port of
// 127.0.0.1 that QEMU binds itself (port 0): no other process can take it
// between a pick and the bind. sshPort reads it back.
const sshForward = "tcp:127.0.0.1:0-:22"

// sshPort is the host port of m's forward to its sshd (sshForward).
func (m *machine) sshPort() int {
	m.t.Helper()
	port, err := m.HostPort(22)
	if err != nil {
		m.t.Fatalf("the host port of the ssh forward: %v", err)
	}
	return port
}

// poweroffExitsZero runs hostctl poweroff and expects QEMU to exit with 0.
func (m *machine) poweroffExitsZero() {
	m.t.Helper()
	m.powerOffBy("hostctl poweroff")
}

// powerOffBy runs cmd on the console and expects the host to shut down
// to power off, and QEMU to exit with 0.
func (m *machine) powerOffBy(cmd string) {
	m.t.Helper()
	m.Send(cmd + "\n")
	if _, _, err := m.WaitFor(regexp.MustCompile(`berth: shutting down to power off`), time.Minute); err != nil {
		m.t.Errorf("%s: the host did not shut down to power off: %v", cmd, err)
	}
	if err := m.Wait(3 * time.Minute); err != nil {
		m.t.Errorf("after %s: %v (want QEMU to exit with status 0)", cmd, err)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// overlay makes a copy-on-write qcow2 over a base image, so tests never
// write to the shared artifacts.
func overlay(t *testing.T, base, format string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "overlay.qcow2")
	if err := runCmd("qemu-img", "create", "-q", "-f", "qcow2", "-F", format, "-b", base, p); err != nil {
		t.Fatal(err)
	}
	return p
}
