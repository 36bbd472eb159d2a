// Package netnstest gives tests that run as root network namespaces of
// their own: the privileged tests of services/network and the QEMU tests
// of test/ make links, addresses and servers there, and never touch the
// namespace they started in. Importing it does nothing; each call needs
// root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
package netnstest

import (
	"fmt"
	"net"
	"runtime"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// In runs f on an OS thread in ns and returns its error. The thread is
// never unlocked, so the Go runtime ends it with its goroutine and no other
// goroutine ever runs in ns. Sockets f opens and processes it starts live
// in ns.
func In(ns netns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// New makes a network namespace, and a netlink handle in it, that live as
// long as the test.
func New(t testing.TB) (netns.NsHandle, *netlink.Handle) {
	t.Helper()
	type made struct {
		ns  netns.NsHandle
		err error
	}
	c := make(chan made, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies in the new namespace
		ns, err := netns.New()
		c <- made{ns, err}
	}()
	m := <-c
	if m.err != nil {
		t.Fatalf("new netns: %v", m.err)
	}
	t.Cleanup(func() { m.ns.Close() })
	h, err := netlink.NewHandleAt(m.ns)
	if err != nil {
		t.Fatalf("netlink handle in the new netns: %v", err)
	}
	t.Cleanup(h.Close)
	return m.ns, h
}

// ServeDHCPv4 answers DHCPv4 on the link ifname of ns with handler until
// the test ends. The link must be up, with an address.
func ServeDHCPv4(t testing.TB, ns netns.NsHandle, ifname string, handler server4.Handler) error {
	var conn *net.UDPConn
	err := In(ns, func() (err error) {
		conn, err = server4.NewIPv4UDPConn(ifname, &net.UDPAddr{Port: dhcpv4.ServerPort})
		return err
	})
	if err != nil {
		return fmt.Errorf("dhcp server socket on %s: %w", ifname, err)
	}
	s, err := server4.NewServer("", nil, handler, server4.WithConn(conn))
	if err != nil {
		conn.Close()
		return fmt.Errorf("dhcp server on %s: %w", ifname, err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return nil
}
