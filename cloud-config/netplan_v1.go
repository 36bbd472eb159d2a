package cloudconfig

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/berth-os/berth/internal/strictyaml"
)

// v1Doc is network-config version 1: a list of items, each of the type
// its type field names (v1Physical, v1Bond...), decoded once that is known.
type v1Doc struct {
	Version any      `yaml:"version"`
	Config  []v1Item `yaml:"config"`
}

// v1Item is one item of config, as it stands in the document.
type v1Item struct{ node *yaml.Node }

func (it *v1Item) UnmarshalYAML(n *yaml.Node) error {
	it.node = n
	return nil
}

// kind is the item's type field.
func (it v1Item) kind() string {
	if it.node == nil || it.node.Kind != yaml.MappingNode {
		return ""
	}
	if t := valueOf(it.node, "type"); t != nil && t.Kind == yaml.ScalarNode {
		return t.Value
	}
	return ""
}

// v1Link is what every link item may say.
type v1Link struct {
	Type    string     `yaml:"type"`
	Name    string     `yaml:"name"`
	MTU     int        `yaml:"mtu"`
	Subnets []v1Subnet `yaml:"subnets"`
}

type v1Physical struct {
	Link       v1Link `yaml:",inline"`
	MACAddress string `yaml:"mac_address"`
}

type v1Bond struct {
	Link       v1Link         `yaml:",inline"`
	Interfaces oneOrMore      `yaml:"bond_interfaces"`
	Params     map[string]any `yaml:"params"`
	MACAddress string         `yaml:"mac_address"`
}

type v1Bridge struct {
	Link       v1Link         `yaml:",inline"`
	Interfaces oneOrMore      `yaml:"bridge_interfaces"`
	Params     map[string]any `yaml:"params"`
	MACAddress string         `yaml:"mac_address"`
}

type v1VLAN struct {
	Link     v1Link  `yaml:",inline"`
	VLANLink string  `yaml:"vlan_link"`
	VLANID   *vlanID `yaml:"vlan_id"`
}

type v1Nameserver struct {
	Type    string    `yaml:"type"`
	Address oneOrMore `yaml:"address"`
	Search  oneOrMore `yaml:"search"`
}

// v1Subnet is one entry of subnets. Control is known and means nothing to
// Berth.
type v1Subnet struct {
	Type           string            `yaml:"type"`
	Address        string            `yaml:"address"`
	Netmask        strictyaml.Scalar `yaml:"netmask"`
	Gateway        string            `yaml:"gateway"`
	DNSNameservers oneOrMore         `yaml:"dns_nameservers"`
	DNSSearch      oneOrMore         `yaml:"dns_search"`
	Control        any               `yaml:"control"`
}

// v1BondParams are version 1's names of the bond options Berth sets.
var v1BondParams = map[string]string{
	"bond-mode": "mode", "bond-miimon": "miimon", "bond-lacp-rate": "lacp_rate",
	"bond-xmit-hash-policy": "xmit_hash_policy", "bond-updelay": "updelay", "bond-downdelay": "downdelay", "bond-min-links": "min_links",
}

func (c *netConv) v1(d *v1Doc) {
	keys := map[string]string{}
	// Physical links first, so that the others can name them.
	for i, it := range d.Config {
		if it.kind() != "physical" {
			continue
		}
		path := fmt.Sprintf("config[%d]", i)
		var p v1Physical
		c.decode(it.node, path, &p)
		key := p.Link.Name
		if p.MACAddress != "" {
			key = "mac=" + strings.ToLower(p.MACAddress)
		}
		keys[p.Link.Name] = key
		c.v1Link(path, key, &p.Link)
	}
	for i, it := range d.Config {
		path := fmt.Sprintf("config[%d]", i)
		switch kind := it.kind(); kind {
		case "physical":
		case "nameserver":
			var ns v1Nameserver
			c.decode(it.node, path, &ns)
			c.addDNS(ns.Address, ns.Search)
		case "bond":
			var b v1Bond
			c.decode(it.node, path, &b)
			c.v1Master(path, keys, &b.Link, b.Interfaces, b.Params, false)
		case "bridge":
			var b v1Bridge
			c.decode(it.node, path, &b)
			c.v1Master(path, keys, &b.Link, b.Interfaces, b.Params, true)
		case "vlan":
			var v v1VLAN
			c.decode(it.node, path, &v)
			if key, ok := c.vlan(path, "vlan_id", v.VLANID, v.VLANLink, keys, true); ok {
				c.v1Link(path, key, &v.Link)
			}
		case "":
			c.warn(path, "an item without a type is not supported, ignored")
		default:
			c.warn(path+".type", "%s is not supported, ignored", kind)
		}
	}
}

// v1Master converts a bond or a bridge with its ports.
func (c *netConv) v1Master(path string, keys map[string]string, l *v1Link, ports []string, params map[string]any, bridge bool) {
	keys[l.Name] = l.Name
	c.enslave(keys, ports, bridge, l.Name)
	switch {
	case !bridge && params != nil:
		c.iface(l.Name).BondOpts = c.bondParams(path+".params", params, v1BondParams)
	case bridge && params != nil:
		c.warn(path+".params", "bridge parameters are not supported, ignored")
	}
	c.v1Link(path, l.Name, l)
}

// v1Link converts the settings every link item has.
func (c *netConv) v1Link(path, key string, l *v1Link) {
	entry := c.iface(key)
	if l.MTU != 0 {
		entry.MTU = l.MTU
	}
	if enslaved(entry) {
		return
	}
	var addrs []string
	dhcp := false
	for i, s := range l.Subnets {
		sp := fmt.Sprintf("%s.subnets[%d]", path, i)
		switch s.Type {
		case "dhcp", "dhcp4":
			dhcp = true
		case "dhcp6", "ipv6_dhcpv6-stateful", "ipv6_slaac":
			entry.DHCP6 = ptr(true)
		case "static", "static6":
			a := s.Address
			if s.Netmask != "" && !strings.Contains(a, "/") {
				bits, err := maskBits(string(s.Netmask))
				if err != nil {
					c.bad(sp+".netmask", "%v", err)
					continue
				}
				a += "/" + strconv.Itoa(bits)
			}
			addrs = append(addrs, a)
			if g := s.Gateway; g != "" {
				if ip, err := netip.ParseAddr(g); err == nil && ip.Is6() {
					entry.GatewayIPv6 = g
				} else {
					entry.Gateway = g
				}
			}
		default:
			c.warn(sp+".type", "%s is not supported, ignored", s.Type)
		}
		c.addDNS(s.DNSNameservers, s.DNSSearch)
	}
	if len(addrs) > 0 {
		entry.Addresses = addrs
	}
	if len(addrs) == 0 {
		entry.DHCP = ptr(dhcp)
	}
}
