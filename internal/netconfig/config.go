package netconfig

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Config is a Network that Validate checked, with every value parsed: what
// the network service works from. The zero Config asks for nothing: DHCP on
// every ethernet device, as without a file.
type Config struct {
	// Interfaces are by key: a kernel name or mac=<address> in lower case.
	Interfaces map[string]Iface
	DNS        Resolver
}

// Iface is one entry of interfaces.
type Iface struct {
	// DHCP is nil when not given: DHCP unless there are addresses.
	DHCP      *bool
	Addresses []netip.Prefix
	Gateway   netip.Addr // IPv4 default route
	Gateway6  netip.Addr // IPv6 default route
	MTU       int        // 0: leave the MTU alone
	VLANs     []int      // 802.1Q links <name>.<id> to make on this one
	Bond      string     // enslave to this bond
	Bridge    string     // enslave to this bridge
	// BondOpts are the options of the bond of this name, canonical: see
	// bondOptions.
	BondOpts map[string]string
}

// Resolver is the resolver configuration; each part, when given, replaces
// what the leases say.
type Resolver struct {
	Nameservers []netip.Addr
	Search      []string
}

// MaxNameLen is the longest name of a link: IFNAMSIZ less the NUL.
const MaxNameLen = 15

// Slave says whether the entry enslaves its link.
func (e Iface) Slave() bool { return e.Bond != "" || e.Bridge != "" }

// Static says whether the entry gives its link a fixed configuration
// (maybe without any address) rather than DHCP.
func (e Iface) Static() bool {
	return len(e.Addresses) > 0 || (e.DHCP != nil && !*e.DHCP)
}

// VLANName is the name of the VLAN link id on parent.
func VLANName(parent string, id int) string { return fmt.Sprintf("%s.%d", parent, id) }

// Summary is how a configuration shows in the log.
func (c *Config) Summary() string {
	if len(c.Interfaces) == 0 && len(c.DNS.Nameservers) == 0 && len(c.DNS.Search) == 0 {
		return "nothing configured, dhcp everywhere"
	}
	var parts []string
	for _, key := range slices.Sorted(maps.Keys(c.Interfaces)) {
		e := c.Interfaces[key]
		what := "dhcp"
		switch {
		case e.Bond != "":
			what = "bond " + e.Bond
		case e.Bridge != "":
			what = "bridge " + e.Bridge
		case len(e.Addresses) > 0:
			what = "static"
		case e.Static():
			what = "no address"
		}
		if len(e.VLANs) > 0 {
			what += fmt.Sprintf(" vlans %d", len(e.VLANs))
		}
		parts = append(parts, key+" "+what)
	}
	if n := len(c.DNS.Nameservers); n > 0 {
		parts = append(parts, fmt.Sprintf("nameservers %d", n))
	}
	if n := len(c.DNS.Search); n > 0 {
		parts = append(parts, fmt.Sprintf("search domains %d", n))
	}
	return strings.Join(parts, ", ")
}

// Masters are the bonds, with their options, and the bridges that the
// configuration names: in bond or bridge fields, or as an entry with
// bond_opts.
func (c *Config) Masters() (bonds map[string]map[string]string, bridges map[string]bool) {
	bonds, bridges = map[string]map[string]string{}, map[string]bool{}
	for key, e := range c.Interfaces {
		if e.Bond != "" {
			bonds[e.Bond] = c.Interfaces[e.Bond].BondOpts
		}
		if e.Bridge != "" {
			bridges[e.Bridge] = true
		}
		if e.BondOpts != nil && !strings.HasPrefix(key, "mac=") {
			bonds[key] = e.BondOpts
		}
	}
	return bonds, bridges
}
