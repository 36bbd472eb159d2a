package netconfig

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/berth-os/berth/internal/pattern"
	"github.com/berth-os/berth/internal/strictyaml"
)

var (
	ifaceNameRe = pattern.New(`^[A-Za-z0-9_.:-]{1,15}$`)
	macKeyRe    = pattern.New(`(?i)^mac=([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$`)
)

// Validate checks n completely, with the checks that cloud-config
// validation and the network service share, and returns it parsed. Every
// problem is reported at once, each through dc (so that it carries the line
// dc decoded it from) at its field path below prefix: berth.network in
// user-data, "" in the service's file. What the service ignores is added
// to dc.Warnings.
func Validate(n *Network, dc *strictyaml.Decoder, prefix string) (*Config, error) {
	v := &validator{dc: dc, prefix: prefix}
	c := &Config{}
	for _, key := range slices.Sorted(maps.Keys(n.Interfaces)) {
		path := strictyaml.Join("interfaces", key)
		norm, ok := v.ifaceKey(path, key)
		if !ok {
			continue
		}
		if c.Interfaces == nil {
			c.Interfaces = map[string]Iface{}
		}
		if _, dup := c.Interfaces[norm]; dup {
			v.bad(path, "the same link as another key: %s", norm)
			continue
		}
		c.Interfaces[norm] = v.iface(path, norm, n.Interfaces[key])
	}
	for i, s := range n.DNS.Nameservers {
		path := fmt.Sprintf("dns.nameservers[%d]", i)
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil || a.Zone() != "":
			v.bad(path, "%q is not an IP address", s)
		case slices.Contains(c.DNS.Nameservers, a):
			v.bad(path, "%s given twice", a)
		default:
			c.DNS.Nameservers = append(c.DNS.Nameservers, a)
		}
	}
	for i, s := range n.DNS.Search {
		path := fmt.Sprintf("dns.search[%d]", i)
		s = strings.TrimSuffix(s, ".")
		switch {
		case !ValidDomain(s):
			v.bad(path, "%q is not a domain name", s)
		case slices.Contains(c.DNS.Search, s):
			v.bad(path, "%s given twice", s)
		default:
			c.DNS.Search = append(c.DNS.Search, s)
		}
	}
	v.links(c)
	if err := v.errs.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// validator gathers the problems of a Network.
type validator struct {
	dc     *strictyaml.Decoder
	prefix string
	errs   strictyaml.Errors
}

// at is the field path of path in the document.
func (v *validator) at(path string) string {
	if v.prefix == "" {
		return path
	}
	return v.prefix + "." + path
}

func (v *validator) bad(path, format string, args ...any) {
	v.errs = append(v.errs, v.dc.Error(v.at(path), format, args...))
}

func (v *validator) warn(path, format string, args ...any) {
	v.dc.Warnings = append(v.dc.Warnings, v.dc.Error(v.at(path), format, args...))
}

// ifaceKey checks the key of an entry and returns it as the service uses
// it: a mac= key in lower case.
func (v *validator) ifaceKey(path, key string) (string, bool) {
	switch {
	case strings.HasPrefix(strings.ToLower(key), "mac="):
		if !macKeyRe.MatchString(key) {
			v.bad(path, "%q is not mac= and an ethernet address such as mac=52:54:00:12:34:56", key)
			return "", false
		}
		return strings.ToLower(key), true
	case key == "lo":
		v.bad(path, "the service sets up lo itself")
		return "", false
	case !ValidLinkName(key):
		v.bad(path, "%q is not an interface name or mac=<address>", key)
		return "", false
	}
	return key, true
}

// ValidLinkName says whether s can name a link.
func ValidLinkName(s string) bool {
	return ifaceNameRe.MatchString(s) && s != "." && s != ".."
}

// iface checks one entry of interfaces.
func (v *validator) iface(path, key string, in Interface) Iface {
	e := Iface{DHCP: in.DHCP}
	if in.DHCP6 != nil && *in.DHCP6 {
		v.warn(path+".dhcp6", "DHCPv6 is not supported, ignored")
	}
	for i, s := range in.Addresses {
		ap := fmt.Sprintf("%s.addresses[%d]", path, i)
		a, err := netip.ParsePrefix(s)
		switch {
		case err != nil || a.Addr().Zone() != "" || a.Addr().Is4In6():
			v.bad(ap, "%q is not an address with a prefix length such as 192.168.1.10/24", s)
		case a.Addr().IsUnspecified() || a.Addr().IsLoopback() || a.Addr().IsMulticast():
			v.bad(ap, "%s cannot be the address of a link", a.Addr())
		case slices.Contains(e.Addresses, a):
			v.bad(ap, "%s given twice", a)
		default:
			e.Addresses = append(e.Addresses, a)
		}
	}
	if s := in.Gateway; s != "" {
		if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
			v.bad(path+".gateway", "%q is not an IPv4 address", s)
		} else {
			e.Gateway = a
		}
	}
	if s := in.GatewayIPv6; s != "" {
		if a, err := netip.ParseAddr(s); err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
			v.bad(path+".gateway_ipv6", "%q is not an IPv6 address", s)
		} else {
			e.Gateway6 = a
		}
	}
	if n := in.MTU; n != 0 {
		if n < 68 || n > 65535 {
			v.bad(path+".mtu", "expected 68 to 65535, got %d", n)
		} else {
			e.MTU = n
		}
	}
	for i, id := range in.VLANs {
		vp := fmt.Sprintf("%s.vlans[%d]", path, i)
		switch {
		case id < 1 || id > 4094:
			v.bad(vp, "expected a VLAN id 1 to 4094, got %d", id)
		case slices.Contains(e.VLANs, id):
			v.bad(vp, "VLAN %d given twice", id)
		case !strings.HasPrefix(key, "mac=") && len(VLANName(key, id)) > MaxNameLen:
			v.bad(vp, "the VLAN link name %s is longer than %d characters", VLANName(key, id), MaxNameLen)
		default:
			e.VLANs = append(e.VLANs, id)
		}
	}
	e.Bond = v.master(path+".bond", key, in.Bond)
	e.Bridge = v.master(path+".bridge", key, in.Bridge)
	if in.BondOpts != nil {
		e.BondOpts = v.bondOpts(path+".bond_opts", in.BondOpts)
	}

	// What cannot go together.
	if e.DHCP != nil && *e.DHCP && len(e.Addresses) > 0 {
		v.bad(path+".dhcp", "dhcp and static addresses together: choose one")
	}
	if e.Bond != "" && e.Bridge != "" {
		v.bad(path+".bridge", "a link goes in one bond or one bridge, not both")
	}
	if e.Slave() {
		sp := path + ".bond"
		if e.Bond == "" {
			sp = path + ".bridge"
		}
		switch {
		case len(e.Addresses) > 0:
			v.bad(sp, "an enslaved link has no addresses of its own: configure them on its master")
		case e.DHCP != nil && *e.DHCP:
			v.bad(sp, "an enslaved link has no DHCP of its own: configure it on its master")
		}
	}
	if e.Gateway.IsValid() && !slices.ContainsFunc(e.Addresses, func(a netip.Prefix) bool { return a.Addr().Is4() }) {
		v.bad(path+".gateway", "a gateway needs an IPv4 address in addresses")
	}
	if e.Gateway6.IsValid() && !slices.ContainsFunc(e.Addresses, func(a netip.Prefix) bool { return a.Addr().Is6() }) {
		v.bad(path+".gateway_ipv6", "an IPv6 gateway needs an IPv6 address in addresses")
	}
	return e
}

// master checks the name of a bond or bridge.
func (v *validator) master(path, key, s string) string {
	switch {
	case s == "":
	case !ValidLinkName(s) || s == "lo":
		v.bad(path, "%q is not an interface name", s)
		return ""
	case s == key:
		v.bad(path, "a link cannot be enslaved to itself")
		return ""
	}
	return s
}

// bondOpts checks bond_opts and returns them canonical: option names in
// lower case with underscores, values as bondOptions makes them.
func (v *validator) bondOpts(path string, opts BondOptions) map[string]string {
	out := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		op := strictyaml.Join(path, k)
		name := strings.ReplaceAll(strings.ToLower(k), "-", "_")
		check, known := bondOptions[name]
		if !known {
			v.bad(op, "unknown bond option (supported: %s)", strings.Join(slices.Sorted(maps.Keys(bondOptions)), ", "))
			continue
		}
		s := strings.TrimSpace(string(opts[k]))
		canon, ok := check(s)
		if !ok {
			v.bad(op, "%q is not a valid %s", s, name)
			continue
		}
		out[name] = canon
	}
	return out
}

// links checks what entries say of each other: a name is a bond or a
// bridge, not both; bonds go in bridges at most; bridges go nowhere.
func (v *validator) links(c *Config) {
	bonds, bridges := map[string]string{}, map[string]string{}
	for _, key := range slices.Sorted(maps.Keys(c.Interfaces)) {
		e := c.Interfaces[key]
		path := strictyaml.Join("interfaces", key)
		if e.Bond != "" {
			if by, ok := bridges[e.Bond]; ok {
				v.bad(path+".bond", "%s is a bridge (%s)", e.Bond, by)
			} else if _, ok := bonds[e.Bond]; !ok {
				bonds[e.Bond] = path + ".bond"
			}
		}
		if e.Bridge != "" {
			if by, ok := bonds[e.Bridge]; ok {
				v.bad(path+".bridge", "%s is a bond (%s)", e.Bridge, by)
			} else if _, ok := bridges[e.Bridge]; !ok {
				bridges[e.Bridge] = path + ".bridge"
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(c.Interfaces)) {
		e := c.Interfaces[key]
		path := strictyaml.Join("interfaces", key)
		_, isBond := bonds[key]
		_, isBridge := bridges[key]
		if e.BondOpts != nil {
			switch {
			case strings.HasPrefix(key, "mac="):
				v.bad(path+".bond_opts", "a bond is named by its name, not by mac=")
			case isBridge:
				v.bad(path+".bond_opts", "%s is a bridge (%s)", key, bridges[key])
			}
		}
		if isBond && e.Bond != "" {
			v.bad(path+".bond", "%s is a bond (%s): bonds do not go in bonds", key, bonds[key])
		}
		if isBridge && e.Slave() {
			sp := path + ".bond"
			if e.Bond == "" {
				sp = path + ".bridge"
			}
			v.bad(sp, "%s is a bridge (%s): bridges are not enslaved", key, bridges[key])
		}
	}
}

// ValidDomain accepts what may stand in a resolv.conf search line: dotted
// labels of letters, digits, hyphens and underscores. Anything else from a
// server (spaces, newlines) could inject resolver options, so it is dropped.
func ValidDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			default:
				return false
			}
		}
	}
	return true
}
