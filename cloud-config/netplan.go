package cloudconfig

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FromNetworkConfig turns cloud-init network configuration (the
// network-config file of a NoCloud seed: version 1, or version 2, which is
// netplan's format) into a berth.network tree. What Berth cannot do
// (renaming links, routes other than default, DHCPv6 options...) is left
// out with a warning, so that generic templates still give a network. The
// tree is validated with the rest of the layer.
func FromNetworkConfig(data []byte) (map[string]any, []string, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("network-config: %w", err)
	}
	if inner, ok := doc["network"].(map[string]any); ok {
		doc = inner
	}
	if len(doc) == 0 {
		return nil, nil, nil
	}
	c := &netConv{ifaces: map[string]map[string]any{}}
	switch v := fmt.Sprint(doc["version"]); v {
	case "1":
		c.v1(doc)
	case "2":
		c.v2(doc)
	default:
		return nil, nil, fmt.Errorf("network-config: version: expected 1 or 2, got %s", v)
	}
	if len(c.errs) > 0 {
		return nil, c.warnings, fmt.Errorf("network-config: %s", strings.Join(c.errs, "; "))
	}
	return c.tree(), c.warnings, nil
}

type netConv struct {
	ifaces      map[string]map[string]any
	nameservers []any
	search      []any
	warnings    []string
	errs        []string
}

func (c *netConv) warn(path, format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf("network-config: %s: %s", path, fmt.Sprintf(format, args...)))
}

func (c *netConv) bad(path, format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func (c *netConv) iface(key string) map[string]any {
	e, ok := c.ifaces[key]
	if !ok {
		e = map[string]any{}
		c.ifaces[key] = e
	}
	return e
}

func (c *netConv) tree() map[string]any {
	n := map[string]any{}
	if len(c.ifaces) > 0 {
		ifaces := map[string]any{}
		for k, v := range c.ifaces {
			ifaces[k] = v
		}
		n["interfaces"] = ifaces
	}
	dns := map[string]any{}
	if len(c.nameservers) > 0 {
		dns["nameservers"] = c.nameservers
	}
	if len(c.search) > 0 {
		dns["search"] = c.search
	}
	if len(dns) > 0 {
		n["dns"] = dns
	}
	return n
}

func (c *netConv) addDNS(servers, search []any) {
	for _, s := range servers {
		if !slices.Contains(c.nameservers, s) {
			c.nameservers = append(c.nameservers, s)
		}
	}
	for _, s := range search {
		if !slices.Contains(c.search, s) {
			c.search = append(c.search, s)
		}
	}
}

func list(v any) []any {
	switch v := v.(type) {
	case []any:
		return v
	case nil:
		return nil
	}
	return []any{v}
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// known warns about the keys of m that are not in keys.
func (c *netConv) known(path string, m map[string]any, keys ...string) {
	for k := range m {
		if !slices.Contains(keys, k) {
			c.warn(path+"."+k, "not supported, ignored")
		}
	}
}

// --- version 2 (netplan) ---

var v2Common = []string{"dhcp4", "dhcp6", "addresses", "gateway4", "gateway6", "routes", "mtu", "nameservers", "match", "set-name", "critical", "optional"}

func (c *netConv) v2(doc map[string]any) {
	c.known("network", doc, "version", "ethernets", "vlans", "bonds", "bridges", "renderer")
	// ids name links; a link matched by MAC is keyed mac=.
	keys := map[string]string{}
	eths := mapOf(doc["ethernets"])
	for _, id := range sortedKeys(eths) {
		e := mapOf(eths[id])
		path := "ethernets." + id
		key := id
		if m := mapOf(e["match"]); m != nil {
			c.known(path+".match", m, "macaddress", "name", "driver")
			switch {
			case m["macaddress"] != nil:
				key = "mac=" + strings.ToLower(fmt.Sprint(m["macaddress"]))
			case m["name"] != nil && !strings.ContainsAny(fmt.Sprint(m["name"]), "*?["):
				key = fmt.Sprint(m["name"])
			default:
				c.warn(path+".match", "only macaddress or an exact name can be matched; %s taken as the link's name", id)
			}
		}
		if e["set-name"] != nil {
			c.warn(path+".set-name", "Berth does not rename links; the link keeps its kernel name")
		}
		keys[id] = key
		c.v2Link(path, key, e, false)
	}
	for _, kind := range []string{"bonds", "bridges"} {
		ms := mapOf(doc[kind])
		for _, name := range sortedKeys(ms) {
			e := mapOf(ms[name])
			path := kind + "." + name
			keys[name] = name
			c.enslave(keys, e["interfaces"], map[string]string{"bonds": "bond", "bridges": "bridge"}[kind], name)
			if kind == "bonds" {
				if params := mapOf(e["parameters"]); params != nil {
					c.iface(name)["bond_opts"] = c.bondParams(path+".parameters", params, map[string]string{
						"mode": "mode", "mii-monitor-interval": "miimon", "lacp-rate": "lacp_rate",
						"transmit-hash-policy": "xmit_hash_policy", "up-delay": "updelay", "down-delay": "downdelay", "min-links": "min_links",
					})
				}
			} else if e["parameters"] != nil {
				c.warn(path+".parameters", "bridge parameters are not supported, ignored")
			}
			c.v2Link(path, name, e, true)
		}
	}
	vlans := mapOf(doc["vlans"])
	for _, name := range sortedKeys(vlans) {
		e := mapOf(vlans[name])
		path := "vlans." + name
		if key, ok := c.vlan(path, "id", e["id"], e["link"], keys, len(e) > 2); ok {
			c.v2Link(path, key, e, true)
		}
	}
}

// v2Link converts the settings every netplan link has.
func (c *netConv) v2Link(path, key string, e map[string]any, virtual bool) {
	known := append([]string{}, v2Common...)
	if virtual {
		known = append(known, "interfaces", "parameters", "id", "link")
	}
	c.known(path, e, known...)
	entry := c.iface(key)
	if _, enslaved := entry["bond"]; enslaved {
		return
	}
	if _, enslaved := entry["bridge"]; enslaved {
		return
	}
	addrs := list(e["addresses"])
	if len(addrs) > 0 {
		entry["addresses"] = addrs
	}
	switch dhcp := e["dhcp4"]; {
	case dhcp == true || dhcp == "yes" || dhcp == "true":
		entry["dhcp"] = true
	case len(addrs) == 0:
		entry["dhcp"] = false
	}
	if e["dhcp6"] == true {
		entry["dhcp6"] = true
	}
	if g := e["gateway4"]; g != nil {
		entry["gateway"] = g
	}
	if g := e["gateway6"]; g != nil {
		entry["gateway_ipv6"] = g
	}
	for i, r := range list(e["routes"]) {
		rm := mapOf(r)
		to := fmt.Sprint(rm["to"])
		via := rm["via"]
		switch {
		case via != nil && (to == "default" || to == "0.0.0.0/0"):
			entry["gateway"] = via
		case via != nil && to == "::/0":
			entry["gateway_ipv6"] = via
		default:
			c.warn(fmt.Sprintf("%s.routes[%d]", path, i), "only default routes are supported, ignored")
		}
	}
	if m := e["mtu"]; m != nil {
		entry["mtu"] = m
	}
	if ns := mapOf(e["nameservers"]); ns != nil {
		c.addDNS(list(ns["addresses"]), list(ns["search"]))
	}
}

func (c *netConv) bondParams(path string, params map[string]any, names map[string]string) map[string]any {
	out := map[string]any{}
	for _, k := range sortedKeys(params) {
		name, ok := names[k]
		if !ok {
			c.warn(path+"."+k, "not supported, ignored")
			continue
		}
		out[name] = fmt.Sprint(params[k])
	}
	return out
}

// --- version 1 ---

func (c *netConv) v1(doc map[string]any) {
	c.known("network", doc, "version", "config")
	keys := map[string]string{}
	items := list(doc["config"])
	// Physical links first, so that the others can name them.
	for i, it := range items {
		m := mapOf(it)
		if m["type"] != "physical" {
			continue
		}
		name := fmt.Sprint(m["name"])
		key := name
		if mac := m["mac_address"]; mac != nil {
			key = "mac=" + strings.ToLower(fmt.Sprint(mac))
		}
		keys[name] = key
		c.v1Link(fmt.Sprintf("config[%d]", i), key, m, "type", "name", "mac_address", "mtu", "subnets")
	}
	for i, it := range items {
		m := mapOf(it)
		path := fmt.Sprintf("config[%d]", i)
		name := fmt.Sprint(m["name"])
		switch m["type"] {
		case "physical":
		case "nameserver":
			c.known(path, m, "type", "address", "search")
			c.addDNS(list(m["address"]), list(m["search"]))
		case "bond", "bridge":
			kind := m["type"].(string)
			keys[name] = name
			c.enslave(keys, m[kind+"_interfaces"], kind, name)
			if params := mapOf(m["params"]); params != nil {
				if kind == "bond" {
					c.iface(name)["bond_opts"] = c.bondParams(path+".params", params, map[string]string{
						"bond-mode": "mode", "bond-miimon": "miimon", "bond-lacp-rate": "lacp_rate",
						"bond-xmit-hash-policy": "xmit_hash_policy", "bond-updelay": "updelay", "bond-downdelay": "downdelay", "bond-min-links": "min_links",
					})
				} else {
					c.warn(path+".params", "bridge parameters are not supported, ignored")
				}
			}
			c.v1Link(path, name, m, "type", "name", "mtu", "subnets", kind+"_interfaces", "params", "mac_address")
		case "vlan":
			key, ok := c.vlan(path, "vlan_id", m["vlan_id"], m["vlan_link"], keys, true)
			if !ok {
				continue
			}
			c.v1Link(path, key, m, "type", "name", "mtu", "subnets", "vlan_link", "vlan_id")
		default:
			c.warn(path+".type", "%v is not supported, ignored", m["type"])
		}
	}
}

func (c *netConv) v1Link(path, key string, m map[string]any, keys ...string) {
	c.known(path, m, keys...)
	entry := c.iface(key)
	if mtu := m["mtu"]; mtu != nil {
		entry["mtu"] = mtu
	}
	if _, enslaved := entry["bond"]; enslaved {
		return
	}
	if _, enslaved := entry["bridge"]; enslaved {
		return
	}
	var addrs []any
	dhcp := false
	for i, s := range list(m["subnets"]) {
		sm := mapOf(s)
		sp := fmt.Sprintf("%s.subnets[%d]", path, i)
		c.known(sp, sm, "type", "address", "netmask", "gateway", "dns_nameservers", "dns_search", "control")
		switch sm["type"] {
		case "dhcp", "dhcp4":
			dhcp = true
		case "dhcp6", "ipv6_dhcpv6-stateful", "ipv6_slaac":
			entry["dhcp6"] = true
		case "static", "static6":
			a := fmt.Sprint(sm["address"])
			if mask := sm["netmask"]; mask != nil && !strings.Contains(a, "/") {
				bits, err := maskBits(fmt.Sprint(mask))
				if err != nil {
					c.bad(sp+".netmask", "%v", err)
					continue
				}
				a += "/" + strconv.Itoa(bits)
			}
			addrs = append(addrs, a)
			if g := sm["gateway"]; g != nil {
				if ip, err := netip.ParseAddr(fmt.Sprint(g)); err == nil && ip.Is6() {
					entry["gateway_ipv6"] = g
				} else {
					entry["gateway"] = g
				}
			}
		default:
			c.warn(sp+".type", "%v is not supported, ignored", sm["type"])
		}
		c.addDNS(list(sm["dns_nameservers"]), list(sm["dns_search"]))
	}
	if len(addrs) > 0 {
		entry["addresses"] = addrs
	}
	if dhcp && len(addrs) == 0 {
		entry["dhcp"] = true
	} else if !dhcp && len(addrs) == 0 {
		entry["dhcp"] = false
	}
}

// vlan adds VLAN id to the vlans of its parent link (named by its id in
// the file, through keys) and returns the key of the VLAN link's own entry.
// A parent matched by MAC address has no name to form the VLAN link's
// name from: the VLAN is made but gets DHCP (a warning when it says more).
func (c *netConv) vlan(path, idField string, idVal, link any, keys map[string]string, settings bool) (string, bool) {
	id, err := strconv.Atoi(fmt.Sprint(idVal))
	if err != nil {
		c.bad(path+"."+idField, "expected a VLAN id, got %v", idVal)
		return "", false
	}
	pk := c.linkKey(keys, link)
	parent := c.iface(pk)
	parent["vlans"] = append(list(parent["vlans"]), id)
	if strings.HasPrefix(pk, "mac=") {
		if settings {
			c.warn(path, "a VLAN on a link matched by MAC address gets DHCP: its settings need the link's name")
		}
		return "", false
	}
	return pk + "." + strconv.Itoa(id), true
}

// linkKey is the berth.network key of a link the file names by its id.
func (c *netConv) linkKey(keys map[string]string, id any) string {
	if k, ok := keys[fmt.Sprint(id)]; ok {
		return k
	}
	return fmt.Sprint(id)
}

// enslave puts the ports in the bond or bridge (field "bond" or "bridge").
func (c *netConv) enslave(keys map[string]string, ports any, field, master string) {
	for _, port := range list(ports) {
		p := c.iface(c.linkKey(keys, port))
		p[field] = master
		delete(p, "dhcp")
	}
}

// maskBits is the prefix length of a dotted netmask or a number.
func maskBits(mask string) (int, error) {
	if n, err := strconv.Atoi(mask); err == nil {
		return n, nil
	}
	a, err := netip.ParseAddr(mask)
	if err != nil || !a.Is4() {
		return 0, fmt.Errorf("%q is not a netmask", mask)
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := 0
	for v&(1<<31) != 0 {
		ones++
		v <<= 1
	}
	if v != 0 {
		return 0, fmt.Errorf("%q is not a netmask", mask)
	}
	return ones, nil
}
