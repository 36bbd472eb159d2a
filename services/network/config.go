package network

import (
	"net"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/berth-os/berth/internal/netconfig"
)

// entryFor returns the entry of c that configures l: the one of its name,
// else the one of its hardware address. Links that take their address from
// another (VLANs, bonds, bridges, macvlans) are matched by name only, and a
// bond slave by its own address, not the bond's.
func entryFor(c *netconfig.Config, l netlink.Link) (string, netconfig.Iface, bool) {
	a := l.Attrs()
	if e, ok := c.Interfaces[a.Name]; ok {
		return a.Name, e, true
	}
	switch l.Type() {
	case "vlan", "bond", "bridge", "macvlan", "macvtap", "ipvlan", "ipvtap":
		return "", netconfig.Iface{}, false
	}
	mac := permanentMAC(l)
	if len(mac) == 0 {
		return "", netconfig.Iface{}, false
	}
	key := "mac=" + strings.ToLower(mac.String())
	e, ok := c.Interfaces[key]
	return key, e, ok
}

// permanentMAC is the hardware address a link was born with: enslaved to a
// bond, it carries the bond's.
func permanentMAC(l netlink.Link) net.HardwareAddr {
	a := l.Attrs()
	if isSet(a.PermHWAddr) {
		return a.PermHWAddr
	}
	if s, ok := a.Slave.(*netlink.BondSlave); ok && isSet(s.PermHardwareAddr) {
		return s.PermHardwareAddr
	}
	return a.HardwareAddr
}

func isSet(mac net.HardwareAddr) bool {
	return slices.ContainsFunc(mac, func(b byte) bool { return b != 0 })
}
