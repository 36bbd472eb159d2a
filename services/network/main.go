// Command network is the Berth network service: it gives the host its IPv4
// connectivity. It runs as a system container in the host network namespace,
// brings up loopback, runs a DHCPv4 client on every ethernet device (and on
// devices that appear later), applies each lease with netlink, keeps the
// leases renewed and writes the resolver configuration for the other
// containers. It reports readiness to PID 1 with sd_notify once every
// ethernet device present at start has a lease, or after -ready-timeout.
package main

import (
	"context"
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

	"github.com/berth-os/berth/internal/notify"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "network: %v\n", err)
		os.Exit(1)
	}
}

const usage = `usage: network [flags]

Configure the host's network with DHCPv4 and keep it configured.

network brings up lo, then runs a DHCPv4 client on every ethernet device
(netlink type "device", not enslaved to a bond or bridge) or, with
-interfaces, on every ethernet link whose name matches one of the patterns.
Leases are applied with netlink (address, routes, MTU), renewed at T1,
rebound at T2 and removed when they expire. The name servers and search
domains of all leases are written to the -resolv file. Readiness is sent to
$NOTIFY_SOCKET once every device present at start has a lease, or after
-ready-timeout. SIGTERM or SIGINT stop the service; leases are not released.

flags:
`

// run is the whole service; it returns when ctx is done.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("network", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	resolv := fs.String("resolv", "/run/berth/network/resolv.conf", "`path` of the resolv.conf to write")
	readyTimeout := fs.Duration("ready-timeout", 10*time.Second, "report readiness after this long even without every lease")
	interfaces := fs.String("interfaces", "", "comma-separated name `patterns` (path.Match) of links to configure; empty: every ethernet device")
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
	patterns, err := parsePatterns(*interfaces)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*resolv), 0o755); err != nil {
		return fmt.Errorf("create directory for %s: %w", *resolv, err)
	}

	logger := log.New(stdout, "network: ", 0)
	nl, err := newNetlinkConfigurer()
	if err != nil {
		return err
	}
	defer nl.Close()
	if err := setupLoopback(nl.h); err != nil {
		// Not fatal: the DHCP side does not depend on it.
		logger.Printf("lo: %v", err)
	} else {
		logger.Printf("lo: up")
	}

	hostname, err := os.Hostname()
	if err != nil || hostname == "(none)" || hostname == "localhost" {
		// Nothing worth telling the server.
		hostname = ""
	}
	s := &service{
		log:          logger,
		patterns:     patterns,
		resolvPath:   *resolv,
		readyTimeout: *readyTimeout,
		conf:         nl,
		newLeaser: func(name string) leaser {
			return &dhcpClient{iface: name, hostname: hostname}
		},
		notify: notify.Ready,
		clock:  realClock{},
	}
	links := make(chan linkEvent)
	go watchLinks(ctx, nl.h, links, logger)
	s.run(ctx, links)
	logger.Printf("stopped")
	return nil
}
