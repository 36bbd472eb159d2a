package network

import (
	"context"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth-os/berth/internal/servicetest"
)

// instantLeaser has a lease at once; a nil lease never comes.
type instantLeaser struct{ lease *nclient4.Lease }

func (l instantLeaser) Discover(ctx context.Context) (*nclient4.Lease, error) {
	if l.lease == nil {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return l.lease, nil
}

func (l instantLeaser) Renew(ctx context.Context, _ *nclient4.Lease) (*nclient4.Lease, error) {
	return l.Discover(ctx)
}

func (l instantLeaser) Rebind(ctx context.Context, _ *nclient4.Lease) (*nclient4.Lease, error) {
	return l.Discover(ctx)
}

// harness runs a service on fakes.
type harness struct {
	t       *testing.T
	links   chan linkEvent
	ready   chan string
	resolv  string
	config  string
	reload  chan struct{}
	journal *journal
	logs    *servicetest.Log
	stop    func()
}

func startService(t *testing.T, leases map[string]*nclient4.Lease, readyTimeout time.Duration) *harness {
	return startServiceWith(t, leases, readyTimeout, "")
}

// startServiceWith starts a service whose configuration file holds config;
// "" is no file.
func startServiceWith(t *testing.T, leases map[string]*nclient4.Lease, readyTimeout time.Duration, config string) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{
		t:       t,
		links:   make(chan linkEvent),
		ready:   make(chan string, 10),
		resolv:  filepath.Join(dir, "resolv.conf"),
		config:  filepath.Join(dir, "config.json"),
		reload:  make(chan struct{}),
		journal: &journal{},
		logs:    &servicetest.Log{},
	}
	if config != "" {
		h.writeConfig(config)
	}
	s := &service{
		log:          log.New(h.logs, "", 0),
		resolvPath:   h.resolv,
		configPath:   h.config,
		reload:       h.reload,
		readyTimeout: readyTimeout,
		conf:         &recorder{j: h.journal},
		newLeaser: func(name string) leaser {
			l, ok := leases[name]
			if !ok {
				t.Errorf("dhcp started on %s", name)
			}
			return instantLeaser{l}
		},
		notify: func(status string) error {
			h.ready <- status
			return nil
		},
		clock: realClock{},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.run(ctx, h.links)
		close(done)
	}()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			close(h.links)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("service did not stop")
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) send(ev linkEvent) {
	h.t.Helper()
	select {
	case h.links <- ev:
	case <-time.After(10 * time.Second):
		h.t.Fatal("service does not take link events")
	}
}

func (h *harness) waitReady(want string) {
	h.t.Helper()
	select {
	case got := <-h.ready:
		if diff := cmp.Diff(want, got); diff != "" {
			h.t.Errorf("readiness status (-want +got):\n%s", diff)
		}
	case <-time.After(10 * time.Second):
		h.t.Fatalf("no readiness; log:\n%s", h.logs)
	}
}

// waitResolv waits for resolv.conf to say want.
func (h *harness) waitResolv(want string) {
	h.t.Helper()
	var got []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		got, _ = os.ReadFile(h.resolv)
		if string(got) == want {
			return
		}
	}
	h.t.Fatalf("resolv.conf (-want +got):\n%s\nlog:\n%s", cmp.Diff(want, string(got)), h.logs)
}

// device is an ethernet device with its carrier.
func device(index int, name string) *netlink.Device {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index, Name: name, EncapType: "ether",
		RawFlags: unix.IFF_UP | unix.IFF_LOWER_UP, OperState: netlink.OperUp}}
}

var (
	loLink   = &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo", EncapType: "loopback", Flags: net.FlagLoopback}}
	vethLink = &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Index: 9, Name: "veth0", EncapType: "ether"}}
)

func leaseFor(t *testing.T, ip, dns string) *nclient4.Lease {
	return newLease(t,
		dhcpv4.WithYourIP(net.ParseIP(ip)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithDNS(net.ParseIP(dns)),
		dhcpv4.WithLeaseTime(3600))
}

func TestServiceReadyWithEveryLease(t *testing.T) {
	h := startService(t, map[string]*nclient4.Lease{
		"eth0": leaseFor(t, "192.168.77.50", "192.168.77.53"),
		"eth1": leaseFor(t, "10.1.0.50", "10.1.0.53"),
		"eth2": leaseFor(t, "10.2.0.50", "10.2.0.53"),
	}, time.Hour)
	h.send(linkEvent{Full: true, Links: []netlink.Link{loLink, device(2, "eth0"), device(3, "eth1"), vethLink}})
	h.waitReady("leases: eth0 192.168.77.50/24, eth1 10.1.0.50/24")
	h.waitResolv(resolvHeader + "nameserver 192.168.77.53\nnameserver 10.1.0.53\n")

	// A link goes away: its name server with it.
	h.send(linkEvent{Deleted: true, Links: []netlink.Link{device(3, "eth1")}})
	h.waitResolv(resolvHeader + "nameserver 192.168.77.53\n")

	// A link comes: DHCP on it too.
	h.send(linkEvent{Links: []netlink.Link{device(4, "eth2")}})
	h.waitResolv(resolvHeader + "nameserver 192.168.77.53\nnameserver 10.2.0.53\n")

	// A new full list after the subscription broke: eth2 went meanwhile.
	h.send(linkEvent{Full: true, Links: []netlink.Link{loLink, device(2, "eth0")}})
	h.waitResolv(resolvHeader + "nameserver 192.168.77.53\n")

	h.stop()
	select {
	case s := <-h.ready:
		t.Errorf("readiness reported again: %q", s)
	default:
	}
	for _, want := range []string{
		"eth0: dhcp started",
		"eth0: lease 192.168.77.50/24 dns 192.168.77.53 for 1h0m0s",
		"eth1: dhcp stopped: gone",
		"eth2: dhcp stopped: gone",
	} {
		if !strings.Contains(h.logs.String(), want+"\n") {
			t.Errorf("log lacks %q; log:\n%s", want, h.logs)
		}
	}
}

func TestServiceReadyAfterTimeout(t *testing.T) {
	h := startService(t, map[string]*nclient4.Lease{
		"eth0": leaseFor(t, "192.168.77.50", "192.168.77.53"),
		"eth1": nil, // no server
	}, 200*time.Millisecond)
	h.send(linkEvent{Full: true, Links: []netlink.Link{loLink, device(2, "eth0"), device(3, "eth1")}})
	h.waitReady("leases: eth0 192.168.77.50/24; no lease yet: eth1")
	h.waitResolv(resolvHeader + "nameserver 192.168.77.53\n")
}

func TestServiceReadyAtOnceWithoutDevices(t *testing.T) {
	h := startService(t, nil, time.Hour)
	h.send(linkEvent{Full: true, Links: []netlink.Link{loLink, vethLink}})
	h.waitReady("no leases")
	// The file exists once ready, if empty.
	h.waitResolv(resolvHeader)
}

func TestServiceReadyTimeoutWithoutLinkList(t *testing.T) {
	h := startService(t, nil, 100*time.Millisecond)
	h.waitReady("no leases")
}

func TestServiceCarrierStartsDiscovery(t *testing.T) {
	h := startService(t, map[string]*nclient4.Lease{
		"eth0": leaseFor(t, "192.168.77.50", "192.168.77.53"),
	}, time.Hour)
	cable := device(2, "eth0")
	cable.RawFlags, cable.OperState = 0, netlink.OperDown
	start := time.Now()
	h.send(linkEvent{Full: true, Links: []netlink.Link{loLink, cable}})
	h.send(linkEvent{Links: []netlink.Link{device(2, "eth0")}})
	h.waitReady("leases: eth0 192.168.77.50/24")
	if d := time.Since(start); d >= carrierWait {
		t.Errorf("lease after %s: the carrier did not start discovery", d)
	}
	if strings.Contains(h.logs.String(), "no carrier") {
		t.Errorf("log:\n%s", h.logs)
	}
}
