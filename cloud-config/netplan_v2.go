package cloudconfig

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/berth-os/berth/internal/strictyaml"
)

// v2Doc is network-config version 2, netplan's format.
type v2Doc struct {
	Version   any                  `yaml:"version"`
	Renderer  any                  `yaml:"renderer"`
	Ethernets map[string]v2Link    `yaml:"ethernets"`
	Bonds     map[string]v2Virtual `yaml:"bonds"`
	Bridges   map[string]v2Virtual `yaml:"bridges"`
	VLANs     map[string]v2Virtual `yaml:"vlans"`
}

// v2Link is what every netplan link may say. Critical and Optional are
// known and mean nothing to Berth.
type v2Link struct {
	DHCP4       flag          `yaml:"dhcp4"`
	DHCP6       flag          `yaml:"dhcp6"`
	Addresses   oneOrMore     `yaml:"addresses"`
	Gateway4    string        `yaml:"gateway4"`
	Gateway6    string        `yaml:"gateway6"`
	Routes      []v2Route     `yaml:"routes"`
	MTU         int           `yaml:"mtu"`
	Nameservers v2Nameservers `yaml:"nameservers"`
	Match       *v2Match      `yaml:"match"`
	SetName     string        `yaml:"set-name"`
	Critical    any           `yaml:"critical"`
	Optional    any           `yaml:"optional"`
}

// v2Virtual is a bond, a bridge or a VLAN: a link Berth makes.
type v2Virtual struct {
	Common     v2Link         `yaml:",inline"`
	Interfaces oneOrMore      `yaml:"interfaces"`
	Parameters map[string]any `yaml:"parameters"`
	ID         *vlanID        `yaml:"id"`   // a VLAN's
	Link       string         `yaml:"link"` // a VLAN's parent
}

type v2Route struct {
	To  string `yaml:"to"`
	Via string `yaml:"via"`
}

type v2Nameservers struct {
	Addresses oneOrMore `yaml:"addresses"`
	Search    oneOrMore `yaml:"search"`
}

type v2Match struct {
	MACAddress string `yaml:"macaddress"`
	Name       string `yaml:"name"`
	Driver     any    `yaml:"driver"`
}

// v2BondParams are netplan's names of the bond options Berth sets.
var v2BondParams = map[string]string{
	"mode": "mode", "mii-monitor-interval": "miimon", "lacp-rate": "lacp_rate",
	"transmit-hash-policy": "xmit_hash_policy", "up-delay": "updelay", "down-delay": "downdelay", "min-links": "min_links",
}

func (c *netConv) v2(d *v2Doc) {
	// ids name links; a link matched by MAC is keyed mac=.
	keys := map[string]string{}
	for _, id := range slices.Sorted(maps.Keys(d.Ethernets)) {
		e := d.Ethernets[id]
		path := strictyaml.Join("ethernets", id)
		key := id
		if m := e.Match; m != nil {
			switch {
			case m.MACAddress != "":
				key = "mac=" + strings.ToLower(m.MACAddress)
			case m.Name != "" && !strings.ContainsAny(m.Name, "*?["):
				key = m.Name
			default:
				c.warn(path+".match", "only macaddress or an exact name can be matched; %s taken as the link's name", id)
			}
		}
		if e.SetName != "" {
			c.warn(path+".set-name", "Berth does not rename links; the link keeps its kernel name")
		}
		keys[id] = key
		c.v2Link(path, key, &e)
	}
	for _, bridge := range []bool{false, true} {
		kind, links := "bonds", d.Bonds
		if bridge {
			kind, links = "bridges", d.Bridges
		}
		for _, name := range slices.Sorted(maps.Keys(links)) {
			e := links[name]
			path := strictyaml.Join(kind, name)
			keys[name] = name
			c.enslave(keys, e.Interfaces, bridge, name)
			switch {
			case !bridge && e.Parameters != nil:
				c.iface(name).BondOpts = c.bondParams(path+".parameters", e.Parameters, v2BondParams)
			case bridge && e.Parameters != nil:
				c.warn(path+".parameters", "bridge parameters are not supported, ignored")
			}
			c.v2Link(path, name, &e.Common)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(d.VLANs)) {
		e := d.VLANs[name]
		path := strictyaml.Join("vlans", name)
		settings := !reflect.ValueOf(e.Common).IsZero() || e.Interfaces != nil || e.Parameters != nil
		if key, ok := c.vlan(path, "id", e.ID, e.Link, keys, settings); ok {
			c.v2Link(path, key, &e.Common)
		}
	}
}

// v2Link converts the settings every netplan link has.
func (c *netConv) v2Link(path, key string, e *v2Link) {
	entry := c.iface(key)
	if enslaved(entry) {
		return
	}
	for i, a := range e.Addresses {
		// cloud-init also takes address/netmask.
		if ip, mask, ok := strings.Cut(a, "/"); ok && strings.Contains(mask, ".") {
			if bits, err := maskBits(mask); err == nil {
				a = fmt.Sprintf("%s/%d", ip, bits)
			} else {
				c.bad(fmt.Sprintf("%s.addresses[%d]", path, i), "%v", err)
			}
		}
		entry.Addresses = append(entry.Addresses, a)
	}
	switch {
	case bool(e.DHCP4):
		entry.DHCP = ptr(true)
	case len(e.Addresses) == 0:
		entry.DHCP = ptr(false)
	}
	if e.DHCP6 {
		entry.DHCP6 = ptr(true)
	}
	if e.Gateway4 != "" {
		entry.Gateway = e.Gateway4
	}
	if e.Gateway6 != "" {
		entry.GatewayIPv6 = e.Gateway6
	}
	for i, r := range e.Routes {
		switch {
		case r.Via != "" && (r.To == "default" || r.To == "0.0.0.0/0"):
			entry.Gateway = r.Via
		case r.Via != "" && r.To == "::/0":
			entry.GatewayIPv6 = r.Via
		default:
			c.warn(fmt.Sprintf("%s.routes[%d]", path, i), "only default routes are supported, ignored")
		}
	}
	if e.MTU != 0 {
		entry.MTU = e.MTU
	}
	c.addDNS(e.Nameservers.Addresses, e.Nameservers.Search)
}

func ptr[T any](v T) *T { return &v }
