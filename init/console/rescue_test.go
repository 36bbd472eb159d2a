package console

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

	"github.com/google/go-cmp/cmp"
)

// Root's password (set, locked, empty, missing, of a kind sulogin cannot
// check) × the image spec's rescue: a password that can be checked is
// always asked for; without one, only rescue: shell gives a shell.
func TestDecide(t *testing.T) {
	const sha512 = "$6$abcdefgh12345678$8qry.al/7S2fAQnDPL..k3GVAXostN0YvxqwHlKr6Jsf/74.qDax5ahH0CISuJF.P2fnhZoX0.4l8IwZUur9t1"
	noShadow := errors.New("no /etc/shadow yet: boot stopped before phase etc renders it from cloud-config")
	passwords := []struct {
		name string
		hash string
		err  error
	}{
		{"sha-512", sha512, nil},
		{"sha-256", "$5$abcdefgh12345678$Ec9ApvlEbRtyT.vGEiMhIn2fC8CoUfIQPVf4Ze8zXI/", nil},
		{"md5", "$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1", nil},
		{"locked *", "*", nil},
		{"locked !", "!", nil},
		{"locked hash", "!" + sha512, nil},
		{"empty", "", nil},
		{"no shadow", "", noShadow},
		{"yescrypt", "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7", nil},
	}
	want := map[string]map[string]Access{ // password → mode → access
		"sha-512":     {"password": AskPassword, "shell": AskPassword, "off": NoShell, "": AskPassword},
		"sha-256":     {"password": AskPassword, "shell": AskPassword, "off": NoShell, "": AskPassword},
		"md5":         {"password": AskPassword, "shell": AskPassword, "off": NoShell, "": AskPassword},
		"locked *":    {"password": NoShell, "shell": OpenShell, "off": NoShell, "": NoShell},
		"locked !":    {"password": NoShell, "shell": OpenShell, "off": NoShell, "": NoShell},
		"locked hash": {"password": NoShell, "shell": OpenShell, "off": NoShell, "": NoShell},
		"empty":       {"password": NoShell, "shell": OpenShell, "off": NoShell, "": NoShell},
		"no shadow":   {"password": NoShell, "shell": OpenShell, "off": NoShell, "": NoShell},
		"yescrypt":    {"password": NoShell, "shell": OpenShell, "off": NoShell, "": NoShell},
	}
	for _, pw := range passwords {
		for _, mode := range []string{"password", "shell", "off", ""} {
			d := Decide(mode, pw.hash, pw.err)
			if d.Access != want[pw.name][mode] {
				t.Errorf("password %s, rescue %q: %s, want %s", pw.name, mode, d.Access, want[pw.name][mode])
			}
			if (d.Access == NoShell) != (d.Why != "") {
				t.Errorf("password %s, rescue %q: %s with reason %q: want a reason exactly when there is no shell", pw.name, mode, d.Access, d.Why)
			}
		}
	}
	// Each refusal says why, and how to get a shell.
	for _, tc := range []struct {
		mode, hash string
		err        error
		want       []string
	}{
		{"password", "*", nil, []string{"root has no password (cloud-config gives it none), and this image allows no rescue shell without one",
			"set root's password in cloud-config (users: [{name: root, passwd:", "and boot again", "build the image with rescue: shell in its image spec"}},
		{"password", "", nil, []string{"root's password is empty"}},
		{"password", "", noShadow, []string{"there is no root password to check (no /etc/shadow yet: boot stopped before phase etc", "stop boot after phase etc", "rescue: shell"}},
		{"password", "$y$j9T$abc", nil, []string{"root's password hash is of a kind ($y$) the rescue prompt cannot check: give a $6$ (SHA-512)"}},
		{"password", "abJnggxhB/yWI", nil, []string{"of a kind (DES)"}},
		{"off", sha512, nil, []string{"this image was built with rescue: off in its image spec"}},
		{"sometimes", sha512, nil, []string{`the image info's rescue is "sometimes", which is none of password, shell, off`}},
	} {
		d := Decide(tc.mode, tc.hash, tc.err)
		for _, w := range tc.want {
			if !strings.Contains(d.Why, w) {
				t.Errorf("rescue %q, hash %q, %v: reason %q lacks %q", tc.mode, tc.hash, tc.err, d.Why, w)
			}
		}
		if msg := d.Message("/dev/console"); !strings.HasPrefix(msg, "rescue shell unavailable: "+d.Why) {
			t.Errorf("message %q does not start with the reason", msg)
		}
	}
}

// Root's hash is read from the rendered shadow file; a missing file says
// that boot stopped before it was rendered.
func TestRootHash(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "shadow")
	os.WriteFile(p, []byte("sshd:!:19000::::::\nroot:$6$x$y:19000:0:99999:7:::\nops:*:19000:0:99999:7:::\n"), 0o600)
	if h, err := RootHash(p); err != nil || h != "$6$x$y" {
		t.Errorf("RootHash = %q, %v; want $6$x$y", h, err)
	}
	os.WriteFile(p, []byte("rootless:$6$x$y:1::::::\n"), 0o600)
	if _, err := RootHash(p); err == nil || err.Error() != p+" has no entry for root" {
		t.Errorf("no root entry: %v", err)
	}
	if _, err := RootHash(filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "boot stopped before phase etc renders it") {
		t.Errorf("no shadow: %v", err)
	}
}

type fakeStarter struct {
	started chan *exec.Cmd
}

func (f fakeStarter) Start(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error) {
	f.started <- cmd
	return make(chan syscall.WaitStatus), nil // never exits
}

// syncBuffer is a log written by Rescue's goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var shells = Shells{Shell: []string{"/bin/sh", "-l"}, Sulogin: []string{"/usr/bin/busybox", "sulogin"}}

// With a password, the console runs sulogin on the tty as its controlling
// terminal; without one under rescue: shell, the shell.
func TestRescueRunsTheDecidedProgram(t *testing.T) {
	for _, tc := range []struct {
		d    Decision
		argv []string
		line string
	}{
		{Decision{Access: AskPassword}, []string{"/usr/bin/busybox", "sulogin"}, "rescue shell on %s after root's password"},
		{Decision{Access: OpenShell}, []string{"/bin/sh", "-l"}, "rescue shell on %s, without a password"},
	} {
		tty := filepath.Join(t.TempDir(), "console")
		os.WriteFile(tty, nil, 0o600)
		st := fakeStarter{started: make(chan *exec.Cmd, 1)}
		log := &syncBuffer{}
		go Rescue(st, log, tty, shells, tc.d, "phase containerd: stopped here")
		var cmd *exec.Cmd
		select {
		case cmd = <-st.started:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: nothing started", tc.d.Access)
		}
		if diff := cmp.Diff(tc.argv, cmd.Args); diff != "" {
			t.Errorf("%s: argv (-want +got)\n%s", tc.d.Access, diff)
		}
		if f, ok := cmd.Stdin.(*os.File); !ok || f.Name() != tty || cmd.SysProcAttr == nil || !cmd.SysProcAttr.Setctty {
			t.Errorf("%s: not run with %s as its controlling terminal", tc.d.Access, tty)
		}
		want := "berth: phase containerd: stopped here\nberth: " + strings.Replace(tc.line, "%s", tty, 1)
		if !strings.HasPrefix(log.String(), want) {
			t.Errorf("%s: console shows %q, want it to start with %q", tc.d.Access, log.String(), want)
		}
	}
}

// Without a shell, nothing starts: the console says why, and again when
// Enter is pressed, and Rescue returns once the tty is gone.
func TestRescueWithoutShellExplains(t *testing.T) {
	tty := filepath.Join(t.TempDir(), "console")
	if err := syscall.Mkfifo(tty, 0o600); err != nil {
		t.Fatal(err)
	}
	st := fakeStarter{started: make(chan *exec.Cmd, 1)}
	log := &syncBuffer{}
	d := Decide("password", "*", nil)
	done := make(chan struct{})
	go func() {
		Rescue(st, log, tty, shells, d, "phase etc: mount tmpfs on /etc: no space")
		close(done)
	}()
	w, err := os.OpenFile(tty, os.O_WRONLY, 0) // waits for Rescue to open it
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("\n"))
	text := "berth: phase etc: mount tmpfs on /etc: no space\nberth: rescue shell unavailable: " + d.Why + "\n"
	deadline := time.Now().Add(10 * time.Second)
	for log.String() != text+text && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := log.String(); got != text+text {
		t.Errorf("console shows %q, want the reason once, then again after Enter: %q", got, text+text)
	}
	w.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Rescue did not return once its tty was closed")
	}
	select {
	case cmd := <-st.started:
		t.Errorf("started %v with no shell allowed", cmd.Args)
	default:
	}
}
