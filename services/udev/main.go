// Package udev is berth-udev, which runs Debian's systemd-udevd as the Berth udev service:
// it starts udevd, replays the kernel's coldplug events and reports ready
// (as systemd-udev-trigger does, it does not hold boot until every event is
// handled: devices keep arriving as events anyway), then logs when the queue
// has settled and stays in the foreground with udevd.
package udev

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/berth-os/berth/internal/notify"
)

// Main runs the program with the process's arguments; it exits the
// process on an error. cmd/berthbox runs it by the name it runs as.
func Main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "berth-udev:", err)
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	udevd   string // the systemd-udevd binary
	udevadm string // the udevadm binary
	control string // udevd's control socket, present once it listens
	settle  time.Duration
	// children is udevd's --children-max: 0 for twice the CPUs, at least 2.
	children int
}

const usage = `usage: berth-udev [flags]

Runs systemd-udevd, replays the coldplug events and reports READY=1 once
they are triggered; logs when they have settled, and stays with udevd.`

// parseFlags reads the command line.
func parseFlags(args []string, log io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("berth-udev", flag.ContinueOnError)
	fs.SetOutput(log)
	fs.StringVar(&c.udevd, "udevd", "/usr/lib/systemd/systemd-udevd", "udevd binary")
	fs.StringVar(&c.udevadm, "udevadm", "/usr/bin/udevadm", "udevadm binary")
	fs.StringVar(&c.control, "control", "/run/udev/control", "udevd control socket, present once it listens")
	fs.DurationVar(&c.settle, "settle", 120*time.Second, "how long to wait for coldplug to settle")
	fs.IntVar(&c.children, "children-max", 0, "udevd's worker processes at most (0: twice the CPUs, at least 2)")
	fs.Usage = func() {
		fmt.Fprintln(log, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	return c, nil
}

// childrenMax is udevd's --children-max: n when set, else twice the CPUs
// and at least 2. udevd's own default is 10 on any machine of under 1.25
// GiB (one per 128 MiB, at least 10, at most 16 + twice the CPUs): ten
// processes of about 0.7 MiB each on a 128 MiB machine of one or two CPUs,
// where coldplug's events are work for the CPU.
func childrenMax(n, cpus int) int {
	if n > 0 {
		return n
	}
	return max(2, 2*cpus)
}

// coldplug are the udevadm calls that replay the kernel's add events, as
// systemd-udev-trigger.service makes them: subsystems first, then devices.
var coldplug = [][]string{
	{"trigger", "--type=subsystems", "--action=add"},
	{"trigger", "--type=devices", "--action=add"},
}

// settleArgs is the udevadm call that waits for the event queue to empty.
func settleArgs(timeout time.Duration) []string {
	return []string{"settle", fmt.Sprintf("--timeout=%d", int(timeout.Seconds()))}
}

// run runs udevd until SIGTERM or SIGINT, which it passes on, or until ctx
// ends (SIGTERM then).
func run(ctx context.Context, args []string, log io.Writer) error {
	c, err := parseFlags(args, log)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.control), 0o755); err != nil {
		return err
	}
	d := exec.Command(c.udevd, "--children-max="+strconv.Itoa(childrenMax(c.children, runtime.NumCPU())))
	d.Stdout, d.Stderr = os.Stdout, os.Stderr
	if err := d.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.udevd, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- d.Wait() }()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	if err := waitFor(c.control, 30*time.Second, exited); err != nil {
		return err
	}
	start := time.Now()
	udevadm := func(args ...string) {
		cmd := exec.Command(c.udevadm, args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(log, "berth-udev: udevadm %v: %v\n", args, err)
		}
	}
	for _, a := range coldplug {
		udevadm(a...)
	}
	if err := notify.Ready("coldplug triggered"); err != nil {
		fmt.Fprintln(log, "berth-udev:", err)
	}
	go func() {
		// A slow settle is not fatal: devices keep arriving as events.
		udevadm(settleArgs(c.settle)...)
		fmt.Fprintf(log, "berth-udev: coldplug settled in %.2fs\n", time.Since(start).Seconds())
	}()
	var sig os.Signal
	select {
	case sig = <-sigs:
	case <-ctx.Done():
		sig = syscall.SIGTERM
	case err := <-exited:
		return fmt.Errorf("systemd-udevd exited: %v", err) // err is nil on status 0
	}
	d.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		d.Process.Kill()
		<-exited
	}
	return nil
}

// waitFor waits until path exists, failing early if udevd exits.
func waitFor(path string, timeout time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("systemd-udevd exited before listening: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("systemd-udevd did not create " + path + " in " + timeout.String())
		}
	}
}
