//go:build privileged

package main

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
	mtu                 uint16
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

// addPair makes the veth pair srv/cli in srvNS, gives srv the server's
// address and starts a DHCP server on it. The caller moves cli.
func addPair(t *testing.T, srvNS netns.NsHandle, srvH *netlink.Handle, srv, cli string, ts *testServer) netlink.Link {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: srv}, PeerName: cli}
	if err := srvH.LinkAdd(veth); err != nil {
		t.Fatalf("add veth %s/%s: %v", srv, cli, err)
	}
	l, err := srvH.LinkByName(srv)
	if err != nil {
		t.Fatal(err)
	}
	ts.renewed = make(chan seen, 10)
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ts.sub.server, Mask: net.CIDRMask(24, 32)}}
	if err := srvH.AddrAdd(l, addr); err != nil {
		t.Fatalf("add %s to %s: %v", addr, srv, err)
	}
	if err := srvH.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	if err := netnstest.ServeDHCPv4(t, srvNS, srv, ts.handle); err != nil {
		t.Fatal(err)
	}
	cl, err := srvH.LinkByName(cli)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

var lan77 = subnet{
	server: net.IPv4(192, 168, 77, 1).To4(),
	client: net.IPv4(192, 168, 77, 50).To4(),
	dns:    net.IPv4(192, 168, 77, 53).To4(),
	search: "example.test",
	lease:  30 * time.Second,
	mtu:    1400,
}

const resolv77 = "# written by berth network\nnameserver 192.168.77.53\nsearch example.test\n"
