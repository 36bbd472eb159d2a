package cloudconfig

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-os/berth/internal/pattern"
	"go.yaml.in/yaml/v3"

	"github.com/berth-os/berth/internal/netconfig"
	"github.com/berth-os/berth/internal/strictyaml"
)

// FromNetworkConfig turns cloud-init network configuration (the
// network-config file of a NoCloud seed: version 1, or version 2, which is
// netplan's format) into a berth.network tree. The file is decoded
// strictly into the types of netplan_v1.go and netplan_v2.go, except that a
// key Berth does not know is a warning. What Berth cannot do (renaming
// links, routes other than default, DHCPv6 options...) is left out with a
// warning too, so that generic templates still give a network. The tree is
// validated with the rest of the layer.
func FromNetworkConfig(data []byte) (map[string]any, []string, error) {
	doc, err := strictyaml.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("network-config: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("network-config: expected a map, got %s", strictyaml.Describe(root))
	}
	if inner := valueOf(root, "network"); inner != nil && inner.Kind == yaml.MappingNode {
		root = inner
	}
	if len(root.Content) == 0 {
		return nil, nil, nil
	}
	c := &netConv{ifaces: map[string]*netconfig.Interface{}}
	c.dc = strictyaml.Decoder{Ignore: c.ignore}
	switch v := versionOf(root); v {
	case "1":
		var d v1Doc
		c.decode(root, "", &d)
		c.v1(&d)
	case "2":
		var d v2Doc
		c.decode(root, "", &d)
		c.v2(&d)
	default:
		return nil, nil, fmt.Errorf("network-config: version: expected 1 or 2, got %s", v)
	}
	if len(c.errs) > 0 {
		return nil, c.warnings, fmt.Errorf("network-config: %s", strings.Join(c.errs, "; "))
	}
	tree, err := c.tree()
	if err != nil {
		return nil, c.warnings, fmt.Errorf("network-config: %w", err)
	}
	return tree, c.warnings, nil
}

// valueOf is the value of key in a mapping node, or nil.
func valueOf(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// versionOf is the version a network-config document says it is.
func versionOf(root *yaml.Node) string {
	v := valueOf(root, "version")
	switch {
	case v == nil || v.Tag == "!!null":
		return "nothing"
	case v.Kind != yaml.ScalarNode:
		return strictyaml.Describe(v)
	}
	// 2.0 is 2, as it always was.
	if f, err := strconv.ParseFloat(v.Value, 64); err == nil && (f == 1 || f == 2) {
		return strconv.Itoa(int(f))
	}
	return v.Value
}

// netConv gathers the berth.network a document converts to, with the
// warnings and errors on the way.
type netConv struct {
	dc          strictyaml.Decoder
	ifaces      map[string]*netconfig.Interface
	nameservers []string
	search      []string
	warnings    []string
	errs        []string
}

// uncheckedRe matches the field paths of netplan's routes and name
// servers: Berth reads what it uses there and has never warned about the
// rest.
var uncheckedRe = pattern.New(`\.routes\[[0-9]+\]$|\.nameservers$`)

// ignore makes the keys the types do not have warnings.
func (c *netConv) ignore(path, key string) string {
	if !uncheckedRe.MatchString(path) {
		if path == "" {
			path = "network"
		}
		c.warn(strictyaml.Join(path, key), "not supported, ignored")
	}
	return "not supported, ignored"
}

// decode decodes the node at path into v, keeping the errors.
func (c *netConv) decode(n *yaml.Node, path string, v any) {
	if es, ok := c.dc.DecodeNodeAt(n, path, v).(strictyaml.Errors); ok {
		for _, e := range es {
			c.errs = append(c.errs, fmt.Sprintf("%s: %s", e.Path, e.Msg))
		}
	}
}

func (c *netConv) warn(path, format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf("network-config: %s: %s", path, fmt.Sprintf(format, args...)))
}

func (c *netConv) bad(path, format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// iface is the entry of a link, made when first named.
func (c *netConv) iface(key string) *netconfig.Interface {
	e, ok := c.ifaces[key]
	if !ok {
		e = &netconfig.Interface{}
		c.ifaces[key] = e
	}
	return e
}

// enslaved says whether the entry is a port of a bond or bridge, which has
// no settings of its own.
func enslaved(e *netconfig.Interface) bool { return e.Bond != "" || e.Bridge != "" }

// tree is the berth.network converted, as a tree for a layer.
func (c *netConv) tree() (map[string]any, error) {
	n := netconfig.Network{DNS: netconfig.DNS{Nameservers: c.nameservers, Search: c.search}}
	if len(c.ifaces) > 0 {
		n.Interfaces = map[string]netconfig.Interface{}
		for k, e := range c.ifaces {
			n.Interfaces[k] = *e
		}
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return nil, err
	}
	tree := map[string]any{}
	if err := yaml.Unmarshal(b, &tree); err != nil {
		return nil, err
	}
	return tree, nil
}

func (c *netConv) addDNS(servers, search []string) {
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

// bondParams turns bond parameters into bond_opts, by the names table; the
// others are warnings.
func (c *netConv) bondParams(path string, params map[string]any, names map[string]string) netconfig.BondOptions {
	out := netconfig.BondOptions{}
	for _, k := range sortedKeys(params) {
		name, ok := names[k]
		if !ok {
			c.warn(strictyaml.Join(path, k), "not supported, ignored")
			continue
		}
		out[name] = strictyaml.Scalar(fmt.Sprint(params[k]))
	}
	return out
}

// vlan adds VLAN id to the vlans of its parent link (named by its id in
// the file, through keys) and returns the key of the VLAN link's own entry.
// A parent matched by MAC address has no name to form the VLAN link's
// name from: the VLAN is made but gets DHCP (a warning when it says more).
func (c *netConv) vlan(path, idField string, id *vlanID, link string, keys map[string]string, settings bool) (string, bool) {
	if id == nil {
		c.bad(path+"."+idField, "expected a VLAN id, got nothing")
		return "", false
	}
	pk := linkKey(keys, link)
	parent := c.iface(pk)
	parent.VLANs = append(parent.VLANs, int(*id))
	if strings.HasPrefix(pk, "mac=") {
		if settings {
			c.warn(path, "a VLAN on a link matched by MAC address gets DHCP: its settings need the link's name")
		}
		return "", false
	}
	return netconfig.VLANName(pk, int(*id)), true
}

// linkKey is the berth.network key of a link the file names by its id.
func linkKey(keys map[string]string, id string) string {
	if k, ok := keys[id]; ok {
		return k
	}
	return id
}

// enslave puts the ports in the bond or bridge master.
func (c *netConv) enslave(keys map[string]string, ports []string, bridge bool, master string) {
	for _, port := range ports {
		p := c.iface(linkKey(keys, port))
		if bridge {
			p.Bridge = master
		} else {
			p.Bond = master
		}
		// A port carries no addresses of its own (netplan's own examples
		// give some): they are left out, not the whole file.
		if len(p.Addresses) > 0 || p.Gateway != "" || p.GatewayIPv6 != "" || (p.DHCP != nil && *p.DHCP) || (p.DHCP6 != nil && *p.DHCP6) {
			c.warn(port, "addresses, DHCP and gateways of a port of %s are ignored: set them on %s", master, master)
		}
		p.Addresses, p.Gateway, p.GatewayIPv6, p.DHCP, p.DHCP6 = nil, "", "", nil, nil
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

// oneOrMore is a list of values that may also be written as one value.
type oneOrMore []string

func (oneOrMore) Expected() string { return "a value or a list of values" }

func (l *oneOrMore) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = oneOrMore{n.Value}
		return nil
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("expected %s, got %s in the list", l.Expected(), strictyaml.Describe(item))
			}
			*l = append(*l, item.Value)
		}
		return nil
	}
	return fmt.Errorf("expected %s, got %s", l.Expected(), strictyaml.Describe(n))
}

// flag is a boolean as netplan writes them: true or false, or yes, no, on
// and off.
type flag bool

func (flag) Expected() string { return "true or false" }

func (f *flag) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true", "yes", "on":
			*f = true
			return nil
		case "false", "no", "off":
			*f = false
			return nil
		}
	}
	return fmt.Errorf("expected %s, got %s", f.Expected(), strictyaml.Describe(n))
}

// vlanID is a VLAN id, a number that may be written as a string. Its range
// is checked with the rest of berth.network.
type vlanID int

func (vlanID) Expected() string { return "a VLAN id" }

func (id *vlanID) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected %s, got %s", id.Expected(), strictyaml.Describe(n))
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		return fmt.Errorf("expected %s, got %s", id.Expected(), n.Value)
	}
	*id = vlanID(v)
	return nil
}
