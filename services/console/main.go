// Package console is berth-console, the main process of the Berth console service:
// it keeps sshd and one login per kernel console running, and reports ready
// once they are started.
package console

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/notify"
	"golang.org/x/sys/unix"
)

// Main runs the program with the process's arguments; it exits the
// process on an error. cmd/berthbox runs it by the name it runs as.
func Main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "berth-console:", err)
		os.Exit(1)
	}
}

type config struct {
	sysfs     string // root of /sys, for the active console list
	dev       string // root of /dev
	keyDir    string // persistent ssh host keys
	givenKeys string // host keys given by cloud-config (ssh_keys), rendered by PID 1
	// sshdConfig is sshd's config, whose HostKey lines name the host
	// keys to make (ssh_genkeytypes, rendered by PID 1).
	sshdConfig string
	sshdRun    string // sshd's privilege-separation folder
	// sshdStart is where sshd's config goes without the HostKey lines of
	// keys not made yet, when there are some (startConfig).
	sshdStart string
	procNet   string // /proc/net: the sockets that listen on port 22
	sshd      string
	keygen    string
	getty     []string // argv prefix of the getty; the tty is appended
	login     []string // argv of the autologin login
	autologin string   // "", "all" or a comma list of ttys
	noSSH     bool
	// tools is where Berth's console tools are mounted in a distribution
	// console (empty in the built-in): sshd and ssh-keygen run through
	// the tools' own loader and libraries, getty and login are the tools'
	// static busybox.
	tools  string
	loader []string // argv prefix of sshd and ssh-keygen: the tools' ld.so
	// name is this console's service; with it, the console takes the
	// logins only once activeFile names it (a switch: the old console
	// holds port 22 and the ttys until it is gone) and then writes its
	// name to servingFile.
	name        string
	activeFile  string
	servingFile string
}

// Where PID 1 names the console that holds the logins, and where that
// console says it serves them (in /run/berth, bound into every console).
const (
	activeFile  = "/run/berth/console/active"
	servingFile = "/run/berth/console/serving"
)

// parseFlags reads the command line; -autologin defaults to the
// BERTH_AUTOLOGIN variable PID 1 sets from berth.autologin.
func parseFlags(args []string, log io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("berth-console", flag.ContinueOnError)
	fs.SetOutput(log)
	fs.StringVar(&c.sysfs, "sysfs", "/sys", "sysfs root")
	fs.StringVar(&c.dev, "dev", "/dev", "device directory")
	fs.StringVar(&c.keyDir, "key-dir", "/var/lib/berth/ssh", "where ssh host keys persist")
	fs.StringVar(&c.givenKeys, "given-keys", "/etc/ssh/given-host-keys", "host keys given by cloud-config's ssh_keys, installed in place of made ones")
	fs.StringVar(&c.sshd, "sshd", "/usr/sbin/sshd", "sshd binary")
	fs.StringVar(&c.sshdConfig, "sshd-config", "/etc/ssh/sshd_config", "sshd's config: the host keys of its HostKey lines in -key-dir are made")
	fs.StringVar(&c.keygen, "ssh-keygen", "/usr/bin/ssh-keygen", "ssh-keygen binary")
	fs.StringVar(&c.autologin, "autologin", os.Getenv("BERTH_AUTOLOGIN"), `consoles that log root in without a password: "all" or a list such as ttyS0,tty1`)
	fs.BoolVar(&c.noSSH, "no-ssh", false, "do not run sshd")
	fs.StringVar(&c.tools, "tools", os.Getenv("BERTH_CONSOLE_TOOLS"), "where Berth's console tools are mounted, in a distribution console")
	fs.StringVar(&c.name, "name", os.Getenv("BERTH_CONSOLE"), "this console's service: take the logins once -active names it")
	fs.StringVar(&c.activeFile, "active", activeFile, "the file that names the console that holds the logins")
	fs.StringVar(&c.servingFile, "serving", servingFile, "the file this console writes its name to once it serves the logins")
	fs.Usage = func() {
		fmt.Fprintln(log, "usage: berth-console [flags]\n\nRuns sshd and a login on every kernel console, respawning them.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	c.sshdRun = "/run/sshd"
	c.sshdStart = "/run/berth-console/sshd_config"
	c.procNet = "/proc/net"
	c.getty = []string{"/bin/busybox", "getty", "-L", "115200"}
	c.login = []string{"/bin/login", "-f", "root"}
	if c.tools != "" {
		c.useTools()
	}
	return c, nil
}

// useTools runs sshd, ssh-keygen, getty and login from the tools mounted
// at c.tools, not from the distribution's userland, which may have none
// of them, or other versions. sshd and ssh-keygen are the tools' dynamic
// Debian builds: they run through the tools' own loader with the tools'
// libraries (the loader's --library-path, so nothing is inherited by
// the shells sshd starts).
func (c *config) useTools() {
	lib := filepath.Join(c.tools, "usr/lib/x86_64-linux-gnu")
	c.loader = []string{filepath.Join(lib, "ld-linux-x86-64.so.2"), "--library-path", lib}
	c.sshd = filepath.Join(c.tools, "usr/sbin/sshd")
	c.keygen = filepath.Join(c.tools, "usr/bin/ssh-keygen")
	busybox := filepath.Join(c.tools, "usr/bin/busybox")
	// login is a link to busybox in the tools: run by that name, busybox
	// is login.
	login := filepath.Join(c.tools, "usr/bin/login")
	c.getty = []string{busybox, "getty", "-l", login, "-L", "115200"}
	c.login = []string{login, "-f", "root"}
}

// command is an exec.Cmd of one of the tools, through the loader if any.
func (c *config) command(bin string, args ...string) *exec.Cmd {
	if len(c.loader) == 0 {
		return exec.Command(bin, args...)
	}
	argv := append(append(append([]string{}, c.loader[1:]...), bin), args...)
	return exec.Command(c.loader[0], argv...)
}

// keygenCmd is ssh-keygen's argv prefix.
func (c *config) keygenCmd() []string {
	return append(append([]string{}, c.loader...), c.keygen)
}

// sshdArgs are sshd's arguments. Through the loader, sshd must not
// execute itself again: OpenSSH 9.2 re-executes its own path for every
// connection and on SIGHUP, and that path run directly would take the
// distribution's loader and libraries. -r turns the per-connection
// re-exec off; the host keys are all made before sshd starts, so that it
// needs no SIGHUP.
func (c *config) sshdArgs() []string {
	if len(c.loader) == 0 {
		return []string{"-D", "-e"}
	}
	return []string{"-D", "-e", "-r"}
}

// awaitTurn waits until the active file names this console. It says
// whether it had to wait: false when the console was named from the start
// (a boot, or a restart of the console that serves).
func awaitTurn(ctx context.Context, file, name string) (waited bool, err error) {
	for {
		if b, err := os.ReadFile(file); err == nil && strings.TrimSpace(string(b)) == name {
			return waited, nil
		}
		waited = true
		select {
		case <-ctx.Done():
			return waited, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func run(ctx context.Context, args []string, log io.Writer) error {
	c, err := parseFlags(args, log)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var wg sync.WaitGroup
	// The host keys made before sshd starts; the rest after, then sshd
	// reloads them.
	first, later := splitKeyTypes(hostKeyTypes(c.sshdConfig, c.keyDir))
	if c.name != "" {
		if b, _ := os.ReadFile(c.activeFile); strings.TrimSpace(string(b)) != c.name {
			// A switch: prepare everything, report ready, and wait for the
			// old console to be gone before taking port 22 and the ttys.
			first, later = append(first, later...), nil
			if !c.noSSH {
				os.MkdirAll(c.sshdRun, 0o755) // sshd -t wants it
				if err := installGivenKeys(c.keygenCmd(), c.givenKeys, c.keyDir, log); err != nil {
					fmt.Fprintln(log, "berth-console: ssh host keys:", err)
				}
				if err := ensureHostKeys(c.keygenCmd(), c.keyDir, first, 0, log); err != nil {
					return fmt.Errorf("ssh host keys: %w", err)
				}
				if out, err := c.command(c.sshd, "-t").CombinedOutput(); err != nil {
					return fmt.Errorf("sshd -t: %w: %s", err, strings.TrimSpace(string(out)))
				}
			}
			fmt.Fprintf(log, "berth-console: %s prepared; waiting for %s to name it\n", c.name, c.activeFile)
			notify.Ready("prepared, waiting to take the logins over")
			if _, err := awaitTurn(ctx, c.activeFile, c.name); err != nil {
				return nil // stopped before its turn
			}
			fmt.Fprintf(log, "berth-console: %s takes the logins over\n", c.name)
		}
	}
	if len(c.loader) > 0 {
		first, later = append(first, later...), nil
	}
	if !c.noSSH {
		// Keys the user gives are installed first, so none is made for
		// their types.
		if err := installGivenKeys(c.keygenCmd(), c.givenKeys, c.keyDir, log); err != nil {
			fmt.Fprintln(log, "berth-console: ssh host keys:", err)
		}
		// The ed25519 key is made before sshd starts (it takes milliseconds);
		// ECDSA and RSA (seconds under emulation) after, then sshd reloads.
		if err := ensureHostKeys(c.keygenCmd(), c.keyDir, first, 0, log); err != nil {
			fmt.Fprintln(log, "berth-console: ssh host keys:", err)
		}
		os.MkdirAll(c.sshdRun, 0o755)
		argv := c.sshdArgs()
		start, err := startConfig(c.sshdConfig, c.keyDir, c.sshdStart, false)
		if err != nil {
			fmt.Fprintln(log, "berth-console: sshd's config:", err)
		}
		if start != "" {
			argv = append(argv, "-f", start)
		}
		sshd := make(chan *os.Process, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			respawn(ctx, log, "sshd", func() *exec.Cmd {
				cmd := c.command(c.sshd, argv...)
				cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
				return cmd
			}, func(p *os.Process) {
				select {
				case sshd <- p:
				default:
				}
			})
		}()
		if err := waitListening("127.0.0.1:22", 30*time.Second); err != nil {
			fmt.Fprintln(log, "berth-console: sshd:", err)
		}
		go func() {
			if len(later) == 0 {
				return
			}
			if err := ensureHostKeys(c.keygenCmd(), c.keyDir, later, laterNice, log); err != nil {
				fmt.Fprintln(log, "berth-console: ssh host keys:", err)
				return
			}
			fmt.Fprintf(log, "berth-console: ssh host keys after sshd's start: %s\n", strings.Join(later, " "))
			if start != "" {
				// sshd re-executes itself with the same arguments on
				// SIGHUP: its -f file gets the keys made since.
				if _, err := startConfig(c.sshdConfig, c.keyDir, start, true); err != nil {
					fmt.Fprintln(log, "berth-console: sshd's config:", err)
					return
				}
			}
			select {
			case p := <-sshd:
				// sshd re-executes and loads the new keys: for a moment
				// nothing listens on port 22. The line says when sshd
				// listens again.
				before := listeners(c.procNet, 22)
				p.Signal(syscall.SIGHUP)
				if err := awaitNewListeners(ctx, c.procNet, 22, before, 30*time.Second); err != nil {
					fmt.Fprintln(log, "berth-console: sshd after its reload:", err)
					return
				}
				fmt.Fprintf(log, "berth-console: sshd reloaded: it listens again, with the host keys %s\n", strings.Join(append(first, later...), " "))
			default:
			}
		}()
	}
	ttys := consoles(c.sysfs)
	auto := autologinSet(c.autologin, ttys)
	for _, tty := range ttys {
		tty := tty
		wg.Add(1)
		go func() {
			defer wg.Done()
			respawn(ctx, log, tty, func() *exec.Cmd {
				if auto[tty] {
					return loginOn(filepath.Join(c.dev, tty), c.login)
				}
				cmd := exec.Command(c.getty[0], append(c.getty[1:], tty, "vt100")...)
				return cmd
			}, nil)
		}()
	}
	list := consoleModes(ttys, auto)
	fmt.Fprintf(log, "berth-console: consoles %s, sshd %v\n", list, !c.noSSH)
	if c.name != "" {
		if err := atomicfile.Write(c.servingFile, []byte(c.name+"\n"), 0o644); err != nil {
			fmt.Fprintln(log, "berth-console:", err)
		}
	}
	notify.Ready("consoles " + list)
	<-ctx.Done()
	wg.Wait()
	return nil
}

// consoleModes describes what runs on each console: "ttyS0=autologin
// tty1=getty".
func consoleModes(ttys []string, auto map[string]bool) string {
	var list []string
	for _, t := range ttys {
		mode := "getty"
		if auto[t] {
			mode = "autologin"
		}
		list = append(list, t+"="+mode)
	}
	return strings.Join(list, " ")
}

// consoles lists the kernel's active consoles (console= on the command
// line), mapping tty0, "the current VT", to tty1.
func consoles(sysfs string) []string {
	b, err := os.ReadFile(filepath.Join(sysfs, "class/tty/console/active"))
	if err != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, t := range strings.Fields(string(b)) {
		if t == "tty0" {
			t = "tty1"
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// autologinSet reads the berth.autologin value: "all" (or "1", or empty
// value given as the bare flag) means every console.
func autologinSet(v string, ttys []string) map[string]bool {
	out := map[string]bool{}
	v = strings.TrimSpace(v)
	if v == "" {
		return out
	}
	if v == "all" || v == "1" || v == "true" {
		for _, t := range ttys {
			out[t] = true
		}
		return out
	}
	for _, t := range strings.Split(v, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "/dev/")
		if t == "tty0" {
			t = "tty1"
		}
		if t != "" {
			out[t] = true
		}
	}
	return out
}

// loginOn runs login on a tty as its controlling terminal, in a new session.
func loginOn(ttyPath string, argv []string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	f, err := os.OpenFile(ttyPath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		cmd.Err = err // "open <tty>: <cause>"
		return cmd
	}
	sane(int(f.Fd()))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, f
	cmd.Env = []string{"TERM=vt100", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	return cmd
}

// sane sets a tty to cooked mode with echo, like `stty sane`.
func sane(fd int) {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return
	}
	t.Iflag = unix.BRKINT | unix.ICRNL | unix.IMAXBEL | unix.IXON | unix.IUTF8
	t.Oflag = unix.OPOST | unix.ONLCR
	t.Lflag = unix.ISIG | unix.ICANON | unix.ECHO | unix.ECHOE | unix.ECHOK | unix.ECHOCTL | unix.ECHOKE | unix.IEXTEN
	t.Cflag = (t.Cflag &^ (unix.CSIZE | unix.PARENB)) | unix.CS8 | unix.CREAD
	unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// respawn keeps a process running until ctx ends, waiting longer between
// starts when it keeps dying quickly (see nextDelay). started, if set, hears
// of each new process.
func respawn(ctx context.Context, log io.Writer, name string, mk func() *exec.Cmd, started func(*os.Process)) {
	delay := time.Second
	for ctx.Err() == nil {
		cmd := mk()
		start := time.Now()
		err := cmd.Start()
		if err == nil {
			if started != nil {
				started(cmd.Process)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-ctx.Done():
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					cmd.Process.Kill()
					<-done
				}
				return
			}
		}
		if f, ok := cmd.Stdin.(*os.File); ok && f != os.Stdin {
			f.Close()
		}
		var wait time.Duration
		wait, delay = nextDelay(delay, time.Since(start))
		fmt.Fprintf(log, "berth-console: %s exited (%v); restarting in %s\n", name, err, wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// nextDelay is respawn's backoff: given the delay due and how long the
// process ran, it returns the wait before the next start and the delay due
// after that. The delay starts at 1s and doubles up to 30s; a run of over a
// minute starts it again at 1s.
func nextDelay(delay, ran time.Duration) (wait, next time.Duration) {
	if ran > time.Minute {
		delay = time.Second
	}
	return delay, min(delay*2, 30*time.Second)
}

// waitListening waits until a TCP connection to addr succeeds.
func waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %s: %w", addr, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// listeners are the inodes of the sockets that listen on port, from the
// tcp and tcp6 tables of procNet (/proc/net).
func listeners(procNet string, port int) map[string]bool {
	set := map[string]bool{}
	local := fmt.Sprintf(":%04X", port)
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(filepath.Join(procNet, table))
		if err != nil {
			continue
		}
		// sl local_address rem_address st ... inode: st 0A is LISTEN.
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 10 && strings.HasSuffix(f[1], local) && f[3] == "0A" {
				set[f[9]] = true
			}
		}
	}
	return set
}

// awaitNewListeners waits until as many sockets as before listen on port,
// none of them one of before (at least one): a process that re-executes
// (sshd, on SIGHUP) listens again.
func awaitNewListeners(ctx context.Context, procNet string, port int, before map[string]bool, timeout time.Duration) error {
	want := max(len(before), 1)
	deadline := time.Now().Add(timeout)
	for {
		n := 0
		for ino := range listeners(procNet, port) {
			if !before[ino] {
				n++
			}
		}
		if n >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of the %d sockets on port %d listen again after %s", n, want, port, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startConfig is the config sshd starts with when some of the host keys
// its config (src) names in keyDir are not made yet: a copy at dst without
// their HostKey lines, which it returns. Given a key file that is not
// there, sshd logs "Unable to load host key" as an error, on the console
// of every first boot. When every key is there, it returns "" (sshd reads
// src), unless again: sshd started with dst, which is written again
// before sshd reloads with the keys made since.
func startConfig(src, keyDir, dst string, again bool) (string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	left := false
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if key, ok := keyDirHostKey(line, keyDir); ok && !validKey(key) {
			left = true
			continue
		}
		out.WriteString(line)
	}
	if !left && !again {
		return "", nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	if err := atomicfile.Write(dst, []byte(out.String()), 0o644); err != nil {
		return "", err
	}
	return dst, nil
}

// keyDirHostKey is the key file that a line of sshd's config names, when
// it is a HostKey line and the file is in keyDir.
func keyDirHostKey(line, keyDir string) (string, bool) {
	f := strings.Fields(line)
	if len(f) != 2 || !strings.EqualFold(f[0], "HostKey") || filepath.Dir(f[1]) != keyDir {
		return "", false
	}
	return f[1], true
}

// hostKeyTypes are the types of the host keys that sshd's config (its
// HostKey lines) wants in keyDir, as ssh_host_TYPE_key; all that Berth
// knows (layout.SSHHostKeyTypes) when it cannot be read or names none
// there.
func hostKeyTypes(sshdConfig, keyDir string) []string {
	b, err := os.ReadFile(sshdConfig)
	if err != nil {
		return layout.SSHHostKeyTypes()
	}
	var types []string
	for _, line := range strings.Split(string(b), "\n") {
		key, ok := keyDirHostKey(line, keyDir)
		if !ok {
			continue
		}
		name := filepath.Base(key)
		if t, ok := strings.CutSuffix(strings.TrimPrefix(name, "ssh_host_"), "_key"); ok && slices.Contains(layout.SSHHostKeyTypes(), t) && !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	if len(types) == 0 {
		return layout.SSHHostKeyTypes()
	}
	return types
}

// splitKeyTypes splits the host key types into those made before sshd
// starts (ed25519, which takes milliseconds, or else the first: sshd
// needs a key) and those made after it, at laterNice.
func splitKeyTypes(types []string) (first, later []string) {
	i := slices.Index(types, "ed25519")
	if i < 0 {
		i = 0
	}
	first = []string{types[i]}
	later = append(slices.Clone(types[:i]), types[i+1:]...)
	return first, later
}

// laterNice is the nice value of ssh-keygen for the keys made after sshd
// starts. They take seconds of CPU on a first boot (RSA the most: 2 to 9 s
// under emulation), and whatever the host's first work is comes first;
// they are made when the CPU is idle.
const laterNice = 19

// ensureHostKeys makes the persistent ssh host keys of the given types on
// first boot, ssh-keygen running at the nice value given.
func ensureHostKeys(keygen []string, dir string, types []string, nice int, log io.Writer) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, typ := range types {
		key := filepath.Join(dir, "ssh_host_"+typ+"_key")
		if validKey(key) {
			continue
		}
		// Made under a temporary name and renamed once synced, so a power
		// cut never leaves an empty or half-written key behind.
		tmp := key + ".new"
		os.Remove(tmp)
		os.Remove(tmp + ".pub")
		args := []string{"-q", "-N", "", "-t", typ, "-f", tmp, "-C", ""}
		if typ == "rsa" {
			args = append(args, "-b", "3072")
		}
		if out, err := runNiced(exec.Command(keygen[0], append(keygen[1:], args...)...), nice); err != nil {
			if out := strings.TrimSpace(string(out)); out != "" {
				return fmt.Errorf("ssh-keygen -t %s: %w: %s", typ, err, out)
			}
			return fmt.Errorf("ssh-keygen -t %s: %w", typ, err)
		}
		for _, suffix := range []string{".pub", ""} {
			if err := syncFile(tmp + suffix); err != nil {
				return err
			}
			if err := os.Rename(tmp+suffix, key+suffix); err != nil {
				return err
			}
		}
		if err := atomicfile.SyncDir(dir); err != nil {
			return err
		}
		fmt.Fprintf(log, "berth-console: made ssh host key %s\n", key)
	}
	return nil
}

// runNiced runs cmd at the nice value given and returns its output, as
// CombinedOutput. The value is set once the process has started (exec has
// no attribute for it); if it cannot be set, the command runs as it is.
func runNiced(cmd *exec.Cmd, nice int) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if nice != 0 {
		syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, nice)
	}
	err := cmd.Wait()
	return out.Bytes(), err
}

// validKey says whether a private key file looks whole: ssh-keygen's
// OpenSSH form, or a PEM form a user gave in ssh_keys.
func validKey(path string) bool {
	b, err := os.ReadFile(path)
	s := string(b)
	return err == nil && strings.HasPrefix(s, "-----BEGIN ") && strings.Contains(s, "PRIVATE KEY-----") &&
		strings.Contains(s, "-----END ")
}

// installGivenKeys installs the host keys cloud-config gives (ssh_keys,
// which PID 1 renders in given) as the persistent host keys, in place of
// made ones. ssh-keygen -y checks each private key and gives its public
// key; a public key given with it must be the same.
func installGivenKeys(keygen []string, given, dir string, log io.Writer) error {
	ents, err := os.ReadDir(given)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if name := e.Name(); strings.HasPrefix(name, "ssh_host_") && strings.HasSuffix(name, "_key") {
			errs = append(errs, installKey(keygen, filepath.Join(given, name), filepath.Join(dir, name), log))
		}
	}
	return errors.Join(errs...)
}

func installKey(keygen []string, src, dst string, log io.Writer) error {
	name := filepath.Base(src)
	priv, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	out, err := exec.Command(keygen[0], append(keygen[1:], "-y", "-f", src)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ssh_keys: %s: ssh-keygen -y: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	pub := strings.TrimSpace(string(out))
	if given, err := os.ReadFile(src + ".pub"); err == nil && keyBody(string(given)) != keyBody(pub) {
		return fmt.Errorf("ssh_keys: %s.pub is not the public key of %s; neither is installed", name, name)
	}
	if old, err := os.ReadFile(dst); err == nil && string(old) == string(priv) {
		return nil
	}
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, priv, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(tmp+".pub", []byte(pub+"\n"), 0o644); err != nil {
		return err
	}
	for _, suffix := range []string{".pub", ""} {
		if err := syncFile(tmp + suffix); err != nil {
			return err
		}
		if err := os.Rename(tmp+suffix, dst+suffix); err != nil {
			return err
		}
	}
	if err := atomicfile.SyncDir(filepath.Dir(dst)); err != nil {
		return err
	}
	fmt.Fprintf(log, "berth-console: installed ssh host key %s from cloud-config ssh_keys\n", dst)
	return nil
}

// keyBody is a public key line's type and key, without its comment.
func keyBody(line string) string {
	f := strings.Fields(line)
	if len(f) < 2 {
		return line
	}
	return f[0] + " " + f[1]
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
