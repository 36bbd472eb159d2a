package network

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/berth-os/berth/internal/netconfig"
)

// role is what the service does with a link.
type role int

const (
	roleNone   role = iota // not the service's: left alone
	roleDHCP               // a DHCPv4 worker
	roleStatic             // fixed addresses and routes, maybe none
	roleSlave              // enslaved to a bond or bridge
)

func (r role) String() string {
	switch r {
	case roleNone:
		return "none"
	case roleDHCP:
		return "dhcp"
	case roleStatic:
		return "static"
	case roleSlave:
		return "slave"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// linkPlan is what the configuration asks of one link.
type linkPlan struct {
	Role role
	// Key is the entry of the configuration that names the link, "" if
	// none does.
	Key string
	MTU int // 0: leave it alone
	// Addrs and Routes are those of roleStatic.
	Addrs  []netip.Prefix
	Routes []route
	// Master and MasterKind ("bond" or "bridge") are those of roleSlave.
	Master     string
	MasterKind string
}

// same says whether two plans configure a link alike: which entry names it
// does not matter.
func (p linkPlan) same(q linkPlan) bool {
	return p.Role == q.Role && p.MTU == q.MTU && slices.Equal(p.Addrs, q.Addrs) &&
		slices.Equal(p.Routes, q.Routes) && p.Master == q.Master && p.MasterKind == q.MasterKind
}

// String is how a plan shows in the log, after the link's name:
// "static 192.168.1.10/24 gw 192.168.1.1 mtu 9000".
func (p linkPlan) String() string {
	var b strings.Builder
	switch p.Role {
	case roleStatic:
		if len(p.Addrs) == 0 {
			b.WriteString("up, no address")
			break
		}
		b.WriteString("static")
		for _, a := range p.Addrs {
			b.WriteString(" " + a.String())
		}
		for _, r := range p.Routes {
			if r.Gw.IsValid() && r.Dst.Bits() == 0 {
				b.WriteString(" gw " + r.Gw.String())
			}
		}
	case roleSlave:
		fmt.Fprintf(&b, "in %s %s", p.MasterKind, p.Master)
	default:
		b.WriteString(p.Role.String())
	}
	if p.MTU > 0 {
		fmt.Fprintf(&b, " mtu %d", p.MTU)
	}
	return b.String()
}

// planLink is what the configuration asks of l; links are all the links
// there are, by index. A link that an entry names is configured as the
// entry says; a VLAN, bond or bridge that the configuration makes, as well
// as every link that wantLink takes, gets DHCP; any other is left alone.
func planLink(c *netconfig.Config, l netlink.Link, links map[int]netlink.Link, patterns []string) linkPlan {
	a := l.Attrs()
	if a.Name == "lo" || a.Flags&net.FlagLoopback != 0 {
		return linkPlan{}
	}
	key, e, ok := entryFor(c, l)
	if !ok {
		if declares(c, l, links) || wantLink(l, patterns) {
			return linkPlan{Role: roleDHCP}
		}
		return linkPlan{}
	}
	p := linkPlan{Key: key, MTU: e.MTU}
	switch {
	case e.Bond != "":
		p.Role, p.Master, p.MasterKind = roleSlave, e.Bond, "bond"
	case e.Bridge != "":
		p.Role, p.Master, p.MasterKind = roleSlave, e.Bridge, "bridge"
	case e.Static():
		p.Role = roleStatic
		p.Addrs = e.Addresses
		p.Routes = staticRoutes(e, baseMetric+a.Index)
	default:
		p.Role = roleDHCP
	}
	return p
}

// declares says whether the configuration c makes l: a bond or bridge that
// it names, or a VLAN in the vlans of its parent's entry.
func declares(c *netconfig.Config, l netlink.Link, links map[int]netlink.Link) bool {
	name := l.Attrs().Name
	bonds, bridges := c.Masters()
	if _, ok := bonds[name]; ok {
		return true
	}
	if bridges[name] {
		return true
	}
	v, ok := l.(*netlink.Vlan)
	if !ok {
		return false
	}
	parent, ok := links[v.ParentIndex]
	if !ok {
		return false
	}
	_, e, ok := entryFor(c, parent)
	return ok && slices.Contains(e.VLANs, v.VlanId) && name == netconfig.VLANName(parent.Attrs().Name, v.VlanId)
}

// linkSpec is a link that the configuration makes.
type linkSpec struct {
	Kind     string // "vlan", "bond" or "bridge"
	Name     string
	Parent   string // of a VLAN
	VLAN     int
	BondOpts map[string]string
}

// String is how the link shows in the log: "vlan 100 on eth1",
// "bond mode active-backup miimon 100", "bridge".
func (s linkSpec) String() string {
	switch s.Kind {
	case "vlan":
		return fmt.Sprintf("vlan %d on %s", s.VLAN, s.Parent)
	case "bond":
		b := []string{"bond"}
		if m, ok := s.BondOpts["mode"]; ok {
			b = append(b, "mode "+m)
		}
		for _, k := range slices.Sorted(maps.Keys(s.BondOpts)) {
			if k != "mode" {
				b = append(b, k+" "+s.BondOpts[k])
			}
		}
		return strings.Join(b, " ")
	}
	return s.Kind
}

// linkSpecs are the links the configuration c makes, given the links there
// are: its bonds and bridges, whose slaves may come later, then the VLANs
// of the parents there are. Masters come first, so that VLANs on a bond
// can follow it.
func linkSpecs(c *netconfig.Config, links map[int]netlink.Link) []linkSpec {
	var specs []linkSpec
	bonds, bridges := c.Masters()
	for _, name := range slices.Sorted(maps.Keys(bonds)) {
		specs = append(specs, linkSpec{Kind: "bond", Name: name, BondOpts: bonds[name]})
	}
	for _, name := range slices.Sorted(maps.Keys(bridges)) {
		specs = append(specs, linkSpec{Kind: "bridge", Name: name})
	}
	var vlans []linkSpec
	for _, l := range links {
		_, e, ok := entryFor(c, l)
		if !ok {
			continue
		}
		parent := l.Attrs().Name
		for _, id := range e.VLANs {
			vlans = append(vlans, linkSpec{Kind: "vlan", Name: netconfig.VLANName(parent, id), Parent: parent, VLAN: id})
		}
	}
	slices.SortFunc(vlans, func(a, b linkSpec) int { return strings.Compare(a.Name, b.Name) })
	return append(specs, vlans...)
}

// bondMatches says whether a bond has the options given; those not given
// do not matter.
func bondMatches(b *netlink.Bond, opts map[string]string) bool {
	for k, v := range opts {
		var have string
		switch k {
		case "mode":
			have = b.Mode.String()
		case "miimon":
			have = strconv.Itoa(b.Miimon)
		case "updelay":
			have = strconv.Itoa(b.UpDelay)
		case "downdelay":
			have = strconv.Itoa(b.DownDelay)
		case "min_links":
			have = strconv.Itoa(b.MinLinks)
		case "lacp_rate":
			have = b.LacpRate.String()
		case "xmit_hash_policy":
			have = b.XmitHashPolicy.String()
		}
		if have != v {
			return false
		}
	}
	return true
}

// staticRoutes are the default routes of an entry's gateways, with the
// given metric. A gateway outside the entry's subnets gets an on-link host
// route first, so that the kernel can reach it.
func staticRoutes(e netconfig.Iface, metric int) []route {
	var routes []route
	for _, gw := range []netip.Addr{e.Gateway, e.Gateway6} {
		if !gw.IsValid() {
			continue
		}
		onLink := gw.IsLinkLocalUnicast() || slices.ContainsFunc(e.Addresses, func(p netip.Prefix) bool { return p.Contains(gw) })
		if !onLink {
			routes = append(routes, route{Dst: netip.PrefixFrom(gw, gw.BitLen()), Metric: metric, Static: true})
		}
		dst := defaultRoute
		if gw.Is6() {
			dst = defaultRoute6
		}
		routes = append(routes, route{Dst: dst, Gw: gw, Metric: metric, Static: true})
	}
	return routes
}

var defaultRoute6 = netip.MustParsePrefix("::/0")
