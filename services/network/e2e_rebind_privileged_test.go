//go:build privileged

package network

import (
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestEndToEndRebind: the server does not hear unicast, so the renewal at
// T1 fails and the lease is kept by a broadcast REQUEST at T2.
func TestEndToEndRebind(t *testing.T) {
	needRoot(t)
	n := newDHCPNet(t)
	srv := &testServer{sub: lan77, dropUnicast: true}
	n.addServer(t, "bsrv0", "bcli0", srv)
	svc := startServiceProcess(t, n.cliNS, "-interfaces", "bcli0")
	svc.waitReady(t, "leases: bcli0 192.168.77.50/24")

	// At T2, which the server gives (6s of the 30s lease; the client's own
	// would be 26.25s).
	select {
	case m := <-srv.renewed:
		if !m.ciaddr.Equal(lan77.client) {
			t.Errorf("rebinding REQUEST with ciaddr %s, want %s", m.ciaddr, lan77.client)
		}
		if d := m.at.Sub(svc.start); d < lan77.t2 || d >= lan77.lease*7/8 {
			t.Errorf("rebound %s after start: want at the server's T2 (%s), before the client's own (%s)", d, lan77.t2, lan77.lease*7/8)
		}
		t.Logf("rebound %s after start", svc.since())
	case <-time.After(60 * time.Second):
		t.Fatalf("no rebinding; server got %+v", srv.messages())
	}
	unicast := 0
	for _, m := range srv.messages() {
		if m.typ == dhcpv4.MessageTypeRequest && m.from.Equal(lan77.client) {
			unicast++
		}
	}
	if unicast == 0 {
		t.Errorf("no unicast renewal before rebinding; server got %+v", srv.messages())
	}
	svc.waitLog(t, "network: bcli0: rebound 192.168.77.50/24")
	leaseKept(t, n.cliH, "bcli0", lan77)
	svc.stop(t)
	svc.logHas(t, "context deadline exceeded; rebinding now", "network: bcli0: rebound 192.168.77.50/24", "network: stopped")
	if strings.Contains(svc.output(), "expired") {
		t.Error("the lease expired")
	}
}
