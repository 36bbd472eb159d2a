//go:build privileged

package network

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestEndToEnd: lease, readiness, resolv.conf, a link that comes and goes,
// a unicast renewal at T1, a clean stop.
func TestEndToEnd(t *testing.T) {
	needRoot(t)
	n := newDHCPNet(t)
	cliH := n.cliH
	srv0 := &testServer{sub: lan77}
	n.addServer(t, "bsrv0", "bcli0", srv0)

	svc := startServiceProcess(t, n.cliNS, "-interfaces", "bcli*", "-ready-timeout", "2m")
	// READY comes once bcli0 has its lease.
	svc.waitReady(t, "leases: bcli0 192.168.77.50/24")
	for _, m := range srv0.messages() {
		t.Logf("server got %s from %s at %s", m.typ, m.from, m.at.Sub(svc.start).Round(time.Millisecond))
	}

	a, err := hasAddr(cliH, "bcli0", "192.168.77.50/24")
	if err != nil {
		t.Error(err)
	} else if a.ValidLft <= 0 || a.ValidLft > 30 {
		t.Errorf("address valid for %ds, want the lease's 30s at most", a.ValidLft)
	}
	if err := hasDefaultRoute(cliH, "bcli0", lan77.server); err != nil {
		t.Error(err)
	}
	if l, err := cliH.LinkByName("bcli0"); err != nil || l.Attrs().MTU != 1400 || l.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("bcli0 %+v (%v), want up with mtu 1400", l, err)
	}
	if lo, err := cliH.LinkByName("lo"); err != nil || lo.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("lo not up: %v", err)
	}
	if _, err := hasAddr(cliH, "lo", "127.0.0.1/8"); err != nil {
		t.Error(err)
	}
	if err := fileIs(svc.resolv, resolv77)(); err != nil {
		t.Error(err)
	}
	host, _ := os.Hostname()
	for _, m := range srv0.messages() {
		if m.typ == dhcpv4.MessageTypeDiscover && m.hostname != host {
			t.Errorf("DISCOVER with hostname %q, want %q", m.hostname, host)
		}
	}

	// A link that comes later gets its lease too.
	lan78 := subnet{
		server: net.IPv4(192, 168, 78, 1).To4(),
		client: net.IPv4(192, 168, 78, 50).To4(),
		dns:    net.IPv4(192, 168, 78, 53).To4(),
		lease:  time.Hour,
	}
	n.addServer(t, "bsrv1", "bcli1", &testServer{sub: lan78})
	eventually(t, "lease on bcli1", 60*time.Second, func() error {
		_, err := hasAddr(cliH, "bcli1", "192.168.78.50/24")
		return err
	})
	eventually(t, "resolv.conf with both links", 10*time.Second,
		fileIs(svc.resolv, "# written by berth network\nnameserver 192.168.77.53\nnameserver 192.168.78.53\nsearch example.test\n"))
	// The default route of the first link stays.
	if err := hasDefaultRoute(cliH, "bcli0", lan77.server); err != nil {
		t.Error(err)
	}
	if err := hasDefaultRoute(cliH, "bcli1", lan78.server); err != nil {
		t.Error(err)
	}

	// And when it goes, so does its name server.
	if l, err := n.srvH.LinkByName("bsrv1"); err != nil {
		t.Fatal(err)
	} else if err := n.srvH.LinkDel(l); err != nil {
		t.Fatalf("delete bsrv1: %v", err)
	}
	eventually(t, "resolv.conf without bcli1", 10*time.Second, fileIs(svc.resolv, resolv77))

	// At T1, which the server gives (3s of the 30s lease; the client's
	// own would be 15s): a unicast REQUEST from the leased address to the
	// server that gave it.
	select {
	case m := <-srv0.renewed:
		if !m.from.Equal(lan77.client) || !m.ciaddr.Equal(lan77.client) {
			t.Errorf("renewal from %s with ciaddr %s, want both %s", m.from, m.ciaddr, lan77.client)
		}
		if d := m.at.Sub(svc.start); d < lan77.t1 || d >= lan77.lease/2 {
			t.Errorf("renewed %s after start: want at the server's T1 (%s), before the client's own (%s)", d, lan77.t1, lan77.lease/2)
		}
		t.Logf("renewed %s after start", svc.since())
	case <-time.After(60 * time.Second):
		t.Fatalf("no renewal; server got %+v", srv0.messages())
	}
	svc.waitLog(t, "network: bcli0: renewed 192.168.77.50/24")
	leaseKept(t, cliH, "bcli0", lan77)

	svc.stop(t)
	svc.logHas(t,
		"network: lo: up",
		"network: bcli0: lease 192.168.77.50/24 gw 192.168.77.1 dns 192.168.77.53 search example.test mtu 1400 for 30s",
		"network: bcli0: renewed 192.168.77.50/24",
		"network: bcli1: dhcp stopped: gone",
		"network: stopped",
	)
	// Leases are not released on the way out.
	for _, m := range srv0.messages() {
		if m.typ == dhcpv4.MessageTypeRelease {
			t.Error("service released its lease")
		}
	}
}
