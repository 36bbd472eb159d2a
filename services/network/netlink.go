package network

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth-os/berth/internal/netconfig"
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
	if r.Static {
		nr.Protocol = unix.RTPROT_STATIC
	}
	if r.Dst.Addr().Is6() {
		nr.Family = netlink.FAMILY_V6
	}
	if r.Src.IsValid() {
		nr.Src = r.Src.AsSlice()
	}
	if r.Gw.IsValid() {
		nr.Gw = r.Gw.AsSlice()
	} else if nr.Family == netlink.FAMILY_V4 {
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

// nlLink is the netlink form of a link to make.
func (n *netlinkConfigurer) nlLink(spec linkSpec) (netlink.Link, error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = spec.Name
	switch spec.Kind {
	case "vlan":
		parent, err := n.link(spec.Parent)
		if err != nil {
			return nil, err
		}
		attrs.ParentIndex = parent.Attrs().Index
		return &netlink.Vlan{LinkAttrs: attrs, VlanId: spec.VLAN, VlanProtocol: netlink.VLAN_PROTOCOL_8021Q}, nil
	case "bridge":
		return &netlink.Bridge{LinkAttrs: attrs}, nil
	case "bond":
		b := netlink.NewLinkBond(attrs)
		for k, v := range spec.BondOpts {
			// The values are checked and canonical (bondOptions).
			num, _ := strconv.Atoi(v)
			switch k {
			case "mode":
				b.Mode = netlink.StringToBondMode(v)
			case "miimon":
				b.Miimon = num
			case "updelay":
				b.UpDelay = num
			case "downdelay":
				b.DownDelay = num
			case "min_links":
				b.MinLinks = num
			case "lacp_rate":
				b.LacpRate = netlink.StringToBondLacpRate(v)
			case "xmit_hash_policy":
				b.XmitHashPolicy = netlink.StringToBondXmitHashPolicy(v)
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("make %s: unknown kind of link %q", spec.Name, spec.Kind)
}

func (n *netlinkConfigurer) AddLink(spec linkSpec) error {
	if len(spec.Name) > netconfig.MaxNameLen {
		return fmt.Errorf("make %s %s: name longer than %d characters", spec.Kind, spec.Name, netconfig.MaxNameLen)
	}
	if l, err := n.h.LinkByName(spec.Name); err == nil {
		if l.Type() != spec.Kind {
			return fmt.Errorf("make %s %s: there is a %s of that name", spec.Kind, spec.Name, l.Type())
		}
		return nil
	}
	l, err := n.nlLink(spec)
	if err != nil {
		return err
	}
	if err := n.h.LinkAdd(l); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("make %s %s: %w", spec.Kind, spec.Name, err)
	}
	return nil
}

func (n *netlinkConfigurer) DeleteLink(name string) error {
	l, err := n.h.LinkByName(name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return nil
		}
		return fmt.Errorf("find link %s: %w", name, err)
	}
	if err := n.h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

func (n *netlinkConfigurer) SetMaster(name, master string) error {
	l, err := n.link(name)
	if err != nil {
		return err
	}
	if master == "" {
		if l.Attrs().MasterIndex == 0 {
			return nil
		}
		if err := n.h.LinkSetNoMaster(l); err != nil {
			return fmt.Errorf("free %s from its master: %w", name, err)
		}
		return nil
	}
	m, err := n.link(master)
	if err != nil {
		return err
	}
	if l.Attrs().MasterIndex == m.Attrs().Index {
		return nil
	}
	// A bond takes only links that are down, and sets them up itself.
	if m.Type() == "bond" && l.Attrs().Flags&net.FlagUp != 0 {
		if err := n.h.LinkSetDown(l); err != nil {
			return fmt.Errorf("set %s down to enslave it to %s: %w", name, master, err)
		}
	}
	if err := n.h.LinkSetMasterByIndex(l, m.Attrs().Index); err != nil {
		return fmt.Errorf("enslave %s to %s: %w", name, master, err)
	}
	return nil
}
