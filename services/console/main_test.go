package console

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/notify"
	"github.com/berth-os/berth/internal/servicetest"
)

func TestConsoles(t *testing.T) {
	sys := t.TempDir()
	os.MkdirAll(filepath.Join(sys, "class/tty/console"), 0o755)
	os.WriteFile(filepath.Join(sys, "class/tty/console/active"), []byte("tty0 ttyS0\n"), 0o644)
	if diff := cmp.Diff([]string{"tty1", "ttyS0"}, consoles(sys)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if got := consoles(t.TempDir()); len(got) != 0 {
		t.Errorf("no sysfs: %v", got)
	}
}

func TestAutologinSet(t *testing.T) {
	ttys := []string{"tty1", "ttyS0"}
	for _, tc := range []struct {
		in   string
		want map[string]bool
	}{
		{"", map[string]bool{}},
		{"all", map[string]bool{"tty1": true, "ttyS0": true}},
		{"1", map[string]bool{"tty1": true, "ttyS0": true}},
		{"ttyS0", map[string]bool{"ttyS0": true}},
		{"ttyS0,tty0", map[string]bool{"ttyS0": true, "tty1": true}},
		{"/dev/ttyS1", map[string]bool{"ttyS1": true}},
	} {
		if diff := cmp.Diff(tc.want, autologinSet(tc.in, ttys)); diff != "" {
			t.Errorf("%q: (-want +got)\n%s", tc.in, diff)
		}
	}
}

func TestEnsureHostKeysKeepsExisting(t *testing.T) {
	dir := t.TempDir()
	for _, typ := range []string{"ed25519", "ecdsa", "rsa"} {
		os.WriteFile(filepath.Join(dir, "ssh_host_"+typ+"_key"), []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nold\n-----END OPENSSH PRIVATE KEY-----\n"), 0o600)
	}
	// keygen would fail (no such binary): existing keys must not be touched.
	all := []string{"ed25519", "ecdsa", "rsa"}
	if err := ensureHostKeys([]string{"/nonexistent/ssh-keygen"}, dir, all, 0, os.Stderr); err != nil {
		t.Fatal(err)
	}
	err := ensureHostKeys([]string{"/nonexistent/ssh-keygen"}, t.TempDir(), all, 0, os.Stderr)
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "ssh-keygen -t ed25519: fork/exec /nonexistent/ssh-keygen: no such file or directory" {
		t.Errorf("missing keys and no ssh-keygen: %v", err)
	}
}

// A failing ssh-keygen's own words are in the error, and no key is left.
func TestEnsureHostKeysReportsKeygen(t *testing.T) {
	bin := t.TempDir()
	keygen := filepath.Join(bin, "ssh-keygen")
	if err := os.WriteFile(keygen, []byte("#!/bin/sh\necho 'unknown key type' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	err := ensureHostKeys([]string{keygen}, dir, []string{"ed25519"}, 0, os.Stderr)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || err.Error() != "ssh-keygen -t ed25519: exit status 1: unknown key type" {
		t.Errorf("failing ssh-keygen: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left in the key folder: %v", ents)
	}
}

// The keys made after sshd starts are made by an ssh-keygen at the nice
// value asked for; the fake one waits to see it on itself, and fails
// saying what it saw.
func TestEnsureHostKeysNice(t *testing.T) {
	keygen := filepath.Join(t.TempDir(), "ssh-keygen")
	script := `#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = -f ] && f=$2; shift; done
i=0
while :; do
	n=$(cut -d' ' -f19 /proc/$$/stat)
	[ "$n" = "$WANT_NICE" ] && break
	i=$((i+1)); [ $i -ge 200 ] && { echo "nice $n" >&2; exit 1; }
	sleep 0.05
done
printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n' >"$f"
echo pub >"$f.pub"
`
	if err := os.WriteFile(keygen, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, nice := range []int{laterNice, 0} {
		t.Setenv("WANT_NICE", strconv.Itoa(nice))
		dir := t.TempDir()
		if err := ensureHostKeys([]string{keygen}, dir, []string{"rsa"}, nice, os.Stderr); err != nil {
			t.Fatalf("nice %d: %v", nice, err)
		}
		if !validKey(filepath.Join(dir, "ssh_host_rsa_key")) {
			t.Errorf("nice %d: no key made", nice)
		}
	}
}

// A key left empty by a power cut is made again, not trusted.
func TestEnsureHostKeysReplacesBroken(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Fatal("ssh-keygen missing: run make deps")
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "ssh_host_ed25519_key")
	os.WriteFile(key, nil, 0o600)
	if err := ensureHostKeys([]string{keygen}, dir, []string{"ed25519"}, 0, os.Stderr); err != nil {
		t.Fatal(err)
	}
	if !validKey(key) {
		t.Error("the empty key was not replaced")
	}
	if _, err := os.Stat(key + ".pub"); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(key + ".new"); !os.IsNotExist(err) {
		t.Error("temporary key left behind")
	}
}

func TestParseFlags(t *testing.T) {
	t.Setenv("BERTH_AUTOLOGIN", "ttyS0")
	got, err := parseFlags(nil, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	want := config{sysfs: "/sys", dev: "/dev", keyDir: "/var/lib/berth/ssh", givenKeys: "/etc/ssh/given-host-keys", sshdConfig: "/etc/ssh/sshd_config", sshdRun: "/run/sshd", sshdStart: "/run/berth-console/sshd_config", procNet: "/proc/net", sshd: "/usr/sbin/sshd", keygen: "/usr/bin/ssh-keygen",
		getty: []string{"/bin/busybox", "getty", "-L", "115200"}, login: []string{"/bin/login", "-f", "root"}, autologin: "ttyS0",
		activeFile: "/run/berth/console/active", servingFile: "/run/berth/console/serving"}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(config{})); diff != "" {
		t.Errorf("defaults (-want +got)\n%s", diff)
	}
	got, err = parseFlags([]string{"-autologin", "all", "-no-ssh", "-sysfs", "/s", "-dev", "/d"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if got.autologin != "all" || !got.noSSH || got.sysfs != "/s" || got.dev != "/d" {
		t.Errorf("flags: %+v", got)
	}
	if _, err := parseFlags([]string{"-bogus"}, &strings.Builder{}); err == nil || err.Error() != "flag provided but not defined: -bogus" {
		t.Errorf("unknown flag: %v", err)
	}
}

func TestConsoleModes(t *testing.T) {
	tests := []struct {
		name string
		ttys []string
		auto map[string]bool
		want string
	}{
		{"none", nil, nil, ""},
		{"getty", []string{"tty1"}, map[string]bool{}, "tty1=getty"},
		{"mixed, in console order", []string{"ttyS0", "tty1"}, map[string]bool{"tty1": true, "ttyS9": true}, "ttyS0=getty tty1=autologin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := consoleModes(tc.ttys, tc.auto); got != tc.want {
				t.Errorf("consoleModes = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNextDelay(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name               string
		delay, ran         time.Duration
		wantWait, wantNext time.Duration
	}{
		{"first quick exit", 1 * s, 0, 1 * s, 2 * s},
		{"doubles", 8 * s, 3 * s, 8 * s, 16 * s},
		{"capped at 30s", 16 * s, 0, 16 * s, 30 * s},
		{"stays at 30s", 30 * s, 0, 30 * s, 30 * s},
		{"a minute is not long enough", 30 * s, time.Minute, 30 * s, 30 * s},
		{"a long run starts again at 1s", 30 * s, 2 * time.Minute, 1 * s, 2 * s},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wait, next := nextDelay(tc.delay, tc.ran)
			if wait != tc.wantWait || next != tc.wantNext {
				t.Errorf("nextDelay(%s, %s) = %s, %s; want %s, %s", tc.delay, tc.ran, wait, next, tc.wantWait, tc.wantNext)
			}
		})
	}
}

// respawn starts the process again after it exits, and stops it with
// SIGTERM when its context ends.
func TestRespawn(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log servicetest.Log
	var cmds []*exec.Cmd
	starts := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		respawn(ctx, &log, "svc", func() *exec.Cmd {
			// The first exits at once; the second runs until stopped.
			cmd := exec.Command("/bin/sh", "-c", "exit 3")
			if len(cmds) > 0 {
				cmd = exec.Command("/bin/sleep", "60")
			}
			cmds = append(cmds, cmd)
			return cmd
		}, func(*os.Process) {
			starts++
			if starts == 2 {
				cancel()
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("respawn did not return after its context ended")
	}
	if len(cmds) != 2 {
		t.Fatalf("%d starts, want 2", len(cmds))
	}
	if got, want := log.String(), "berth-console: svc exited (exit status 3); restarting in 1s\n"; got != want {
		t.Errorf("log %q, want %q", got, want)
	}
	ws := cmds[1].ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("second process ended with %v, want SIGTERM", cmds[1].ProcessState)
	}
}

func TestWaitListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := waitListening(addr, time.Second); err != nil {
		t.Errorf("listening: %v", err)
	}
	l.Close()
	err = waitListening(addr, 200*time.Millisecond)
	if !errors.Is(err, syscall.ECONNREFUSED) || !strings.HasPrefix(err.Error(), "not listening on "+addr+" after 200ms: ") {
		t.Errorf("closed: %v", err)
	}
}

// sshd's reload is seen in /proc/net: its listeners are new sockets.
func TestAwaitNewListeners(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	before := listeners("/proc/net", port)
	if len(before) != 1 {
		t.Fatalf("listeners on port %d: %v, want one", port, before)
	}
	ctx := context.Background()
	err = awaitNewListeners(ctx, "/proc/net", port, before, 200*time.Millisecond)
	if err == nil || err.Error() != fmt.Sprintf("0 of the 1 sockets on port %d listen again after 200ms", port) {
		t.Errorf("the same listener: %v, want none again", err)
	}
	l.Close()
	l, err = net.Listen("tcp", l.Addr().String()) // sshd after its re-exec
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := awaitNewListeners(ctx, "/proc/net", port, before, 5*time.Second); err != nil {
		t.Errorf("a new listener: %v", err)
	}

	// Both tables count, connections (state 01) and other ports do not.
	dir := t.TempDir()
	head := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	os.WriteFile(filepath.Join(dir, "tcp"), []byte(head+
		"   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1 0 100 0 0 10 0\n"+
		"   1: 0F02000A:0016 0202000A:C350 01 00000000:00000000 00:00000000 00000000     0        0 102 1 0 100 0 0 10 0\n"+
		"   2: 00000000:0017 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 103 1 0 100 0 0 10 0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tcp6"), []byte(head+
		"   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 104 1 0 100 0 0 10 0\n"), 0o644)
	if got, want := listeners(dir, 22), map[string]bool{"101": true, "104": true}; !cmp.Equal(got, want) {
		t.Errorf("listeners on 22: %v, want %v", got, want)
	}
	// Both of sshd's sockets must be new: one of two is not enough.
	err = awaitNewListeners(ctx, dir, 22, map[string]bool{"101": true, "999": true}, 100*time.Millisecond)
	if err == nil || err.Error() != "1 of the 2 sockets on port 22 listen again after 100ms" {
		t.Errorf("one new of two: %v", err)
	}
}

// run starts a login on every console (tty0 is tty1) and reports them when
// ready.
func TestRunWithoutSSH(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(sys, "class/tty/console"), 0o755)
	if err := os.WriteFile(filepath.Join(sys, "class/tty/console/active"), []byte("ttyS0 tty0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ready := servicetest.ListenNotify(t)
	t.Setenv(notify.Env, ready.Path)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log servicetest.Log
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-no-ssh", "-sysfs", sys, "-dev", dev, "-autologin", "all"}, &log)
	}()
	if got, err := ready.Read(10 * time.Second); err != nil || got != "READY=1\nSTATUS=consoles ttyS0=autologin tty1=autologin" {
		t.Errorf("notify %q, %v", got, err)
	}
	// The ttys are not in the test's /dev: login cannot start there (and
	// no getty runs on the machine's own ttys).
	for _, want := range []string{
		"berth-console: consoles ttyS0=autologin tty1=autologin, sshd false\n",
		"berth-console: ttyS0 exited (open " + filepath.Join(dev, "ttyS0") + ": no such file or directory); restarting in 1s\n",
		"berth-console: tty1 exited (open " + filepath.Join(dev, "tty1") + ": no such file or directory); restarting in 1s\n",
	} {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(log.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("log lacks %q:\n%s", want, log.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

// Host keys given in cloud-config's ssh_keys are installed as the host
// keys, once; none is made for their type; a public key that is not the
// private key's own is refused.
func TestInstallGivenKeys(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Fatal("ssh-keygen missing: run make deps")
	}
	given, dir := t.TempDir(), t.TempDir()
	src := filepath.Join(given, "ssh_host_ed25519_key")
	if out, err := exec.Command(keygen, "-q", "-N", "", "-t", "ed25519", "-f", src, "-C", "given").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var log strings.Builder
	if err := installGivenKeys([]string{keygen}, given, dir, &log); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(src)
	got, _ := os.ReadFile(filepath.Join(dir, "ssh_host_ed25519_key"))
	if string(got) != string(want) {
		t.Error("the given private key was not installed")
	}
	pub, _ := os.ReadFile(src + ".pub")
	gotPub, _ := os.ReadFile(filepath.Join(dir, "ssh_host_ed25519_key.pub"))
	if keyBody(string(gotPub)) != keyBody(string(pub)) {
		t.Errorf("public key %q, want %q", gotPub, pub)
	}
	// ensureHostKeys keeps it: a keygen that fails would be noticed.
	if err := ensureHostKeys([]string{"/nonexistent/ssh-keygen"}, dir, []string{"ed25519"}, 0, &log); err != nil {
		t.Errorf("a key was made for a given type: %v", err)
	}
	if !strings.Contains(log.String(), "installed ssh host key") {
		t.Errorf("log %q", log.String())
	}
	// A .pub of another key: refused, nothing changes.
	other := filepath.Join(t.TempDir(), "k")
	exec.Command(keygen, "-q", "-N", "", "-t", "ed25519", "-f", other).Run()
	otherPub, _ := os.ReadFile(other + ".pub")
	os.WriteFile(src+".pub", otherPub, 0o644)
	err = installGivenKeys([]string{keygen}, given, t.TempDir(), &log)
	if err == nil || err.Error() != "ssh_keys: ssh_host_ed25519_key.pub is not the public key of ssh_host_ed25519_key; neither is installed" {
		t.Errorf("mismatched pair: %v", err)
	}
	// No folder: nothing to do.
	if err := installGivenKeys([]string{keygen}, filepath.Join(given, "none"), dir, &log); err != nil {
		t.Error(err)
	}
}

// In a distribution console, the tools mounted at -tools run everything:
// sshd and ssh-keygen through the tools' loader and libraries, sshd
// without re-executing itself, getty and login from the tools' busybox.
func TestTools(t *testing.T) {
	t.Setenv("BERTH_CONSOLE_TOOLS", "/.berth")
	t.Setenv("BERTH_CONSOLE", "console-ubuntu")
	c, err := parseFlags(nil, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	lib := "/.berth/usr/lib/x86_64-linux-gnu"
	for _, tc := range []struct {
		name      string
		got, want []string
	}{
		{"sshd", c.command(c.sshd, c.sshdArgs()...).Args, []string{lib + "/ld-linux-x86-64.so.2", "--library-path", lib, "/.berth/usr/sbin/sshd", "-D", "-e", "-r"}},
		{"ssh-keygen", c.keygenCmd(), []string{lib + "/ld-linux-x86-64.so.2", "--library-path", lib, "/.berth/usr/bin/ssh-keygen"}},
		{"getty", c.getty, []string{"/.berth/usr/bin/busybox", "getty", "-l", "/.berth/usr/bin/login", "-L", "115200"}},
		{"login", c.login, []string{"/.berth/usr/bin/login", "-f", "root"}},
	} {
		if d := cmp.Diff(tc.want, tc.got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
	if c.name != "console-ubuntu" {
		t.Errorf("name %q, want console-ubuntu from BERTH_CONSOLE", c.name)
	}
	// The built-in runs its own binaries, and sshd re-executes as usual.
	c, _ = parseFlags([]string{"-tools", ""}, &strings.Builder{})
	if d := cmp.Diff([]string{"/usr/sbin/sshd", "-D", "-e"}, c.command(c.sshd, c.sshdArgs()...).Args); d != "" {
		t.Errorf("built-in sshd (-want +got):\n%s", d)
	}
}

// A console started by a switch reports ready once prepared, takes no
// tty until the active file names it, and then says it serves.
func TestRunTakesOverWhenNamed(t *testing.T) {
	sys, dev, run1 := t.TempDir(), t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(sys, "class/tty/console"), 0o755)
	os.WriteFile(filepath.Join(sys, "class/tty/console/active"), []byte("ttyS0\n"), 0o644)
	active, serving := filepath.Join(run1, "active"), filepath.Join(run1, "serving")
	os.WriteFile(active, []byte("console\n"), 0o644)
	ready := servicetest.ListenNotify(t)
	t.Setenv(notify.Env, ready.Path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log servicetest.Log
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-no-ssh", "-sysfs", sys, "-dev", dev, "-name", "console-ubuntu", "-active", active, "-serving", serving}, &log)
	}()
	if got, err := ready.Read(10 * time.Second); err != nil || got != "READY=1\nSTATUS=prepared, waiting to take the logins over" {
		t.Fatalf("notify %q, %v", got, err)
	}
	time.Sleep(300 * time.Millisecond)
	if strings.Contains(log.String(), "ttyS0") {
		t.Fatalf("a getty started before the console was named:\n%s", log.String())
	}
	if _, err := os.Stat(serving); err == nil {
		t.Fatal("serving written before the console was named")
	}
	os.WriteFile(active, []byte("console-ubuntu\n"), 0o644)
	if got, err := ready.Read(10 * time.Second); err != nil || got != "READY=1\nSTATUS=consoles ttyS0=getty" {
		t.Errorf("notify after the takeover %q, %v", got, err)
	}
	if b, err := os.ReadFile(serving); err != nil || string(b) != "console-ubuntu\n" {
		t.Errorf("serving %q, %v; want console-ubuntu", b, err)
	}
	if !strings.Contains(log.String(), "berth-console: console-ubuntu takes the logins over\n") {
		t.Errorf("log:\n%s", log.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

// The host keys to make are those of sshd_config's HostKey lines in the
// key folder; the default three when it names none there or is missing.
// ed25519 is made before sshd starts, or else the first type.
func TestHostKeyTypes(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "sshd_config")
	os.WriteFile(conf, []byte("Port 22\nHostKey /var/lib/berth/ssh/ssh_host_rsa_key\nhostkey /var/lib/berth/ssh/ssh_host_ed25519_key\nHostKey /etc/ssh/ssh_host_ecdsa_key\nHostKey /var/lib/berth/ssh/ssh_host_dsa_key\n"), 0o644)
	if diff := cmp.Diff([]string{"rsa", "ed25519"}, hostKeyTypes(conf, "/var/lib/berth/ssh")); diff != "" {
		t.Errorf("HostKey lines (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(layout.SSHHostKeyTypes(), hostKeyTypes(conf, "/elsewhere")); diff != "" {
		t.Errorf("none in the key folder (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(layout.SSHHostKeyTypes(), hostKeyTypes(filepath.Join(dir, "none"), "/var/lib/berth/ssh")); diff != "" {
		t.Errorf("no config (-want +got)\n%s", diff)
	}
	for _, tc := range []struct{ types, first, later []string }{
		{layout.SSHHostKeyTypes(), []string{"ed25519"}, []string{"ecdsa", "rsa"}},
		{[]string{"rsa", "ed25519"}, []string{"ed25519"}, []string{"rsa"}},
		{[]string{"rsa", "ecdsa"}, []string{"rsa"}, []string{"ecdsa"}},
		{[]string{"ed25519"}, []string{"ed25519"}, []string{}},
	} {
		first, later := splitKeyTypes(tc.types)
		if !cmp.Equal(first, tc.first) || !cmp.Equal(later, tc.later, cmpopts.EquateEmpty()) {
			t.Errorf("splitKeyTypes(%q) = %q, %q; want %q, %q", tc.types, first, later, tc.first, tc.later)
		}
	}
}

// sshd starts with a copy of its config without the HostKey lines of keys
// in the key folder that are not made yet, and is told the copy's path
// only then; before its reload the copy is written again with them all.
func TestStartConfig(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	os.MkdirAll(keys, 0o700)
	writeKey := func(typ string) {
		os.WriteFile(filepath.Join(keys, "ssh_host_"+typ+"_key"), []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nk\n-----END OPENSSH PRIVATE KEY-----\n"), 0o600)
	}
	writeKey("ed25519")
	// An empty file is no key (a power cut while it was made).
	os.WriteFile(filepath.Join(keys, "ssh_host_ecdsa_key"), nil, 0o600)
	src := filepath.Join(dir, "sshd_config")
	conf := "Port 22\nHostKey " + keys + "/ssh_host_ed25519_key\nHostKey " + keys + "/ssh_host_ecdsa_key\nhostkey " + keys + "/ssh_host_rsa_key\n" +
		"HostKey /etc/ssh/ssh_host_other_key\nPasswordAuthentication no"
	os.WriteFile(src, []byte(conf), 0o644)
	dst := filepath.Join(dir, "run", "sshd_config")

	got, err := startConfig(src, keys, dst, false)
	if err != nil || got != dst {
		t.Fatalf("startConfig with two keys not made = %q, %v; want %q", got, err, dst)
	}
	b, _ := os.ReadFile(dst)
	// Another folder's key is sshd's to report, as any other line.
	if want := "Port 22\nHostKey " + keys + "/ssh_host_ed25519_key\nHostKey /etc/ssh/ssh_host_other_key\nPasswordAuthentication no"; string(b) != want {
		t.Errorf("sshd's start config:\n%s\nwant:\n%s", b, want)
	}

	writeKey("ecdsa")
	writeKey("rsa")
	if got, err := startConfig(src, keys, dst, true); err != nil || got != dst {
		t.Fatalf("startConfig again = %q, %v; want %q", got, err, dst)
	}
	if b, _ := os.ReadFile(dst); string(b) != conf {
		t.Errorf("sshd's config before its reload:\n%s\nwant the config itself:\n%s", b, conf)
	}
	// Every key made: sshd reads its config itself.
	if got, err := startConfig(src, keys, filepath.Join(dir, "unused"), false); err != nil || got != "" {
		t.Errorf("startConfig with every key made = %q, %v; want \"\"", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "unused")); err == nil {
		t.Error("startConfig with every key made wrote a copy")
	}
	if _, err := startConfig(filepath.Join(dir, "none"), keys, dst, false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("startConfig without a config: %v, want it not found", err)
	}
}
