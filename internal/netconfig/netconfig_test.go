package netconfig

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-os/berth/internal/fuzzmem"
	"github.com/berth-os/berth/internal/strictyaml"
)

func TestParseFull(t *testing.T) {
	c, warnings, err := Parse([]byte(`{
		"interfaces": {
			"eth0": {"addresses": ["192.168.1.10/24", "fd00::10/64"], "gateway": "192.168.1.1", "gateway_ipv6": "fd00::1", "mtu": 9000, "vlans": [100, 200], "dhcp": null},
			"MAC=52:54:00:AB:CD:EF": {"dhcp": true},
			"eth1": {"bond": "bond0"},
			"bond0": {"bond_opts": {"mode": 1, "miimon": "100", "lacp-rate": "fast"}, "dhcp": false},
			"future": {"dhcp": true, "wol": true, "dhcp6": true}
		},
		"dns": {"nameservers": ["1.1.1.1", "2606:4700:4700::1111"], "search": ["example.org."]}
	}`), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range warnings {
		got = append(got, w.Error())
	}
	// An unknown field is a warning (a newer cloud-config may write it), as
	// is what the service ignores.
	want := []string{
		`config.json:7: interfaces.future.wol: unknown field, ignored`,
		`config.json:7: interfaces.future.dhcp6: DHCPv6 is not supported, ignored`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	yes, no := true, false
	wantConfig := &Config{
		Interfaces: map[string]Iface{
			"eth0": {
				Addresses: []netip.Prefix{netip.MustParsePrefix("192.168.1.10/24"), netip.MustParsePrefix("fd00::10/64")},
				Gateway:   netip.MustParseAddr("192.168.1.1"),
				Gateway6:  netip.MustParseAddr("fd00::1"),
				MTU:       9000,
				VLANs:     []int{100, 200},
			},
			"mac=52:54:00:ab:cd:ef": {DHCP: &yes},
			"eth1":                  {Bond: "bond0"},
			"bond0":                 {DHCP: &no, BondOpts: map[string]string{"mode": "active-backup", "miimon": "100", "lacp_rate": "fast"}},
			"future":                {DHCP: &yes},
		},
		DNS: Resolver{
			Nameservers: []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2606:4700:4700::1111")},
			Search:      []string{"example.org"},
		},
	}
	if diff := cmp.Diff(wantConfig, c, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if !c.Interfaces["eth0"].Static() || c.Interfaces["mac=52:54:00:ab:cd:ef"].Static() || !c.Interfaces["bond0"].Static() {
		t.Errorf("Static: eth0 %v mac %v bond0 %v", c.Interfaces["eth0"].Static(), c.Interfaces["mac=52:54:00:ab:cd:ef"].Static(), c.Interfaces["bond0"].Static())
	}
	bonds, bridges := c.Masters()
	if diff := cmp.Diff(map[string]map[string]string{"bond0": {"mode": "active-backup", "miimon": "100", "lacp_rate": "fast"}}, bonds); diff != "" || len(bridges) != 0 {
		t.Errorf("masters: bonds (-want +got):\n%s\nbridges %v", diff, bridges)
	}
	if got := c.Summary(); got != "bond0 no address, eth0 static vlans 2, eth1 bond bond0, future dhcp, mac=52:54:00:ab:cd:ef dhcp, nameservers 2, search domains 1" {
		t.Errorf("summary: %q", got)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "  \n", "null", "{}", `{"interfaces": null, "dns": {}}`} {
		c, w, err := Parse([]byte(in), "config.json")
		if err != nil || len(w) != 0 || len(c.Interfaces) != 0 || c.Summary() != "nothing configured, dhcp everywhere" {
			t.Errorf("Parse(%q) = %+v, %q, %v", in, c, w, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string // each a problem as the service logs it
	}{
		{"syntax", `{"interfaces": {"eth0": }}`, []string{"line 1: not valid JSON at column 25: invalid character '}' looking for beginning of value"}},
		{"trailing", `{} {}`, []string{"line 1: not valid JSON at column 4: more after the value"}},
		{"not object", `[]`, []string{"line 1: expected a map, got a list"}},
		{"address", `{"interfaces": {"eth0": {"addresses": ["10.0.0.1", "127.0.0.1/8", "10.0.0.2/24", "10.0.0.2/24"]}}}`, []string{
			`interfaces.eth0.addresses[0]: "10.0.0.1" is not an address with a prefix length such as 192.168.1.10/24`,
			`interfaces.eth0.addresses[1]: 127.0.0.1 cannot be the address of a link`,
			`interfaces.eth0.addresses[3]: 10.0.0.2/24 given twice`,
		}},
		{"types", `{"interfaces": {"eth0": {"dhcp": "yes", "mtu": 1.5, "addresses": "10.0.0.1/24", "vlans": [1, "2"]}}}`, []string{
			`interfaces.eth0.dhcp: expected a boolean (true or false), got the string "yes"`,
			`interfaces.eth0.mtu: expected an integer, got the number 1.5`,
			`interfaces.eth0.addresses: expected a list, got the string "10.0.0.1/24"`,
			`interfaces.eth0.vlans[1]: expected an integer, got the string "2"`,
		}},
		{"ranges", `{"interfaces": {"eth0": {"mtu": 60, "vlans": [0, 4095, 7, 7]}}}`, []string{
			`interfaces.eth0.mtu: expected 68 to 65535, got 60`,
			`interfaces.eth0.vlans[0]: expected a VLAN id 1 to 4094, got 0`,
			`interfaces.eth0.vlans[1]: expected a VLAN id 1 to 4094, got 4095`,
			`interfaces.eth0.vlans[3]: VLAN 7 given twice`,
		}},
		{"vlan name too long", `{"interfaces": {"enp0s31f6abcd": {"vlans": [100]}}}`, []string{
			`interfaces.enp0s31f6abcd.vlans[0]: the VLAN link name enp0s31f6abcd.100 is longer than 15 characters`,
		}},
		{"keys", `{"interfaces": {"lo": {}, "mac=52:54": {}, "a b": {}, "eth0": {}, "ETH0": {}}}`, []string{
			`interfaces."a b": "a b" is not an interface name or mac=<address>`,
			`interfaces.lo: the service sets up lo itself`,
			`interfaces."mac=52:54": "mac=52:54" is not mac= and an ethernet address such as mac=52:54:00:12:34:56`,
		}},
		{"same link twice", `{"interfaces": {"mac=52:54:00:AB:CD:EF": {}, "mac=52:54:00:ab:cd:ef": {}}}`, []string{
			`interfaces."mac=52:54:00:ab:cd:ef": the same link as another key: mac=52:54:00:ab:cd:ef`,
		}},
		{"gateways", `{"interfaces": {"eth0": {"gateway": "fd00::1", "gateway_ipv6": "10.0.0.1"}, "eth1": {"gateway": "10.0.0.1"}}}`, []string{
			`interfaces.eth0.gateway: "fd00::1" is not an IPv4 address`,
			`interfaces.eth0.gateway_ipv6: "10.0.0.1" is not an IPv6 address`,
			`interfaces.eth1.gateway: a gateway needs an IPv4 address in addresses`,
		}},
		{"dhcp and static", `{"interfaces": {"eth0": {"dhcp": true, "addresses": ["10.0.0.2/24"]}}}`, []string{
			`interfaces.eth0.dhcp: dhcp and static addresses together: choose one`,
		}},
		{"slaves", `{"interfaces": {"eth0": {"bond": "bond0", "bridge": "br0"}, "eth1": {"bond": "eth1"}, "eth2": {"bridge": "br0", "addresses": ["10.0.0.2/24"]}}}`, []string{
			`interfaces.eth0.bridge: a link goes in one bond or one bridge, not both`,
			`interfaces.eth1.bond: a link cannot be enslaved to itself`,
			`interfaces.eth2.bridge: an enslaved link has no addresses of its own: configure them on its master`,
		}},
		{"masters", `{"interfaces": {"eth0": {"bond": "x0"}, "eth1": {"bridge": "x0"}, "bond1": {"bond": "bond2"}, "eth2": {"bond": "bond1"}, "br0": {"bond": "bond3"}, "eth3": {"bridge": "br0"}}}`, []string{
			`interfaces.eth1.bridge: x0 is a bond (interfaces.eth0.bond)`,
			`interfaces.bond1.bond: bond1 is a bond (interfaces.eth2.bond): bonds do not go in bonds`,
			`interfaces.br0.bond: br0 is a bridge (interfaces.eth3.bridge): bridges are not enslaved`,
		}},
		{"bond options", `{"interfaces": {"bond0": {"bond_opts": {"mode": "fastest", "miimon": -1, "color": "red", "updelay": true, "lacp_rate": 2, "xmit_hash_policy": 1}}, "eth0": {"bond": "bond0"}}}`, []string{
			`interfaces.bond0.bond_opts.color: unknown bond option (supported: downdelay, lacp_rate, miimon, min_links, mode, updelay, xmit_hash_policy)`,
			`interfaces.bond0.bond_opts.lacp_rate: "2" is not a valid lacp_rate`,
			`interfaces.bond0.bond_opts.miimon: "-1" is not a valid miimon`,
			`interfaces.bond0.bond_opts.mode: "fastest" is not a valid mode`,
			`interfaces.bond0.bond_opts.updelay: "true" is not a valid updelay`,
			`interfaces.bond0.bond_opts.xmit_hash_policy: "1" is not a valid xmit_hash_policy`,
		}},
		{"bond options not scalars", `{"interfaces": {"bond0": {"bond_opts": {"mode": [1]}}}}`, []string{
			`interfaces.bond0.bond_opts.mode: expected a string or a number, got a list`,
		}},
		{"dns", `{"dns": {"nameservers": ["1.1.1", "8.8.8.8", "8.8.8.8"], "search": ["a b", "ok.example"]}}`, []string{
			`dns.nameservers[0]: "1.1.1" is not an IP address`,
			`dns.nameservers[2]: 8.8.8.8 given twice`,
			`dns.search[0]: "a b" is not a domain name`,
		}},
		{"duplicate field", `{"interfaces": {"eth0": {"mtu": 1500, "mtu": 9000}}}`, []string{
			`interfaces.eth0.mtu: duplicate key`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Parse([]byte(tc.in), "config.json")
			if c != nil {
				t.Errorf("a config with the error: %+v", c)
			}
			if diff := cmp.Diff(tc.want, problems(t, err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// problems are the FieldErrors of err, which must be strictyaml.ErrInvalid,
// as the service logs them: "path: what", or "line L: what" without a path.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if !errors.Is(err, strictyaml.ErrInvalid) {
		t.Fatalf("error %v is not strictyaml.ErrInvalid", err)
	}
	var es strictyaml.Errors
	errors.As(err, &es)
	var out []string
	for _, e := range es {
		if e.Source != "config.json" {
			t.Errorf("%v: source %q, want config.json", e, e.Source)
		}
		if e.Path != "" {
			out = append(out, e.Path+": "+e.Msg)
		} else {
			out = append(out, fmt.Sprintf("line %d: %s", e.Line, e.Msg))
		}
	}
	return out
}

// Problems in a file of several lines carry the line of their field.
func TestParseErrorLines(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"decoding", "{\n  \"interfaces\": {\n    \"eth0\": {\n      \"mtu\": 1,\n      \"gateway\": \"x\"\n    },\n    \"eth1\": {\"mtu\": \"big\"}\n  }\n}\n", []string{
			`config.json:7: interfaces.eth1.mtu: expected an integer, got the string "big"`,
		}},
		{"validation", "{\n  \"interfaces\": {\n    \"eth0\": {\n      \"mtu\": 1,\n      \"gateway\": \"x\"\n    }\n  }\n}\n", []string{
			`config.json:5: interfaces.eth0.gateway: "x" is not an IPv4 address`,
			`config.json:4: interfaces.eth0.mtu: expected 68 to 65535, got 1`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tc.in), "config.json")
			var es strictyaml.Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T %v, want strictyaml.Errors", err, err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	c, _, err := Load(filepath.Join(dir, "absent.json"))
	if err != nil || c == nil || len(c.Interfaces) != 0 {
		t.Errorf("absent file: %+v, %v", c, err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"dns": {"nameservers": ["x"]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(bad); err == nil || err.Error() != bad+`:1: dns.nameservers[0]: "x" is not an IP address` {
		t.Errorf("bad file: %v", err)
	}
	if _, _, err := Load(dir); !errors.Is(err, syscall.EISDIR) || !strings.HasPrefix(err.Error(), "read network config: ") {
		t.Errorf("a folder: %v", err)
	}
}

// configBound: config.json is what PID 1 writes from cloud-config's
// berth.network, which user-data sets, read by the network service. The
// seeds and testdata/config.json need under 64 KiB; decoding JSON into a
// tree and then the model costs a few times the input.
var configBound = fuzzmem.Bound{Base: 16 * fuzzmem.MiB, PerByte: 128}

// Parse never panics and stays within configBound; what it accepts has a
// summary and its entries say consistently whether they are static.
func FuzzParse(f *testing.F) {
	real, err := os.ReadFile("testdata/config.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	for _, s := range []string{
		`{"interfaces": {"eth0": {"addresses": ["10.0.0.2/24"], "gateway": "10.0.0.1", "vlans": [5]}}}`,
		`{"interfaces": {"eth1": {"bond": "b0"}, "b0": {"bond_opts": {"mode": 1, "miimon": "100"}}}, "dns": {"nameservers": ["1.1.1.1"]}}`,
		`{"interfaces": {"mac=52:54:00:00:00:01": {"dhcp": false, "mtu": 9000}}}`,
		`{"Interfaces": {"eth0": {"GatewayIPv6": "fd00::1", "Addresses": ["fd00::2/64"]}}}`,
		`{} {}`, `[`, ``, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c *Config
		var err error
		fuzzmem.Check(t, configBound, len(data), func() { c, _, err = Parse(data, "fuzz.json") })
		if err != nil {
			if c != nil {
				t.Errorf("a config with an error: %v", err)
			}
			return
		}
		_ = c.Summary()
		for k, e := range c.Interfaces {
			if len(e.Addresses) > 0 && !e.Static() {
				t.Errorf("%s has addresses but is not static", k)
			}
		}
	})
}
