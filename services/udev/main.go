// Command berth-udev runs Debian's systemd-udevd as the Berth udev service:
// it starts udevd, replays the kernel's coldplug events and reports ready
// (as systemd-udev-trigger does, it does not hold boot until every event is
// handled: devices keep arriving as events anyway), then logs when the queue
// has settled and stays in the foreground with udevd.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/berth-os/berth/internal/notify"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "berth-udev:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, log io.Writer) error {
	fs := flag.NewFlagSet("berth-udev", flag.ContinueOnError)
	fs.SetOutput(log)
	udevd := fs.String("udevd", "/usr/lib/systemd/systemd-udevd", "udevd binary")
	udevadm := fs.String("udevadm", "/usr/bin/udevadm", "udevadm binary")
	control := fs.String("control", "/run/udev/control", "udevd control socket, present once it listens")
	settle := fs.Duration("settle", 120*time.Second, "how long to wait for coldplug to settle")
	fs.Usage = func() {
		fmt.Fprintln(log, "usage: berth-udev [flags]\n\nRuns systemd-udevd with coldplug; reports READY=1 once events settle.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll("/run/udev", 0o755); err != nil {
		return err
	}
	d := exec.Command(*udevd)
	d.Stdout, d.Stderr = os.Stdout, os.Stderr
	if err := d.Start(); err != nil {
		return fmt.Errorf("start %s: %w", *udevd, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- d.Wait() }()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	if err := waitFor(*control, 30*time.Second, exited); err != nil {
		return err
	}
	start := time.Now()
	udevadmRun := func(args ...string) {
		c := exec.Command(*udevadm, args...)
		c.Stdout, c.Stderr = os.Stdout, os.Stderr
		if err := c.Run(); err != nil {
			fmt.Fprintf(log, "berth-udev: udevadm %v: %v\n", args, err)
		}
	}
	udevadmRun("trigger", "--type=subsystems", "--action=add")
	udevadmRun("trigger", "--type=devices", "--action=add")
	if err := notify.Ready("coldplug triggered"); err != nil {
		fmt.Fprintln(log, "berth-udev:", err)
	}
	go func() {
		// A slow settle is not fatal: devices keep arriving as events.
		udevadmRun("settle", fmt.Sprintf("--timeout=%d", int(settle.Seconds())))
		fmt.Fprintf(log, "berth-udev: coldplug settled in %.2fs\n", time.Since(start).Seconds())
	}()
	select {
	case sig := <-sigs:
		d.Process.Signal(sig)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			d.Process.Kill()
			<-exited
		}
		return nil
	case err := <-exited:
		return fmt.Errorf("systemd-udevd exited: %v", err)
	}
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
