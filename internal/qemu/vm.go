package qemu

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// VM is a running QEMU whose serial console is connected to pipes. With
// Config.ColdReset it may be several QEMUs, one after another: a reset
// starts the next, and the console's output runs on.
type VM struct {
	started time.Time
	qmp     string
	log     io.Writer

	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	killed bool
	resets int
	out    bytes.Buffer // everything the console printed
	cursor int          // how far WaitFor has consumed
	wake   chan struct{}
	done   chan struct{}
	err    error
	seq    int
	cpu    time.Duration // processor time of the QEMUs that have exited
}

// IsReset says whether reason, of QMP's SHUTDOWN event, means a reset:
// the guest's (a reboot, a panic's restart, a triple fault) or QMP's
// system_reset.
func IsReset(reason string) bool {
	return reason == "guest-reset" || reason == "host-qmp-system-reset"
}

// ColdResetArgs make QEMU exit on a reset, as on a power-off, and serve a
// QMP monitor at the unix socket events, whose SHUTDOWN event tells the
// two apart (LastShutdown). QEMU waits for that monitor's client before
// it runs the machine, so no reset comes before someone listens.
func ColdResetArgs(events string) []string {
	return []string{"-no-reboot", "-chardev", "socket,id=berthevents,path=" + events + ",server=on,wait=on", "-mon", "chardev=berthevents,mode=control"}
}

// Restart is the machine a reset of c's starts in workDir: it boots, not
// resumes (no Incoming), with the UEFI variable store c's start made, so
// BootOrder and the Secure Boot keys carry over.
func (c Config) Restart(workDir string) Config {
	c.Incoming = ""
	if c.UEFI && c.VarsFile == "" {
		c.VarsFile = varsFile(workDir)
	}
	return c
}

// Start boots a machine. Console output is also copied to log (may be nil).
func Start(ctx context.Context, c Config, workDir string, log io.Writer) (*VM, error) {
	bin := c.Binary
	if bin == "" {
		var err error
		if bin, err = Binary(); err != nil {
			return nil, err
		}
	}
	args, err := c.Args(workDir)
	if err != nil {
		return nil, err
	}
	var again []string // a cold restart's arguments
	events := ""
	if c.ColdReset && !c.OwnThread {
		if c.QMP == "" {
			return nil, errors.New("qemu: ColdReset needs a QMP socket")
		}
		events = c.QMP + "-events"
		if again, err = c.Restart(workDir).Args(workDir); err != nil {
			return nil, err
		}
		mon := ColdResetArgs(events)
		args = append(args, mon...)
		again = append(again, mon...)
	}
	vm := &VM{qmp: c.QMP, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	vm.started = time.Now()
	begin := spawn
	if c.OwnThread {
		begin = (*exec.Cmd).Start
	}
	run, err := vm.launch(ctx, begin, bin, args, events)
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			reason, err := run()
			vm.mu.Lock()
			restart := again != nil && err == nil && IsReset(reason) && !vm.killed && ctx.Err() == nil
			if restart {
				vm.resets++
			}
			vm.mu.Unlock()
			if restart {
				if vm.log != nil {
					fmt.Fprintf(vm.log, "\n[qemu: the machine reset (%s): a new QEMU boots it]\n", reason)
				}
				if run, err = vm.launch(ctx, begin, bin, again, events); err == nil {
					continue
				}
			}
			vm.mu.Lock()
			vm.err = err
			vm.mu.Unlock()
			close(vm.done)
			return
		}
	}()
	return vm, nil
}

// launch starts one QEMU process with args and makes it the VM's. The
// returned function follows it to its end: it copies the console into
// the VM's output and returns the reason of the last SHUTDOWN event on
// the events monitor ("" without one) and QEMU's exit error.
func (vm *VM) launch(ctx context.Context, begin func(*exec.Cmd) error, bin string, args []string, events string) (func() (string, error), error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	// QEMU dies with whoever started it: a test binary killed by its
	// timeout leaves no VM behind. The signal comes when the thread that
	// started it ends, and a Go thread ends when a goroutine locked to it
	// (to enter a namespace, say) ends: QEMU is started from a thread of
	// its own that never ends (spawn), unless the caller asks for its own
	// thread (Config.OwnThread), which then must outlive QEMU.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if events != "" {
		os.Remove(events) // the socket of the QEMU before
	}
	if err := begin(cmd); err != nil {
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	vm.mu.Lock()
	vm.cmd, vm.stdin = cmd, stdin
	killed := vm.killed // Kill came while this one was starting
	vm.mu.Unlock()
	if killed {
		cmd.Process.Kill()
	}
	reason := make(chan string, 1)
	exited := make(chan struct{})
	if events == "" {
		reason <- ""
	} else {
		go func() { reason <- LastShutdown(events, exited) }()
	}
	return func() (string, error) {
		buf := make([]byte, 4096)
		for {
			n, err := stdout.Read(buf)
			if n > 0 {
				vm.mu.Lock()
				vm.out.Write(buf[:n])
				vm.mu.Unlock()
				if vm.log != nil {
					vm.log.Write(buf[:n])
				}
				select {
				case vm.wake <- struct{}{}:
				default:
				}
			}
			if err != nil {
				break
			}
		}
		err := cmd.Wait()
		if ps := cmd.ProcessState; ps != nil {
			vm.mu.Lock()
			vm.cpu += ps.UserTime() + ps.SystemTime()
			vm.mu.Unlock()
		}
		close(exited)
		if err != nil && stderr.Len() > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
		return <-reason, err
	}, nil
}

// LastShutdown connects to the QMP events monitor at path (ColdResetArgs),
// which QEMU waits for, and returns the reason of the last SHUTDOWN event before
// QEMU closed it: "" when there was none, or when QEMU exited before the
// monitor could be reached.
func LastShutdown(path string, exited <-chan struct{}) string {
	var c net.Conn
	for {
		var err error
		if c, err = net.Dial("unix", path); err == nil {
			break
		}
		select {
		case <-exited:
			return ""
		case <-time.After(5 * time.Millisecond):
		}
	}
	defer c.Close()
	if _, err := c.Write([]byte(`{"execute":"qmp_capabilities"}` + "\n")); err != nil {
		return ""
	}
	reason := ""
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev struct {
			Event string `json:"event"`
			Data  struct {
				Reason string `json:"reason"`
			} `json:"data"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event == "SHUTDOWN" {
			reason = ev.Data.Reason
		}
	}
	return reason
}

// Run runs c's machine in the foreground, its console on stdin and
// stdout, until it powers off or QEMU is quit. A reset ends QEMU and
// starts a new one with the same disks and UEFI variables, as
// Config.ColdReset does, after calling reset (may be nil).
func Run(ctx context.Context, bin string, c Config, work string, stdin io.Reader, stdout, stderr io.Writer, reset func()) error {
	// Not in work, whose path may be longer than a socket's can be.
	dir, err := os.MkdirTemp("", "berth-qemu")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	events := filepath.Join(dir, "events.sock")
	for {
		args, err := c.Args(work)
		if err != nil {
			return fmt.Errorf("qemu arguments: %w", err)
		}
		c = c.Restart(work)
		os.Remove(events)
		q := exec.CommandContext(ctx, bin, append(args, ColdResetArgs(events)...)...)
		q.Stdin, q.Stdout, q.Stderr = stdin, stdout, stderr
		if err := q.Start(); err != nil {
			return fmt.Errorf("%s: %w", bin, err)
		}
		exited, reason := make(chan struct{}), make(chan string, 1)
		go func() { reason <- LastShutdown(events, exited) }()
		err = q.Wait()
		close(exited)
		if err != nil {
			return fmt.Errorf("%s: %w", bin, err)
		}
		if !IsReset(<-reason) {
			return nil
		}
		if reset != nil {
			reset()
		}
	}
}

// Resets is how many times a reset started a new QEMU (Config.ColdReset).
func (vm *VM) Resets() int {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.resets
}

// spawner is the goroutine, locked to a thread of its own for the life of
// the process, that starts QEMU: the parent-death signal then comes when
// the process ends, never when some other goroutine's thread ends.
var spawner struct {
	once sync.Once
	reqs chan spawnRequest
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// spawn starts cmd from the spawner's thread.
func spawn(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked, never ends
			for r := range spawner.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawner.reqs <- spawnRequest{cmd, done}
	return <-done
}

// CPU is the processor time, user and system, of every thread of the
// VM's QEMU processes that have exited: all of its processes once Done is
// closed. It is what the machine cost the host, whatever the guest did.
func (vm *VM) CPU() time.Duration {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.cpu
}

// Started is when QEMU was started.
func (vm *VM) Started() time.Time { return vm.started }

// Output returns everything the console printed so far.
func (vm *VM) Output() string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.out.String()
}

// ErrExited means QEMU ended while we waited for output.
var ErrExited = errors.New("qemu exited")

// WaitFor waits for re to match console output printed after the previous
// match, and returns the submatches and when the match was seen.
func (vm *VM) WaitFor(re *regexp.Regexp, timeout time.Duration) ([]string, time.Time, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		vm.mu.Lock()
		s := vm.out.String()[vm.cursor:]
		if loc := re.FindStringSubmatchIndex(s); loc != nil {
			m := make([]string, len(loc)/2)
			for i := range m {
				if loc[2*i] >= 0 {
					m[i] = s[loc[2*i]:loc[2*i+1]]
				}
			}
			vm.cursor += loc[1]
			vm.mu.Unlock()
			return m, time.Now(), nil
		}
		vm.mu.Unlock()
		select {
		case <-vm.wake:
		case <-vm.done:
			// One last look at what arrived before the exit.
			vm.mu.Lock()
			s := vm.out.String()[vm.cursor:]
			vm.mu.Unlock()
			if re.MatchString(s) {
				continue
			}
			return nil, time.Time{}, fmt.Errorf("waiting for %q: %w (%v)", re, ErrExited, vm.ExitErr())
		case <-deadline.C:
			return nil, time.Time{}, fmt.Errorf("waiting for %q: timed out after %s", re, timeout)
		}
	}
}

// Send types s on the serial console.
func (vm *VM) Send(s string) error {
	vm.mu.Lock()
	stdin := vm.stdin
	vm.mu.Unlock()
	_, err := io.WriteString(stdin, s)
	return err
}

// Run runs a shell command on the serial console (a root shell must be
// there, e.g. through berth.autologin) and returns its output and exit code.
// Markers are printed with printf so the echoed command line never matches.
func (vm *VM) Run(command string, timeout time.Duration) (string, int, error) {
	vm.mu.Lock()
	vm.seq++
	n := vm.seq
	vm.mu.Unlock()
	begin, end := fmt.Sprintf("@@B%d@@", n), fmt.Sprintf("@@E%d@@", n)
	line := fmt.Sprintf("printf '@@B%%s@@\\n' %d; %s; printf '@@E%%s@@ %%s\\n' %d $?\n", n, command, n)
	if err := vm.Send(line); err != nil {
		return "", -1, err
	}
	re := regexp.MustCompile(`(?s)` + regexp.QuoteMeta(begin) + `\r?\n(.*?)` + regexp.QuoteMeta(end) + ` (\d+)`)
	m, _, err := vm.WaitFor(re, timeout)
	if err != nil {
		return "", -1, fmt.Errorf("run %q: %w", command, err)
	}
	code, _ := strconv.Atoi(m[2])
	return strings.ReplaceAll(m[1], "\r", ""), code, nil
}

// Done is closed when QEMU exits.
func (vm *VM) Done() <-chan struct{} { return vm.done }

// ExitErr is QEMU's exit error (nil for status 0) once it has exited.
func (vm *VM) ExitErr() error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.err
}

// Wait waits for QEMU to exit.
func (vm *VM) Wait(timeout time.Duration) error {
	select {
	case <-vm.done:
		return vm.ExitErr()
	case <-time.After(timeout):
		return fmt.Errorf("qemu still running after %s", timeout)
	}
}

// Kill stops QEMU at once.
func (vm *VM) Kill() {
	vm.mu.Lock()
	vm.killed = true
	cmd := vm.cmd
	vm.mu.Unlock()
	if cmd.Process != nil {
		cmd.Process.Kill()
	}
	select {
	case <-vm.done:
	case <-time.After(10 * time.Second):
	}
}

// QMP sends one QMP command without arguments (e.g. system_powerdown) and
// returns its reply line.
func (vm *VM) QMP(command string) (string, error) {
	return vm.QMPArgs(command, nil)
}

// QMPArgs sends one QMP command with arguments (nil for none) and returns
// its reply line: {"return": ...} or {"error": ...}.
func (vm *VM) QMPArgs(command string, args any) (string, error) {
	if vm.qmp == "" {
		return "", errors.New("no QMP socket configured")
	}
	c, err := net.DialTimeout("unix", vm.qmp, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("qmp %s: %w", command, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil { // greeting
		return "", fmt.Errorf("qmp %s: greeting: %w", command, err)
	}
	type request struct {
		Execute   string `json:"execute"`
		Arguments any    `json:"arguments,omitempty"`
	}
	for _, req := range []request{{Execute: "qmp_capabilities"}, {Execute: command, Arguments: args}} {
		b, err := json.Marshal(req)
		if err != nil {
			return "", fmt.Errorf("qmp %s: %w", command, err)
		}
		if _, err := c.Write(append(b, '\n')); err != nil {
			return "", fmt.Errorf("qmp %s: %w", command, err)
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return "", fmt.Errorf("qmp %s: %w", command, err)
			}
			// Events ({"event": ...}) may come between; the reply has
			// "return" or "error" at its top level.
			var reply struct {
				Return json.RawMessage `json:"return"`
				Error  *struct {
					Desc string `json:"desc"`
				} `json:"error"`
			}
			if json.Unmarshal([]byte(line), &reply) != nil || (reply.Return == nil && reply.Error == nil) {
				continue
			}
			if req.Execute != command {
				break
			}
			if reply.Error != nil {
				return line, fmt.Errorf("qmp %s: %s", command, reply.Error.Desc)
			}
			return line, nil
		}
	}
	return "", nil
}

// HostPort is the port on the host that a user-mode NIC's TCP forward to
// guestPort listens on. A forward written with host port 0 (HostFwd
// "tcp:127.0.0.1:0-:22") gets a port that QEMU itself binds, so no other
// process can take it between a pick and QEMU's bind; this reads it back.
func (vm *VM) HostPort(guestPort int) (int, error) {
	line, err := vm.QMPArgs("human-monitor-command", map[string]string{"command-line": "info usernet"})
	if err != nil {
		return 0, err
	}
	var reply struct {
		Return string `json:"return"`
	}
	if err := json.Unmarshal([]byte(line), &reply); err != nil {
		return 0, fmt.Errorf("info usernet: %w", err)
	}
	if p, ok := forwardedPort(reply.Return, guestPort); ok {
		return p, nil
	}
	return 0, fmt.Errorf("info usernet: no TCP forward to guest port %d in %q", guestPort, reply.Return)
}

// usernetFwdRe is a TCP host forward's line of info usernet: its source
// address and port on the host, then its destination in the guest.
var usernetFwdRe = regexp.MustCompile(`TCP\[HOST_FORWARD\]\s+\d+\s+\S+\s+(\d+)\s+\S+\s+(\d+)`)

// forwardedPort finds the host port of the forward to guestPort in the
// output of info usernet.
func forwardedPort(usernet string, guestPort int) (int, bool) {
	for _, m := range usernetFwdRe.FindAllStringSubmatch(usernet, -1) {
		host, _ := strconv.Atoi(m[1])
		guest, _ := strconv.Atoi(m[2])
		if guest == guestPort && host != 0 {
			return host, true
		}
	}
	return 0, false
}

// Save writes the machine's state (devices, RAM, the CPU) to
// path through QEMU's migration, then ends QEMU. A machine started with
// Config.Incoming set to path resumes where this one stopped: a fork. The
// disks are not in the file: each fork must see them as they were at the
// save, e.g. through a qcow2 overlay of its own over a disk nobody writes
// again.
func (vm *VM) Save(path string, timeout time.Duration) error {
	// No stop first: the destination resumes in the state the source was
	// in when the migration ended, so a stopped source would give paused
	// forks. The migration stops the source itself for its last pass.
	if _, err := vm.QMPArgs("migrate", map[string]string{"uri": "exec:cat > " + shellQuote(path)}); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		line, err := vm.QMP("query-migrate")
		if err != nil {
			return err
		}
		var st struct {
			Return struct {
				Status    string `json:"status"`
				ErrorDesc string `json:"error-desc"`
			} `json:"return"`
		}
		if err := json.Unmarshal([]byte(line), &st); err != nil {
			return fmt.Errorf("query-migrate: %w: %s", err, line)
		}
		switch st.Return.Status {
		case "completed":
			// The disks were flushed when the migration completed.
			vm.QMP("quit")
			return vm.Wait(time.Minute)
		case "failed", "cancelled":
			return fmt.Errorf("saving the machine to %s: migration %s: %s", path, st.Return.Status, st.Return.ErrorDesc)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("saving the machine to %s: still %q after %s", path, st.Return.Status, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// shellQuote quotes s for /bin/sh, which runs QEMU's exec: migrations.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
