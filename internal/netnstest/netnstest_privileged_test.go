//go:build privileged

package netnstest

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

//	go test -count=1 -tags privileged ./internal/netnstest/

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the privileged tests need root")
	}
}

// A link made in the new namespace (a veth: CI kernels may lack dummy) is there, and not in the test's own;
// In runs in the namespace and leaves the caller's thread where it was.
func TestNewAndIn(t *testing.T) {
	needRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	home, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()

	ns, h := New(t)
	if ns.Equal(home) {
		t.Fatal("New gave the test's own namespace")
	}
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "nstest0"}, PeerName: "nstest1"}); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	var notFound netlink.LinkNotFoundError
	if _, err := netlink.LinkByName("nstest0"); !errors.As(err, &notFound) {
		t.Errorf("nstest0 in the test's own namespace: %v", err)
	}
	err = In(ns, func() error {
		cur, err := netns.Get()
		if err != nil {
			return err
		}
		defer cur.Close()
		if !cur.Equal(ns) {
			t.Errorf("In ran in %s, want %s", cur, ns)
		}
		_, err = netlink.LinkByName("nstest0")
		return err
	})
	if err != nil {
		t.Errorf("In: %v", err)
	}
	cur, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	if !cur.Equal(home) {
		t.Errorf("the test's thread moved to %s", cur)
	}
}

func TestInReturnsItsError(t *testing.T) {
	needRoot(t)
	ns, _ := New(t)
	boom := errors.New("boom")
	if err := In(ns, func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("In = %v, want %v", err, boom)
	}
	if err := In(netns.None(), func() error { t.Error("f ran"); return nil }); !errors.Is(err, unix.EBADF) || !strings.HasPrefix(err.Error(), "enter netns ") {
		t.Errorf("In(None) = %v, want enter netns ...: %v", err, unix.EBADF)
	}
}

// A DHCP server in one namespace answers a DISCOVER from another.
func TestServeDHCPv4(t *testing.T) {
	needRoot(t)
	srvNS, srvH := New(t)
	cliNS, _ := New(t)
	if err := srvH.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "dsrv0"}, PeerName: "dcli0"}); err != nil {
		t.Fatal(err)
	}
	srv, err := srvH.LinkByName("dsrv0")
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := netlink.ParseAddr("10.77.0.1/24")
	if err := srvH.AddrAdd(srv, addr); err != nil {
		t.Fatal(err)
	}
	if err := srvH.LinkSetUp(srv); err != nil {
		t.Fatal(err)
	}
	cli, err := srvH.LinkByName("dcli0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srvH.LinkSetNsFd(cli, int(cliNS)); err != nil {
		t.Fatal(err)
	}
	asked := make(chan dhcpv4.MessageType, 1)
	handler := func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
		select { // the first message; the client may send more before an offer gets through
		case asked <- m.MessageType():
		default:
		}
		resp, err := dhcpv4.NewReplyFromRequest(m, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer), dhcpv4.WithYourIP(net.IPv4(10, 77, 0, 9)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 77, 0, 1))))
		if err == nil {
			conn.WriteTo(resp.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort})
		}
	}
	if err := ServeDHCPv4(t, srvNS, "dsrv0", handler); err != nil {
		t.Fatal(err)
	}
	var offer *dhcpv4.DHCPv4
	err = In(cliNS, func() error {
		l, err := netlink.LinkByName("dcli0")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return err
		}
		offer, err = discover(l)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if typ := <-asked; typ != dhcpv4.MessageTypeDiscover {
		t.Errorf("server got %s", typ)
	}
	if offer.MessageType() != dhcpv4.MessageTypeOffer || !offer.YourIPAddr.Equal(net.IPv4(10, 77, 0, 9)) {
		t.Errorf("offer %s", offer.Summary())
	}
	if err := ServeDHCPv4(t, srvNS, "nope0", handler); err == nil || !strings.HasPrefix(err.Error(), "dhcp server socket on nope0: ") {
		t.Errorf("server on a missing link: %v", err)
	}
}

// discover sends a DISCOVER on l and returns the first OFFER.
func discover(l netlink.Link) (*dhcpv4.DHCPv4, error) {
	c, err := nclient4.New(l.Attrs().Name, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(5))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c.DiscoverOffer(ctx)
}
