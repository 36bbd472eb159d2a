package shutdown

import (
	"bufio"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for args, want := range map[string]string{
		"-P +0 hypervisor initiated shutdown": "poweroff", // qemu-ga's guest-shutdown
		"-r +0 hypervisor initiated shutdown": "reboot",
		"-H +0":                               "poweroff",
		"-h now":                              "poweroff",
		"":                                    "poweroff",
		"--reboot now":                        "reboot",
	} {
		if got, err := parse(strings.Fields(args)); err != nil || got != want {
			t.Errorf("shutdown %s: %q, %v; want %s", args, got, err, want)
		}
	}
	for args, want := range map[string]string{
		"-r +5":  "only now or +0",
		"-c":     "no shutdown is pending",
		"-k now": "unknown option -k",
	} {
		if _, err := parse(strings.Fields(args)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("shutdown %s: err = %v, want %q", args, err, want)
		}
	}
}

// Run as reboot, poweroff or halt (the console's), it asks for what its
// name says; shutdown's arguments are shutdown's.
func TestParseAs(t *testing.T) {
	for cmd, want := range map[string]string{
		"reboot":                "reboot",
		"reboot -f":             "reboot",
		"reboot -p":             "poweroff",
		"poweroff":              "poweroff",
		"poweroff -f --no-wall": "poweroff",
		"halt":                  "poweroff",
		"halt -n":               "poweroff",
		"shutdown -r now":       "reboot",
		"shutdown now":          "poweroff",
	} {
		f := strings.Fields(cmd)
		if got, err := parseAs(f[0], f[1:]); err != nil || got != want {
			t.Errorf("%s: %q, %v; want %s", cmd, got, err, want)
		}
	}
	for cmd, want := range map[string]string{
		"reboot -d 5":    "reboot: unknown argument -d",
		"poweroff now":   "poweroff: unknown argument now",
		"shutdown -r +5": "only now or +0",
	} {
		f := strings.Fields(cmd)
		if _, err := parseAs(f[0], f[1:]); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", cmd, err, want)
		}
	}
}

// ask sends the verb as a line and wants "ok" back; anything else is the
// host's error.
func TestAsk(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "power.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 2)
	go func() {
		for _, answer := range []string{"ok", "error: want poweroff or reboot"} {
			c, err := l.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			got <- line
			c.Write([]byte(answer + "\n"))
			c.Close()
		}
	}()
	if err := ask(sock, "reboot"); err != nil {
		t.Fatal(err)
	}
	if line := <-got; line != "reboot\n" {
		t.Errorf("sent %q, want reboot", line)
	}
	if err := ask(sock, "poweroff"); err == nil || !strings.Contains(err.Error(), "the host says: error") {
		t.Errorf("a refusal: err = %v", err)
	}
	if err := ask(filepath.Join(t.TempDir(), "none"), "poweroff"); err == nil || !strings.Contains(err.Error(), "power socket") {
		t.Errorf("no socket: err = %v", err)
	}
}
