// Package netconfig is berth.network, the network part of cloud-config, in
// the form PID 1 writes for the network service (JSON) with its checks:
// cloud-config validation and the service use the same ones, so that what
// validates is what the service takes.
package netconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/berth-os/berth/internal/strictyaml"
)

// Config is berth.network as PID 1 writes it for the network service,
// checked and with every value parsed. The zero Config asks for nothing:
// DHCP on every ethernet device, as without a file.
type Config struct {
	// Interfaces are by key: a kernel name or mac=<address> in lower case.
	Interfaces map[string]Iface
	DNS        DNS
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

// DNS is the resolver configuration; each part, when given, replaces
// what the leases say.
type DNS struct {
	Nameservers []netip.Addr
	Search      []string
}

// slave says whether the entry enslaves its link.
func (e Iface) Slave() bool { return e.Bond != "" || e.Bridge != "" }

// static says whether the entry gives its link a fixed configuration
// (maybe without any address) rather than DHCP.
func (e Iface) Static() bool {
	return len(e.Addresses) > 0 || (e.DHCP != nil && !*e.DHCP)
}

// Load reads the configuration file. A file that does not exist is
// the zero config. Warnings are about what the file says that the service
// ignores.
func Load(path string) (*Config, []string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	c, warnings, err := Parse(data)
	if err != nil {
		return nil, warnings, fmt.Errorf("config %s: %w", path, err)
	}
	return c, warnings, nil
}

// summary is how a configuration shows in the log.
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

// Field names. A key of the file matches one of them whatever its case and
// underscores, so that "gateway_ipv6" and "GatewayIPv6" (the Go field name,
// which a plain json.Marshal of the cloud-config schema writes) are one.
var (
	topFields   = []string{"interfaces", "dns"}
	ifaceFields = []string{"dhcp", "dhcp6", "addresses", "gateway", "gateway_ipv6", "mtu", "vlans", "bond", "bond_opts", "bridge"}
	dnsFields   = []string{"nameservers", "search"}
)

var (
	ifaceNameRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,15}$`)
	macKeyRe    = regexp.MustCompile(`(?i)^mac=([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$`)
)

const MaxNameLen = 15 // IFNAMSIZ less the NUL

// Parse parses and checks the JSON of the configuration file. Every
// problem is an error that names the field, such as
// interfaces.eth0.addresses[1]; they are all returned, joined.
func Parse(data []byte) (*Config, []string, error) {
	p := &parser{}
	root, err := decodeJSON(data)
	if err != nil {
		return nil, nil, err
	}
	c := &Config{}
	top := p.object("", root, topFields)
	if v, ok := top["interfaces"]; ok {
		ifaces := p.object("interfaces", v, nil)
		for _, key := range slices.Sorted(maps.Keys(ifaces)) {
			path := strictyaml.Join("interfaces", key)
			norm, ok := p.ifaceKey(path, key)
			if !ok {
				continue
			}
			if c.Interfaces == nil {
				c.Interfaces = map[string]Iface{}
			}
			if _, dup := c.Interfaces[norm]; dup {
				p.bad(path, "the same link as another key: %s", norm)
				continue
			}
			c.Interfaces[norm] = p.iface(path, norm, ifaces[key])
		}
	}
	if v, ok := top["dns"]; ok {
		dns := p.object("dns", v, dnsFields)
		for i, s := range p.strings("dns.nameservers", dns["nameservers"]) {
			path := fmt.Sprintf("dns.nameservers[%d]", i)
			a, err := netip.ParseAddr(s)
			switch {
			case err != nil || a.Zone() != "":
				p.bad(path, "%q is not an IP address", s)
			case slices.Contains(c.DNS.Nameservers, a):
				p.bad(path, "%s given twice", a)
			default:
				c.DNS.Nameservers = append(c.DNS.Nameservers, a)
			}
		}
		for i, s := range p.strings("dns.search", dns["search"]) {
			path := fmt.Sprintf("dns.search[%d]", i)
			s = strings.TrimSuffix(s, ".")
			switch {
			case !ValidDomain(s):
				p.bad(path, "%q is not a domain name", s)
			case slices.Contains(c.DNS.Search, s):
				p.bad(path, "%s given twice", s)
			default:
				c.DNS.Search = append(c.DNS.Search, s)
			}
		}
	}
	p.links(c)
	if len(p.errs) > 0 {
		return nil, p.warnings, errors.Join(p.errs...)
	}
	return c, p.warnings, nil
}

// decodeJSON decodes one JSON value; an empty file is null. Numbers stay
// json.Number so that 1.5 is not taken for an MTU of 1.
func decodeJSON(data []byte) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(data, err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		rest := bytes.TrimLeft(data[end:], " \t\r\n")
		return nil, fmt.Errorf("invalid JSON at %s: more after the value", position(data, int64(len(data)-len(rest))))
	}
	return v, nil
}

func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		// Offset counts the byte that is wrong.
		return fmt.Errorf("invalid JSON at %s: %w", position(data, max(syn.Offset-1, 0)), err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("invalid JSON: the file ends early: %w", err)
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

// position is "line L, column C" of a byte offset.
func position(data []byte, off int64) string {
	off = min(off, int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// fieldKey is a field name without case or underscores.
func fieldKey(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "_", ""))
}

// FieldError is a problem with one field, such as
// interfaces.eth0.addresses[1]. Parse returns them joined.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// FieldErrors returns the field errors in an error of Parse, in order.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if fe, ok := err.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

// parser gathers the problems of a file.
type parser struct {
	errs     []error
	warnings []string
}

func (p *parser) bad(path, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// kind names the JSON type of v for an error.
func kind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return "the number " + v.String()
	case string:
		return strconv.Quote(v)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// object returns the fields of a JSON object, null being an empty one.
// With known field names, the keys come back as those names and any other
// key is a warning: a field that a newer cloud-config may have and this
// service does not know, which must not cost the host its whole network
// configuration.
func (p *parser) object(path string, v any, known []string) map[string]any {
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		p.bad(pathOr(path), "expected an object, got %s", kind(v))
		return nil
	}
	if known == nil {
		return m
	}
	out := map[string]any{}
	given := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		i := slices.IndexFunc(known, func(f string) bool { return fieldKey(f) == fieldKey(k) })
		if i < 0 {
			p.warnings = append(p.warnings, fmt.Sprintf("%s: unknown field, ignored", strictyaml.Join(path, k)))
			continue
		}
		name := known[i]
		if other, dup := given[name]; dup {
			p.bad(strictyaml.Join(path, name), "given twice, as %q and %q", other, k)
			continue
		}
		given[name] = k
		out[name] = m[k]
	}
	return out
}

func pathOr(path string) string {
	if path == "" {
		return "the file"
	}
	return path
}

// str returns a string field; null and absent are "".
func (p *parser) str(path string, v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	}
	p.bad(path, "expected a string, got %s", kind(v))
	return ""
}

// boolean returns a true/false field; null and absent are nil.
func (p *parser) boolean(path string, v any) *bool {
	switch v := v.(type) {
	case nil:
		return nil
	case bool:
		return &v
	}
	p.bad(path, "expected true or false, got %s", kind(v))
	return nil
}

// integer returns a whole-number field; null and absent are 0.
func (p *parser) integer(path string, v any) (int, bool) {
	switch v := v.(type) {
	case nil:
		return 0, true
	case json.Number:
		n, err := strconv.ParseInt(v.String(), 10, 32)
		if err == nil {
			return int(n), true
		}
	}
	p.bad(path, "expected a whole number, got %s", kind(v))
	return 0, false
}

func (p *parser) list(path string, v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	}
	p.bad(path, "expected a list, got %s", kind(v))
	return nil
}

func (p *parser) strings(path string, v any) []string {
	var out []string
	for i, e := range p.list(path, v) {
		s, ok := e.(string)
		if !ok {
			p.bad(fmt.Sprintf("%s[%d]", path, i), "expected a string, got %s", kind(e))
			continue
		}
		out = append(out, s)
	}
	return out
}

// ifaceKey checks the key of an entry and returns it as the service uses
// it: a mac= key in lower case.
func (p *parser) ifaceKey(path, key string) (string, bool) {
	switch {
	case strings.HasPrefix(strings.ToLower(key), "mac="):
		if !macKeyRe.MatchString(key) {
			p.bad(path, "%q is not mac= and an ethernet address such as mac=52:54:00:12:34:56", key)
			return "", false
		}
		return strings.ToLower(key), true
	case key == "lo":
		p.bad(path, "the service sets up lo itself")
		return "", false
	case !ValidLinkName(key):
		p.bad(path, "%q is not an interface name or mac=<address>", key)
		return "", false
	}
	return key, true
}

func ValidLinkName(s string) bool {
	return ifaceNameRe.MatchString(s) && s != "." && s != ".."
}

// iface parses one entry of interfaces.
func (p *parser) iface(path, key string, v any) Iface {
	f := p.object(path, v, ifaceFields)
	var e Iface
	e.DHCP = p.boolean(path+".dhcp", f["dhcp"])
	if d6 := p.boolean(path+".dhcp6", f["dhcp6"]); d6 != nil && *d6 {
		p.warnings = append(p.warnings, path+".dhcp6: DHCPv6 is not supported, ignored")
	}
	for i, s := range p.strings(path+".addresses", f["addresses"]) {
		ap := fmt.Sprintf("%s.addresses[%d]", path, i)
		a, err := netip.ParsePrefix(s)
		switch {
		case err != nil || a.Addr().Zone() != "" || a.Addr().Is4In6():
			p.bad(ap, "%q is not an address with a prefix length such as 192.168.1.10/24", s)
		case a.Addr().IsUnspecified() || a.Addr().IsLoopback() || a.Addr().IsMulticast():
			p.bad(ap, "%s cannot be the address of a link", a.Addr())
		case slices.Contains(e.Addresses, a):
			p.bad(ap, "%s given twice", a)
		default:
			e.Addresses = append(e.Addresses, a)
		}
	}
	if s := p.str(path+".gateway", f["gateway"]); s != "" {
		if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
			p.bad(path+".gateway", "%q is not an IPv4 address", s)
		} else {
			e.Gateway = a
		}
	}
	if s := p.str(path+".gateway_ipv6", f["gateway_ipv6"]); s != "" {
		if a, err := netip.ParseAddr(s); err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
			p.bad(path+".gateway_ipv6", "%q is not an IPv6 address", s)
		} else {
			e.Gateway6 = a
		}
	}
	if n, ok := p.integer(path+".mtu", f["mtu"]); ok && n != 0 {
		if n < 68 || n > 65535 {
			p.bad(path+".mtu", "expected 68 to 65535, got %d", n)
		} else {
			e.MTU = n
		}
	}
	for i, v := range p.list(path+".vlans", f["vlans"]) {
		vp := fmt.Sprintf("%s.vlans[%d]", path, i)
		id, ok := p.integer(vp, v)
		switch {
		case !ok:
		case id < 1 || id > 4094:
			p.bad(vp, "expected a VLAN id 1 to 4094, got %d", id)
		case slices.Contains(e.VLANs, id):
			p.bad(vp, "VLAN %d given twice", id)
		case !strings.HasPrefix(key, "mac=") && len(VLANName(key, id)) > MaxNameLen:
			p.bad(vp, "the VLAN link name %s is longer than %d characters", VLANName(key, id), MaxNameLen)
		default:
			e.VLANs = append(e.VLANs, id)
		}
	}
	e.Bond = p.master(path+".bond", key, f["bond"])
	e.Bridge = p.master(path+".bridge", key, f["bridge"])
	if v := f["bond_opts"]; v != nil {
		e.BondOpts = p.bondOpts(path+".bond_opts", v)
	}

	// What cannot go together.
	if e.DHCP != nil && *e.DHCP && len(e.Addresses) > 0 {
		p.bad(path+".dhcp", "dhcp and static addresses together: choose one")
	}
	if e.Bond != "" && e.Bridge != "" {
		p.bad(path+".bridge", "a link goes in one bond or one bridge, not both")
	}
	if e.Slave() {
		sp := path + ".bond"
		if e.Bond == "" {
			sp = path + ".bridge"
		}
		switch {
		case len(e.Addresses) > 0:
			p.bad(sp, "an enslaved link has no addresses of its own: configure them on its master")
		case e.DHCP != nil && *e.DHCP:
			p.bad(sp, "an enslaved link has no DHCP of its own: configure it on its master")
		}
	}
	if e.Gateway.IsValid() && !slices.ContainsFunc(e.Addresses, func(a netip.Prefix) bool { return a.Addr().Is4() }) {
		p.bad(path+".gateway", "a gateway needs an IPv4 address in addresses")
	}
	if e.Gateway6.IsValid() && !slices.ContainsFunc(e.Addresses, func(a netip.Prefix) bool { return a.Addr().Is6() }) {
		p.bad(path+".gateway_ipv6", "an IPv6 gateway needs an IPv6 address in addresses")
	}
	return e
}

// master checks the name of a bond or bridge.
func (p *parser) master(path, key string, v any) string {
	s := p.str(path, v)
	switch {
	case s == "":
	case !ValidLinkName(s) || s == "lo":
		p.bad(path, "%q is not an interface name", s)
		return ""
	case s == key:
		p.bad(path, "a link cannot be enslaved to itself")
		return ""
	}
	return s
}

// bondOptions are the bond options the service sets, each with its check
// that also makes the value canonical.
var bondOptions = map[string]func(string) (string, bool){
	"mode": func(s string) (string, bool) {
		if n, err := strconv.Atoi(s); err == nil {
			s = netlink.BondMode(n).String()
		}
		m := netlink.StringToBondMode(s)
		return m.String(), m != netlink.BOND_MODE_UNKNOWN
	},
	"miimon":    nonNegative,
	"updelay":   nonNegative,
	"downdelay": nonNegative,
	"min_links": nonNegative,
	"lacp_rate": func(s string) (string, bool) {
		switch s {
		case "0":
			s = "slow"
		case "1":
			s = "fast"
		}
		_, ok := netlink.StringToBondLacpRateMap[s]
		return s, ok
	},
	"xmit_hash_policy": func(s string) (string, bool) {
		_, ok := netlink.StringToBondXmitHashPolicyMap[s]
		return s, ok
	},
}

func nonNegative(s string) (string, bool) {
	n, err := strconv.ParseUint(s, 10, 31)
	return strconv.FormatUint(n, 10), err == nil
}

// bondOpts parses bond_opts: option names to values, strings or numbers as
// in RancherOS.
func (p *parser) bondOpts(path string, v any) map[string]string {
	m := p.object(path, v, nil)
	out := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		op := strictyaml.Join(path, k)
		name := strings.ReplaceAll(strings.ToLower(k), "-", "_")
		check, known := bondOptions[name]
		if !known {
			p.bad(op, "unknown bond option (supported: %s)", strings.Join(slices.Sorted(maps.Keys(bondOptions)), ", "))
			continue
		}
		var s string
		switch v := m[k].(type) {
		case string:
			s = strings.TrimSpace(v)
		case json.Number:
			s = v.String()
		default:
			p.bad(op, "expected a string or a number, got %s", kind(v))
			continue
		}
		canon, ok := check(s)
		if !ok {
			p.bad(op, "%q is not a valid %s", s, name)
			continue
		}
		out[name] = canon
	}
	return out
}

// links checks what entries say of each other: a name is a bond or a
// bridge, not both; bonds go in bridges at most; bridges go nowhere.
func (p *parser) links(c *Config) {
	bonds, bridges := map[string]string{}, map[string]string{}
	for _, key := range slices.Sorted(maps.Keys(c.Interfaces)) {
		e := c.Interfaces[key]
		path := strictyaml.Join("interfaces", key)
		if e.Bond != "" {
			if by, ok := bridges[e.Bond]; ok {
				p.bad(path+".bond", "%s is a bridge (%s)", e.Bond, by)
			} else if _, ok := bonds[e.Bond]; !ok {
				bonds[e.Bond] = path + ".bond"
			}
		}
		if e.Bridge != "" {
			if by, ok := bonds[e.Bridge]; ok {
				p.bad(path+".bridge", "%s is a bond (%s)", e.Bridge, by)
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
				p.bad(path+".bond_opts", "a bond is named by its name, not by mac=")
			case isBridge:
				p.bad(path+".bond_opts", "%s is a bridge (%s)", key, bridges[key])
			}
		}
		if isBond && e.Bond != "" {
			p.bad(path+".bond", "%s is a bond (%s): bonds do not go in bonds", key, bonds[key])
		}
		if isBridge && e.Slave() {
			sp := path + ".bond"
			if e.Bond == "" {
				sp = path + ".bridge"
			}
			p.bad(sp, "%s is a bridge (%s): bridges are not enslaved", key, bridges[key])
		}
	}
}

func VLANName(parent string, id int) string { return fmt.Sprintf("%s.%d", parent, id) }

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
