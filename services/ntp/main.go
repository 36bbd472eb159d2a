// Package ntp is the Berth time service: an SNTP client (RFC 5905's
// client side) that keeps the system clock on the servers and pools of
// cloud-config's ntp, as PID 1 renders them into /etc/ntp/ntp.conf. It
// steps the clock when it is far off just after start (a new VM's clock
// can be years off) and afterwards only slews it, through the kernel's
// PLL; it arms leap seconds the servers announce, and writes what it knows
// to /run/berth/ntp/status.json for hostctl time. It runs as a system
// container in the host network namespace with CAP_SYS_TIME only.
package ntp

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/berth-os/berth/internal/notify"
	"github.com/berth-os/berth/internal/timesync"
)

// Main runs the program with the process's arguments; it exits the
// process on an error. cmd/berthbox runs it by the name it runs as.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ntp: %v\n", err)
		os.Exit(1)
	}
}

const usage = `usage: ntp [flags]

Keep the system clock on NTP servers.

ntp reads the -config file: lines "server HOST [port N]" and "pool HOST
[port N]" (each of a pool's first two addresses is a server), or "off" to
leave the clock alone. Each poll asks every server once and follows the
answer with the least root distance. An offset above 128 ms in the first
three updates is stepped; later offsets are slewed by the kernel's PLL.
The poll interval is 16 s at first, then from 64 s up to 1024 s; after a
poll with no answer it retries from 2 s up to 64 s. The -status file (JSON)
says what it knows after every poll. SIGHUP reads the config again and
starts over (a far-off clock is stepped again). SIGTERM or SIGINT stop it.

flags:
`

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ntp", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	configPath := fs.String("config", timesync.ConfigPath, "`path` of the config PID 1 renders")
	statusPath := fs.String("status", timesync.StatusPath, "`path` of the status file to write")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	logger := log.New(stdout, "ntp: ", 0)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	svc := &service{
		configPath: *configPath,
		statusPath: *statusPath,
		clock:      kernelClock{},
		logf:       logger.Printf,
	}
	return svc.loop(ctx, hup)
}

// service reads its config and runs a syncer on it until told to read it
// again.
type service struct {
	configPath, statusPath string
	clock                  clock
	logf                   func(string, ...any)
	// newSyncer makes the syncer (tests give fakes); nil: the real one.
	newSyncer func(timesync.Config) *syncer
	// ready is sent once, after the config was first read.
	ready bool
}

func (s *service) loop(ctx context.Context, hup <-chan os.Signal) error {
	for {
		b, err := os.ReadFile(s.configPath)
		if err != nil {
			return fmt.Errorf("read config: %w", err)
		}
		cfg, err := timesync.Parse(s.configPath, b)
		if err != nil {
			s.writeStatus(timesync.Status{Enabled: true, Error: err.Error(), Updated: time.Now()})
			return err
		}
		if !s.ready {
			// Boot does not wait for the network: the service is ready
			// once it knows what to do.
			if err := notify.Ready("following " + s.configPath); err != nil {
				s.logf("notify: %v", err)
			}
			s.ready = true
		}
		if !cfg.Enabled {
			s.logf("ntp.enabled is false: leaving the clock alone")
			s.writeStatus(timesync.Status{Enabled: false, Updated: time.Now()})
			select {
			case <-ctx.Done():
				return nil
			case <-hup:
				s.logf("SIGHUP: reading %s again", s.configPath)
				continue
			}
		}
		sy := s.syncerFor(cfg)
		if !s.follow(ctx, sy, hup) {
			return nil
		}
		s.logf("SIGHUP: reading %s again", s.configPath)
	}
}

func (s *service) syncerFor(cfg timesync.Config) *syncer {
	if s.newSyncer != nil {
		return s.newSyncer(cfg)
	}
	return newSyncer(cfg, s.clock, s.logf)
}

// follow runs rounds until ctx is done (false) or SIGHUP (true).
func (s *service) follow(ctx context.Context, sy *syncer, hup <-chan os.Signal) bool {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for {
		wait := sy.round(rctx)
		if ctx.Err() != nil {
			return false
		}
		s.writeStatus(sy.status)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-hup:
			t.Stop()
			return true
		case <-t.C:
		}
	}
}

func (s *service) writeStatus(st timesync.Status) {
	b, err := json.MarshalIndent(st, "", "  ")
	if err == nil {
		if err = os.MkdirAll(filepath.Dir(s.statusPath), 0o755); err == nil {
			err = atomicfile.Write(s.statusPath, append(b, '\n'), 0o644)
		}
	}
	if err != nil {
		s.logf("write status: %v", err)
	}
}
