package main

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netlinkConfigurer is the linkConfigurer of the kernel, in the network
// namespace the service started in.
type netlinkConfigurer struct {
	h *netlink.Handle
}

func newNetlinkConfigurer() (*netlinkConfigurer, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netlink: %w", err)
	}
	return &netlinkConfigurer{h: h}, nil
}

func (n *netlinkConfigurer) Close() { n.h.Close() }

func (n *netlinkConfigurer) link(name string) (netlink.Link, error) {
	l, err := n.h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("find link %s: %w", name, err)
	}
	return l, nil
}

func (n *netlinkConfigurer) SetLink(name string, mtu int) error {
	l, err := n.link(name)
	if err != nil {
		return err
	}
	if mtu > 0 && l.Attrs().MTU != mtu {
		if err := n.h.LinkSetMTU(l, mtu); err != nil {
			return fmt.Errorf("set mtu %d on %s: %w", mtu, name, err)
		}
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := n.h.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", name, err)
		}
	}
	return nil
}

func nlAddr(a address) *netlink.Addr {
	na := &netlink.Addr{IPNet: ipNet(a.Prefix)}
	if a.Lifetime > 0 {
		secs := min(int64(a.Lifetime.Seconds()), 0xffffffff)
		na.ValidLft = int(secs)
		na.PreferedLft = int(secs)
	}
	return na
}

func (n *netlinkConfigurer) ReplaceAddr(name string, a address) error {
	l, err := n.link(name)
	if err != nil {
		return err
	}
	if err := n.h.AddrReplace(l, nlAddr(a)); err != nil {
		return fmt.Errorf("add address %s to %s: %w", a.Prefix, name, err)
	}
	return nil
}

func (n *netlinkConfigurer) DeleteAddr(name string, a address) error {
	l, err := n.link(name)
	if err != nil {
		return err
	}
	if err := n.h.AddrDel(l, nlAddr(a)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("delete address %s from %s: %w", a.Prefix, name, err)
	}
	return nil
}

func nlRoute(index int, r route) *netlink.Route {
	nr := &netlink.Route{
		LinkIndex: index,
		Dst:       ipNet(r.Dst),
		Protocol:  unix.RTPROT_DHCP,
		Priority:  r.Metric,
		Scope:     netlink.SCOPE_UNIVERSE,
		Family:    netlink.FAMILY_V4,
	}
	if r.Src.IsValid() {
		nr.Src = r.Src.AsSlice()
	}
	if r.Gw.IsValid() {
		nr.Gw = r.Gw.AsSlice()
	} else {
		nr.Scope = netlink.SCOPE_LINK
	}
	return nr
}

func (n *netlinkConfigurer) ReplaceRoute(name string, r route) error {
	l, err := n.link(name)
	if err != nil {
		return err
	}
	if err := n.h.RouteReplace(nlRoute(l.Attrs().Index, r)); err != nil {
		return fmt.Errorf("add route %s to %s: %w", r, name, err)
	}
	return nil
}

func (n *netlinkConfigurer) DeleteRoute(name string, r route) error {
	l, err := n.link(name)
	if err != nil {
		return err
	}
	if err := n.h.RouteDel(nlRoute(l.Attrs().Index, r)); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("delete route %s from %s: %w", r, name, err)
	}
	return nil
}
