package console

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/berth-os/berth/internal/layout"
)

// Access is what the rescue console gives when boot fails or berth.break
// stops it.
type Access int

const (
	// NoShell: no shell; the console says why and how to get one.
	NoShell Access = iota
	// AskPassword: a shell after root's password (sulogin).
	AskPassword
	// OpenShell: a shell without a password (rescue: shell, and root has
	// no password).
	OpenShell
)

func (a Access) String() string {
	switch a {
	case AskPassword:
		return "shell after root's password"
	case OpenShell:
		return "shell without a password"
	}
	return "no shell"
}

// Decision is what the rescue console gives, and for NoShell why not and
// how to get a shell.
type Decision struct {
	Access Access
	Why    string
}

// checkable are the crypt(3) schemes busybox's sulogin can check: it has
// a crypt of its own, with no yescrypt or bcrypt.
var checkable = []string{"$6$", "$5$", "$1$"}

// Decide says what the rescue console gives. mode is the image spec's
// rescue (layout.Rescue*; "" is the default, password). hash is root's
// crypt(3) hash from the rendered /etc/shadow, and hashErr why it could
// not be read (boot stopped before /etc was rendered). A password the
// rescue prompt can check always asks for it; without one there is a shell
// only when the image allows one without a password.
func Decide(mode, hash string, hashErr error) Decision {
	if mode == "" {
		mode = layout.RescuePassword
	}
	switch mode {
	case layout.RescueOff:
		return Decision{Access: NoShell, Why: "this image was built with rescue: off in its image spec, which allows none; boot it again with another kernel command line (without berth.break), or fix it from another system"}
	case layout.RescuePassword, layout.RescueShell:
	default:
		return Decision{Access: NoShell, Why: fmt.Sprintf("the image info's rescue is %q, which is none of %s", mode, strings.Join(layout.RescueModes, ", "))}
	}
	missing := passwordProblem(hash, hashErr)
	switch {
	case missing == "":
		return Decision{Access: AskPassword}
	case mode == layout.RescueShell:
		return Decision{Access: OpenShell}
	}
	how := "set root's password in cloud-config (users: [{name: root, passwd: \"<a hash from mkpasswd -m sha-512>\"}]) and boot again"
	if hashErr != nil {
		// No /etc yet: a password in cloud-config helps only once boot
		// gets as far as rendering it.
		how = "set root's password in cloud-config (users: [{name: root, passwd: \"<a hash from mkpasswd -m sha-512>\"}]) and stop boot after phase etc (berth.break=sysctl or later)"
	}
	return Decision{Access: NoShell, Why: missing + ", and this image allows no rescue shell without one. To get one, " + how +
		", or build the image with rescue: shell in its image spec"}
}

// passwordProblem says why hash is no password the rescue prompt can
// check, or "" when it is one.
func passwordProblem(hash string, err error) string {
	switch {
	case err != nil:
		return fmt.Sprintf("there is no root password to check (%v)", err)
	case hash == "":
		return "root's password is empty"
	case hash[0] == '!' || hash[0] == '*':
		return "root has no password (cloud-config gives it none)"
	}
	for _, p := range checkable {
		if strings.HasPrefix(hash, p) {
			return ""
		}
	}
	scheme := "DES"
	if hash[0] == '$' {
		if i := strings.IndexByte(hash[1:], '$'); i >= 0 {
			scheme = hash[:i+2]
		}
	}
	return fmt.Sprintf("root's password hash is of a kind (%s) the rescue prompt cannot check: give a $6$ (SHA-512), $5$ or $1$ hash", scheme)
}

// RootHash returns root's password hash from shadow (the rendered
// /etc/shadow).
func RootHash(shadow string) (string, error) {
	b, err := os.ReadFile(shadow)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no %s yet: boot stopped before phase etc renders it from cloud-config", shadow)
	}
	if err != nil {
		return "", fmt.Errorf("read root's password: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, rest, ok := strings.Cut(line, ":"); ok && name == "root" {
			hash, _, _ := strings.Cut(rest, ":")
			return hash, nil
		}
	}
	return "", fmt.Errorf("%s has no entry for root", shadow)
}

// Shells are the programs the rescue console runs.
type Shells struct {
	Shell   []string // without a password, e.g. /bin/sh -l
	Sulogin []string // after root's password, e.g. /usr/bin/busybox sulogin
}

// Argv is the program d runs; nil for NoShell.
func (s Shells) Argv(d Decision) []string {
	switch d.Access {
	case AskPassword:
		return s.Sulogin
	case OpenShell:
		return s.Shell
	}
	return nil
}

// Message is the line the consoles show for d on tty.
func (d Decision) Message(tty string) string {
	switch d.Access {
	case AskPassword:
		return fmt.Sprintf("rescue shell on %s after root's password (from cloud-config); fix things, then exit to get a new one or run `reboot -f`", tty)
	case OpenShell:
		return fmt.Sprintf("rescue shell on %s, without a password (the image spec says rescue: shell); fix things, then exit to get a new one or run `reboot -f`", tty)
	}
	return "rescue shell unavailable: " + d.Why
}

// Starter starts a process whose wait PID 1's reaper owns.
type Starter interface {
	Start(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error)
}

// Rescue is the console of last resort when boot fails. With a shell (d
// says which) it runs one on tty forever: when it exits, another starts.
// Without, it says why on log, and again each time Enter is pressed on
// tty, until tty fails. It returns only then.
func Rescue(st Starter, log io.Writer, tty string, sh Shells, d Decision, reason string) {
	argv := sh.Argv(d)
	if len(argv) == 0 {
		Explain(log, tty, fmt.Sprintf("berth: %s\nberth: %s\n", reason, d.Message(tty)))
		return
	}
	for {
		fmt.Fprintf(log, "berth: %s\nberth: %s\n", reason, d.Message(tty))
		// The console's writes are queued: the reason comes before the
		// password prompt, not after it.
		if fl, ok := log.(interface{ Flush(time.Duration) bool }); ok {
			fl.Flush(2 * time.Second)
		}
		f, err := os.OpenFile(tty, os.O_RDWR|syscall.O_NOCTTY, 0)
		if err != nil {
			fmt.Fprintf(log, "berth: rescue: open %s: %v\n", tty, err)
			time.Sleep(5 * time.Second)
			continue
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, f
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", "TERM=linux", "PS1=(rescue) # "}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		ch, err := st.Start(cmd)
		f.Close()
		if err != nil {
			fmt.Fprintf(log, "berth: rescue: start %s: %v\n", argv[0], err)
			time.Sleep(5 * time.Second)
			continue
		}
		<-ch
		time.Sleep(time.Second)
	}
}

// Explain writes text to log, and again for each line read from tty: who
// comes to a silent console presses Enter. It returns when tty fails.
func Explain(log io.Writer, tty, text string) {
	io.WriteString(log, text)
	f, err := os.OpenFile(tty, os.O_RDONLY|syscall.O_NOCTTY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for {
		if _, err := r.ReadString('\n'); err != nil {
			return
		}
		io.WriteString(log, text)
	}
}
