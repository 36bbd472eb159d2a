// Package logging is the Berth logging service. It runs as a system
// container and is the one writer of /var/log: it takes the output of every
// service from PID 1 over a stream socket, the syslog(3) messages of programs
// over a datagram socket (PID 1 points /dev/log at it) and the kernel log from
// /dev/kmsg, and appends them as timestamped lines to files that it rotates by
// size:
//
//	<dir>/<svc>.log   output of service <svc>
//	<dir>/messages    syslog
//	<dir>/kernel      kernel log
//
// It tells PID 1 it is ready with sd_notify once it listens on both sockets.
package logging

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-os/berth/internal/layout"
)

// Main runs the program with the process's arguments; it exits the
// process on an error. cmd/berthbox runs it by the name it runs as.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "logging: %v\n", err)
		os.Exit(1)
	}
}

const usage = `usage: logging [flags]

The Berth logging service. It appends service output forwarded by PID 1
(JSON lines on the -ingest stream socket), syslog messages (datagrams on the
-syslog socket) and the kernel log (-kmsg) to files under -dir:
<svc>.log, messages and kernel. Each file is rotated to .1 ... .<keep>
before a write would make it larger than -max-size.

flags:
`

// run parses args, then logs until ctx is done.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := config{
		maxSize: 1 << 20,
		maxOpen: 64,
	}
	fs := flag.NewFlagSet("logging", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.dir, "dir", "/var/log", "`directory` of the log files")
	fs.StringVar(&cfg.ingest, "ingest", layout.LogIngest, "unix stream socket where PID 1 sends service output")
	fs.StringVar(&cfg.syslog, "syslog", layout.Syslog, "unix datagram socket for syslog messages (/dev/log links here)")
	fs.StringVar(&cfg.kmsg, "kmsg", "/dev/kmsg", "kernel log device; empty disables the kernel log")
	fs.StringVar(&cfg.bootID, "boot-id", "/proc/sys/kernel/random/boot_id", "file holding the boot id, to tell a restart from a reboot")
	fs.Var(&cfg.maxSize, "max-size", "rotate a file before it grows past this `size` (bytes, or with a binary unit: KiB, MiB, GiB...)")
	fs.IntVar(&cfg.keep, "keep", 4, "rotated files to keep per log (`n`: .1 ... .n; 0 keeps none)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	return serve(ctx, cfg, stderr)
}
