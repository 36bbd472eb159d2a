// Package network is the Berth network service: it gives the host its
// connectivity. It runs as a system container in the host network namespace,
// brings up loopback, and configures links as berth.network says (the
// -config file PID 1 writes): static addresses and routes, VLANs, bonds and
// bridges, and a DHCPv4 client on every other ethernet device (and on
// devices that appear later). It applies each lease with netlink, keeps the
// leases renewed and writes the resolver configuration for the other
// containers. On SIGHUP it reads the configuration again and moves the links
// to it. It reports readiness to PID 1 with sd_notify once every link present
// at start is configured, or after -ready-timeout.
package network

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

	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/notify"
)

// Main runs the program with the process's arguments; it exits the
// process on an error. cmd/berthbox runs it by the name it runs as.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "network: %v\n", err)
		os.Exit(1)
	}
}

const usage = `usage: network [flags]

Configure the host's network and keep it configured.

network brings up lo, then configures the links that the -config file (the
berth.network part of cloud-config, as JSON) names: static addresses and
default routes, MTU, 802.1Q VLANs, bonds and bridges, or DHCPv4. On every
other ethernet device (netlink type "device", not enslaved to a bond or
bridge) or, with -interfaces, on every ethernet link whose name matches one
of the patterns, it runs a DHCPv4 client; without the file, everywhere.
Leases are applied with netlink (address, routes, MTU), renewed at T1,
rebound at T2 and removed when they expire. The name servers and search
domains of the file, else of all leases, are written to the -resolv file.
SIGHUP reads the file again and moves every link to it; a file that is not
valid is logged and the configuration in force stays. Readiness is sent to
$NOTIFY_SOCKET once every link present at start is configured, or after
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
	resolv := fs.String("resolv", layout.ResolvConf, "`path` of the resolv.conf to write")
	configPath := fs.String("config", layout.NetworkConfig, "`path` of the network configuration (JSON) PID 1 writes; absent: DHCP everywhere")
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
	// SIGHUP: read the configuration again. Signals that come while a
	// reload is due are one reload.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-hup:
				select {
				case reload <- struct{}{}:
				default:
				}
			case <-ctx.Done():
				return
			}
		}
	}()

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
		configPath:   *configPath,
		reload:       reload,
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
