//go:build privileged

package network

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/berth-os/berth/internal/netnstest"
)

// subnet is what one test server hands out.
type subnet struct {
	server, client, dns net.IP
	search              string
	lease               time.Duration
	// t1 and t2, when set, are the renewal and rebinding times the server
	// gives (options 58 and 59) in place of the client's own (half and
	// seven eighths of the lease): the tests reach them in seconds.
	t1, t2 time.Duration
	mtu    uint16
}

// seen is one message the server got.
type seen struct {
	at       time.Time
	typ      dhcpv4.MessageType
	from     net.IP
	ciaddr   net.IP
	hostname string
}

// testServer answers every DISCOVER and REQUEST of its link with the one
// lease of its subnet, and remembers what it got.
type testServer struct {
	sub subnet
	// dropUnicast makes the server deaf to unicast REQUESTs, as if it were
	// unreachable: a client can only rebind.
	dropUnicast bool

	mu    sync.Mutex
	got   []seen
	acked bool
	// renewed gets every REQUEST that came after an ACK.
	renewed chan seen
}

func (s *testServer) handle(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	msg := seen{at: time.Now(), typ: m.MessageType(), ciaddr: m.ClientIPAddr, hostname: m.HostName()}
	if u, ok := peer.(*net.UDPAddr); ok {
		msg.from = u.IP
	}
	var reply dhcpv4.MessageType
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		reply = dhcpv4.MessageTypeOffer
	case dhcpv4.MessageTypeRequest:
		reply = dhcpv4.MessageTypeAck
	}
	if s.dropUnicast && !msg.from.Equal(net.IPv4bcast) {
		reply = dhcpv4.MessageTypeNone
	}
	s.mu.Lock()
	s.got = append(s.got, msg)
	if reply == dhcpv4.MessageTypeAck {
		if s.acked {
			select {
			case s.renewed <- msg:
			default:
			}
		}
		s.acked = true
	}
	s.mu.Unlock()
	if reply == dhcpv4.MessageTypeNone {
		return
	}

	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(reply),
		dhcpv4.WithYourIP(s.sub.client),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(s.sub.server)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(s.sub.server),
		dhcpv4.WithDNS(s.sub.dns),
		dhcpv4.WithLeaseTime(uint32(s.sub.lease / time.Second)),
	}
	if s.sub.t1 != 0 {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(s.sub.t1)), dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(s.sub.t2)))
	}
	if s.sub.search != "" {
		mods = append(mods, dhcpv4.WithDomainSearchList(s.sub.search))
	}
	if s.sub.mtu != 0 {
		mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{byte(s.sub.mtu >> 8), byte(s.sub.mtu)}))
	}
	resp, err := dhcpv4.NewReplyFromRequest(m, mods...)
	if err != nil {
		return
	}
	conn.WriteTo(resp.ToBytes(), peer)
}

func (s *testServer) messages() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.got...)
}

// dhcpNet is two network namespaces, one for DHCP servers and one for the
// service, joined by a veth pair for each server.
type dhcpNet struct {
	srvNS, cliNS netns.NsHandle
	srvH, cliH   *netlink.Handle
}

func newDHCPNet(t *testing.T) *dhcpNet {
	t.Helper()
	n := &dhcpNet{}
	n.srvNS, n.srvH = netnstest.New(t)
	n.cliNS, n.cliH = netnstest.New(t)
	return n
}

// addServer makes the veth pair srv/cli, gives srv the server's address,
// serves ts on it and moves cli to the service's namespace.
func (n *dhcpNet) addServer(t *testing.T, srv, cli string, ts *testServer) {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: srv}, PeerName: cli}
	if err := n.srvH.LinkAdd(veth); err != nil {
		t.Fatalf("add veth %s/%s: %v", srv, cli, err)
	}
	l, err := n.srvH.LinkByName(srv)
	if err != nil {
		t.Fatal(err)
	}
	ts.renewed = make(chan seen, 10)
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ts.sub.server, Mask: net.CIDRMask(24, 32)}}
	if err := n.srvH.AddrAdd(l, addr); err != nil {
		t.Fatalf("add %s to %s: %v", addr, srv, err)
	}
	if err := n.srvH.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	if err := netnstest.ServeDHCPv4(t, n.srvNS, srv, ts.handle); err != nil {
		t.Fatal(err)
	}
	cl, err := n.srvH.LinkByName(cli)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.srvH.LinkSetNsFd(cl, int(n.cliNS)); err != nil {
		t.Fatalf("move %s: %v", cli, err)
	}
}

var lan77 = subnet{
	server: net.IPv4(192, 168, 77, 1).To4(),
	client: net.IPv4(192, 168, 77, 50).To4(),
	dns:    net.IPv4(192, 168, 77, 53).To4(),
	search: "example.test",
	lease:  30 * time.Second,
	t1:     3 * time.Second,
	t2:     6 * time.Second,
	mtu:    1400,
}

const resolv77 = "# written by berth network\nnameserver 192.168.77.53\nsearch example.test\n"
