//go:build privileged

package network

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// eventually polls f until it returns nil.
func eventually(t *testing.T, what string, timeout time.Duration, f func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

// errNoAddr is hasAddr's error for a link that is there without the address.
var errNoAddr = errors.New("address missing")

// hasAddr returns the address cidr of link.
func hasAddr(h *netlink.Handle, link, cidr string) (netlink.Addr, error) {
	l, err := h.LinkByName(link)
	if err != nil {
		return netlink.Addr{}, err
	}
	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return netlink.Addr{}, err
	}
	for _, a := range addrs {
		if a.IPNet.String() == cidr {
			return a, nil
		}
	}
	return netlink.Addr{}, fmt.Errorf("%w: %s not on %s (%v)", errNoAddr, cidr, link, addrs)
}

// hasDefaultRoute says (nil) that link has a default route through gw.
func hasDefaultRoute(h *netlink.Handle, link string, gw net.IP) error {
	l, err := h.LinkByName(link)
	if err != nil {
		return err
	}
	routes, err := h.RouteList(l, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	for _, r := range routes {
		isDefault := r.Dst == nil
		if r.Dst != nil {
			ones, _ := r.Dst.Mask.Size()
			isDefault = ones == 0
		}
		if isDefault && r.Gw.Equal(gw) {
			return nil
		}
	}
	return fmt.Errorf("no default route via %s on %s (%v)", gw, link, routes)
}

// fileIs is a check, for eventually, that the file holds want.
func fileIs(path, want string) func() error {
	return func() error {
		got, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if string(got) != want {
			return fmt.Errorf("%s is\n%s\nwant\n%s", path, got, want)
		}
		return nil
	}
}

// lacksAddr says (nil) that link is there without cidr.
func lacksAddr(h *netlink.Handle, link, cidr string) error {
	_, err := hasAddr(h, link, cidr)
	var gone netlink.LinkNotFoundError
	switch {
	case err == nil:
		return fmt.Errorf("%s still on %s", cidr, link)
	case errors.As(err, &gone):
		return err
	case errors.Is(err, errNoAddr):
		return nil
	default:
		return err
	}
}

// linkGone says (nil) that there is no link of that name.
func linkGone(h *netlink.Handle, name string) error {
	_, err := h.LinkByName(name)
	var gone netlink.LinkNotFoundError
	if errors.As(err, &gone) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("%s still there", name)
	}
	return err
}

// leaseKept waits for a renewed or rebound lease of sub on link: the
// address valid for the whole lease again (28 s of 30 at least), and the
// default route through the server.
func leaseKept(t *testing.T, h *netlink.Handle, link string, sub subnet) {
	t.Helper()
	cidr := (&net.IPNet{IP: sub.client, Mask: net.CIDRMask(24, 32)}).String()
	// Applied again, the address is valid for the whole lease (30 s) less
	// two seconds at most; the first lease had 27 s left at the earliest T1
	// (3 s).
	eventually(t, "lease applied again", 10*time.Second, func() error {
		a, err := hasAddr(h, link, cidr)
		if err == nil && a.ValidLft < int(sub.lease/time.Second)-2 {
			err = fmt.Errorf("address valid for %ds only", a.ValidLft)
		}
		return err
	})
	if err := hasDefaultRoute(h, link, sub.server); err != nil {
		t.Error(err)
	}
}

func link(t *testing.T, h *netlink.Handle, name string) netlink.Link {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	return l
}

// writeFile writes path atomically, as PID 1 writes the configuration.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
