package main

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The power socket refuses anything but poweroff and reboot, and a line
// longer than it reads, and does not shut down for them.
func TestPowerSocketRefuses(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "power.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h := &host{}
	go h.servePower(l)
	for _, req := range []string{"format /dev/vda\n", "poweroff" + strings.Repeat("f", 100) + "\n", "\n"} {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(req))
		answer, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if answer != "error: want poweroff or reboot\n" {
			t.Errorf("%q: answered %q, want the refusal", req, answer)
		}
	}
}

// The signals busybox's reboot, poweroff and halt send PID 1, the
// kernel's Ctrl-Alt-Del and power failure ones: what each asks for.
func TestRebootSignal(t *testing.T) {
	for s, reboot := range map[os.Signal]bool{
		syscall.SIGTERM: true,  // busybox reboot
		syscall.SIGUSR2: false, // busybox poweroff
		syscall.SIGUSR1: false, // busybox halt: nobody to halt for
		syscall.SIGINT:  true,  // Ctrl-Alt-Del
		syscall.SIGPWR:  false,
	} {
		if got := rebootSignal(s); got != reboot {
			t.Errorf("%v: reboot %v, want %v", s, got, reboot)
		}
	}
}
