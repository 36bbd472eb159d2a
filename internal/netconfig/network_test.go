package netconfig

import (
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-os/berth/internal/strictyaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// What PID 1 writes (ServiceJSON) is what the service reads (Parse): the
// keys are those users write in YAML, and testdata/config.json shows the
// file.
func TestServiceJSONRoundTrip(t *testing.T) {
	yes, no := true, false
	n := Network{
		Interfaces: map[string]Interface{
			"eth0": {
				DHCP: &no, DHCP6: &no, Addresses: []string{"192.168.1.10/24", "fd00::10/64"},
				Gateway: "192.168.1.1", GatewayIPv6: "fd00::1", MTU: 9000, VLANs: []int{100},
			},
			"eth0.100":              {DHCP: &yes},
			"eth1":                  {Bond: "bond0"},
			"eth2":                  {Bond: "bond1"},
			"bond0":                 {BondOpts: BondOptions{"mode": "4", "miimon": "100", "xmit-hash-policy": "layer3+4"}, Bridge: "br0"},
			"bond1":                 {BondOpts: BondOptions{}}, // empty bond_opts: still a bond
			"br0":                   {Addresses: []string{"10.0.0.2/24"}},
			"mac=52:54:00:0a:0b:0c": {},
		},
		DNS: DNS{Nameservers: []string{"1.1.1.1"}, Search: []string{"example.org"}},
	}
	data, err := n.ServiceJSON()
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/config.json"
	if *update {
		if err := os.WriteFile(golden, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(data)); diff != "" {
		t.Errorf("config.json (-want +got):\n%s", diff)
	}

	c, warnings, err := Parse(data, golden)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Parse: %v, warnings %v", err, warnings)
	}
	wantConfig := &Config{
		Interfaces: map[string]Iface{
			"eth0": {
				DHCP:      &no,
				Addresses: []netip.Prefix{netip.MustParsePrefix("192.168.1.10/24"), netip.MustParsePrefix("fd00::10/64")},
				Gateway:   netip.MustParseAddr("192.168.1.1"), Gateway6: netip.MustParseAddr("fd00::1"),
				MTU: 9000, VLANs: []int{100},
			},
			"eth0.100":              {DHCP: &yes},
			"eth1":                  {Bond: "bond0"},
			"eth2":                  {Bond: "bond1"},
			"bond0":                 {Bridge: "br0", BondOpts: map[string]string{"mode": "802.3ad", "miimon": "100", "xmit_hash_policy": "layer3+4"}},
			"bond1":                 {BondOpts: map[string]string{}},
			"br0":                   {Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}},
			"mac=52:54:00:0a:0b:0c": {},
		},
		DNS: Resolver{Nameservers: []netip.Addr{netip.MustParseAddr("1.1.1.1")}, Search: []string{"example.org"}},
	}
	if diff := cmp.Diff(wantConfig, c, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	bonds, bridges := c.Masters()
	if diff := cmp.Diff(map[string]map[string]string{
		"bond0": {"mode": "802.3ad", "miimon": "100", "xmit_hash_policy": "layer3+4"},
		"bond1": {},
	}, bonds); diff != "" || !bridges["br0"] || len(bridges) != 1 {
		t.Errorf("masters: bonds (-want +got):\n%s\nbridges %v", diff, bridges)
	}
}

// Validate reports at the path of the network in its document, with the
// line its decoder saw: cloud-config's berth.network in user-data.
func TestValidateInDocument(t *testing.T) {
	var doc struct {
		Berth struct {
			Network Network `yaml:"network"`
		} `yaml:"berth"`
	}
	dc := strictyaml.Decoder{Source: "user-data"}
	src := "berth:\n  network:\n    interfaces:\n      eth0:\n        mtu: 9000\n        dhcp6: true\n      eth1:\n        bond_opts: {mode: 9}\n"
	if err := dc.Decode([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	_, err := Validate(&doc.Berth.Network, &dc, "berth.network")
	if err == nil || err.Error() != `user-data:8: berth.network.interfaces.eth1.bond_opts.mode: "9" is not a valid mode` {
		t.Errorf("error: %v", err)
	}
	if len(dc.Warnings) != 1 || dc.Warnings[0].Error() != "user-data:6: berth.network.interfaces.eth0.dhcp6: DHCPv6 is not supported, ignored" {
		t.Errorf("warnings: %v", dc.Warnings)
	}
}

// The bond option tables are ours, so that what validates berth.network
// does not link the netlink library: cloud-config, hostctl and berth.
func TestNoNetlink(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../cmd/berth", "../../cmd/hostctl", "../../cloud-config", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "github.com/berth-os/berth/internal/netconfig\n") {
		t.Fatalf("go list does not list netconfig itself:\n%s", out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/vishvananda/") {
			t.Errorf("the packages that validate berth.network depend on %s", dep)
		}
	}
}
