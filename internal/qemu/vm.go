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
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// VM is a running QEMU whose serial console is connected to pipes.
type VM struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	started time.Time
	qmp     string

	mu     sync.Mutex
	out    bytes.Buffer // everything the console printed
	cursor int          // how far WaitFor has consumed
	wake   chan struct{}
	done   chan struct{}
	err    error
	seq    int
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
	cmd := exec.CommandContext(ctx, bin, args...)
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
	vm := &VM{cmd: cmd, stdin: stdin, qmp: c.QMP, wake: make(chan struct{}, 1), done: make(chan struct{})}
	vm.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := stdout.Read(buf)
			if n > 0 {
				vm.mu.Lock()
				vm.out.Write(buf[:n])
				vm.mu.Unlock()
				if log != nil {
					log.Write(buf[:n])
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
		vm.mu.Lock()
		if err != nil && stderr.Len() > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
		vm.err = err
		vm.mu.Unlock()
		close(vm.done)
	}()
	return vm, nil
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
	_, err := io.WriteString(vm.stdin, s)
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
	if vm.cmd.Process != nil {
		vm.cmd.Process.Kill()
	}
	select {
	case <-vm.done:
	case <-time.After(10 * time.Second):
	}
}

// QMP sends one QMP command (e.g. system_powerdown) and returns its reply.
func (vm *VM) QMP(command string) (string, error) {
	if vm.qmp == "" {
		return "", errors.New("no QMP socket configured")
	}
	c, err := net.DialTimeout("unix", vm.qmp, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil { // greeting
		return "", err
	}
	for _, cmd := range []string{"qmp_capabilities", command} {
		b, _ := json.Marshal(map[string]string{"execute": cmd})
		if _, err := c.Write(append(b, '\n')); err != nil {
			return "", err
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return "", err
			}
			if strings.Contains(line, `"return"`) || strings.Contains(line, `"error"`) {
				if cmd == command {
					return line, nil
				}
				break
			}
		}
	}
	return "", nil
}
