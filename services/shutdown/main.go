// Package shutdown is /sbin/shutdown in the guest agents' images: what
// qemu-ga runs for the hypervisor's guest-shutdown ("shutdown -P +0
// 'hypervisor initiated shutdown'"). It asks PID 1 through the power
// socket, bound into the agent's container, to power off or reboot the
// host; the agent itself has no SYS_BOOT and no host API.
//
// In the console it is also reboot, poweroff and halt (by the name it is
// run as): busybox's would signal PID 1 as its own init wants (reboot is
// SIGTERM, which powers a Berth host off; poweroff is SIGUSR2, which it
// ignores).
package shutdown

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-os/berth/internal/layout"
)

// Main runs the program with the process's arguments; it exits the
// process on an error. cmd/berthbox runs it by the name it runs as.
func Main() {
	verb, err := parseAs(filepath.Base(os.Args[0]), os.Args[1:])
	if err == nil {
		err = ask(layout.PowerSocket, verb)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
		os.Exit(1)
	}
}

// parseAs reads the arguments of the command name: shutdown, or reboot,
// poweroff and halt, whose options (-f, -n, --no-wall; -p: power off) ask
// for nothing a clean shutdown does not do anyway. A host has nobody to
// halt for: halt powers off.
func parseAs(name string, args []string) (string, error) {
	verb := "poweroff"
	switch name {
	case "reboot":
		verb = "reboot"
	case "poweroff", "halt":
	default:
		return parse(args)
	}
	for _, a := range args {
		switch a {
		case "-f", "--force", "-n", "--no-sync", "--no-wall":
		case "-p", "--poweroff":
			verb = "poweroff"
		default:
			return "", fmt.Errorf("%s: unknown argument %s (want -f, -n, --no-wall or -p)", name, a)
		}
	}
	return verb, nil
}

// parse reads shutdown(8)'s arguments: -P, -h, -H or --poweroff/--halt
// power off (a host has nobody to halt for), -r or --reboot reboots; the
// time is now or +0, and a message after it is ignored.
func parse(args []string) (string, error) {
	verb := "poweroff"
	timeSeen := false
	for _, a := range args {
		switch {
		case a == "-P" || a == "-h" || a == "-H" || a == "--poweroff" || a == "--halt":
			verb = "poweroff"
		case a == "-r" || a == "--reboot":
			verb = "reboot"
		case a == "-c":
			return "", fmt.Errorf("no shutdown is pending to cancel")
		case strings.HasPrefix(a, "-"):
			return "", fmt.Errorf("unknown option %s (want -P, -h, -H or -r)", a)
		case !timeSeen:
			if a != "now" && a != "+0" {
				return "", fmt.Errorf("time %q: only now or +0 (Berth shuts down at once)", a)
			}
			timeSeen = true
		}
	}
	return verb, nil
}

// ask sends verb to PID 1's power socket and waits for its answer.
func ask(socket, verb string) error {
	c, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		return fmt.Errorf("the host's power socket: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(c, verb); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no answer from the host: %w", err)
	}
	if line = strings.TrimSpace(line); line != "ok" {
		return fmt.Errorf("the host says: %s", line)
	}
	return nil
}
