package cloudconfig

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// checkNetwork converts network-config and checks the result is a valid
// berth.network.
func checkNetwork(t *testing.T, in string) (map[string]any, []string) {
	t.Helper()
	tree, warnings, err := FromNetworkConfig([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FromTree("network-config", map[string]any{"berth": map[string]any{"network": tree}}); err != nil {
		t.Fatalf("not a valid berth.network: %v\n%v", err, tree)
	}
	return tree, warnings
}

func TestNetworkConfigV2(t *testing.T) {
	tree, warnings := checkNetwork(t, `network:
  version: 2
  ethernets:
    lan:
      match: {macaddress: "52:54:00:AA:BB:01"}
      set-name: lan0
      addresses: [192.168.1.10/24, "fd00::10/64"]
      routes:
        - {to: default, via: 192.168.1.1}
        - {to: 10.9.0.0/16, via: 192.168.1.254}
      gateway6: fd00::1
      mtu: 9000
      nameservers: {addresses: [192.168.1.53], search: [example.org]}
    eth1: {dhcp4: true}
    eth2: {}
    eth3: {}
    eth4: {wakeonlan: true}
  bonds:
    bond0:
      interfaces: [eth2, eth3]
      parameters: {mode: active-backup, mii-monitor-interval: 100, gratuitous-arp: 5}
      addresses: [10.0.0.2/24]
  bridges:
    br0: {interfaces: [eth4], dhcp4: true}
  vlans:
    vlan100: {id: 100, link: eth1, addresses: [10.100.0.2/24]}
`)
	want := map[string]any{
		"interfaces": map[string]any{
			"mac=52:54:00:aa:bb:01": map[string]any{
				"addresses": []any{"192.168.1.10/24", "fd00::10/64"}, "gateway": "192.168.1.1", "gateway_ipv6": "fd00::1", "mtu": 9000,
			},
			"eth1":     map[string]any{"dhcp": true, "vlans": []any{100}},
			"eth1.100": map[string]any{"addresses": []any{"10.100.0.2/24"}},
			"eth2":     map[string]any{"bond": "bond0"},
			"eth3":     map[string]any{"bond": "bond0"},
			"eth4":     map[string]any{"bridge": "br0"},
			"bond0":    map[string]any{"addresses": []any{"10.0.0.2/24"}, "bond_opts": map[string]any{"mode": "active-backup", "miimon": "100"}},
			"br0":      map[string]any{"dhcp": true},
		},
		"dns": map[string]any{"nameservers": []any{"192.168.1.53"}, "search": []any{"example.org"}},
	}
	if diff := cmp.Diff(want, tree); diff != "" {
		t.Errorf("berth.network (-want +got):\n%s", diff)
	}
	wantWarnings := []string{
		"network-config: ethernets.lan.set-name: Berth does not rename links; the link keeps its kernel name",
		"network-config: ethernets.lan.routes[1]: only default routes are supported, ignored",
		"network-config: ethernets.eth4.wakeonlan: not supported, ignored",
		"network-config: bonds.bond0.parameters.gratuitous-arp: not supported, ignored",
	}
	for _, w := range wantWarnings {
		if !slices.Contains(warnings, w) {
			t.Errorf("warnings lack %q; got\n%s", w, strings.Join(warnings, "\n"))
		}
	}
	if len(warnings) != len(wantWarnings) {
		t.Errorf("warnings:\n%s", strings.Join(warnings, "\n"))
	}
}

func TestNetworkConfigV1(t *testing.T) {
	tree, warnings := checkNetwork(t, `version: 1
config:
  - type: physical
    name: eth0
    mac_address: "52:54:00:AA:BB:01"
    mtu: 1400
    subnets:
      - {type: static, address: 192.168.1.10, netmask: 255.255.255.0, gateway: 192.168.1.1, dns_nameservers: [192.168.1.53]}
  - type: physical
    name: eth1
    subnets: [{type: dhcp}]
  - {type: physical, name: eth2}
  - {type: physical, name: eth3}
  - type: bond
    name: bond0
    bond_interfaces: [eth2, eth3]
    params: {bond-mode: 802.3ad, bond-miimon: 100}
    subnets: [{type: static, address: 10.0.0.2/24}]
  - type: vlan
    name: eth1.200
    vlan_link: eth1
    vlan_id: 200
    subnets: [{type: dhcp4}]
  - {type: nameserver, address: [9.9.9.9], search: [example.net]}
  - {type: route, destination: 10.0.0.0/8, gateway: 192.168.1.254}
`)
	want := map[string]any{
		"interfaces": map[string]any{
			"mac=52:54:00:aa:bb:01": map[string]any{"addresses": []any{"192.168.1.10/24"}, "gateway": "192.168.1.1", "mtu": 1400},
			"eth1":                  map[string]any{"dhcp": true, "vlans": []any{200}},
			"eth1.200":              map[string]any{"dhcp": true},
			"eth2":                  map[string]any{"bond": "bond0"},
			"eth3":                  map[string]any{"bond": "bond0"},
			"bond0":                 map[string]any{"addresses": []any{"10.0.0.2/24"}, "bond_opts": map[string]any{"mode": "802.3ad", "miimon": "100"}},
		},
		"dns": map[string]any{"nameservers": []any{"192.168.1.53", "9.9.9.9"}, "search": []any{"example.net"}},
	}
	if diff := cmp.Diff(want, tree); diff != "" {
		t.Errorf("berth.network (-want +got):\n%s", diff)
	}
	if len(warnings) != 1 || warnings[0] != "network-config: config[7].type: route is not supported, ignored" {
		t.Errorf("warnings %q", warnings)
	}
}

func TestNetworkConfigErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"network: {version: 3}", "network-config: version: expected 1 or 2, got 3"},
		{"version: 2\nvlans: {v: {id: x, link: eth0}}", "network-config: vlans.v.id: expected a VLAN id, got x"},
		{"version: 1\nconfig: [{type: physical, name: eth0, subnets: [{type: static, address: 10.0.0.1, netmask: 255.0.255.0}]}]", `network-config: config[0].subnets[0].netmask: "255.0.255.0" is not a netmask`},
		{"[1, 2", "network-config: yaml: line 1: did not find expected ',' or ']'"},
		{"version: 2\nethernets: {eth0: {mtu: jumbo, dhcp4: 1}}", `network-config: ethernets.eth0.mtu: expected an integer, got the string "jumbo"; ethernets.eth0.dhcp4: expected true or false, got the integer 1`},
		{"version: 2\nethernets: {eth0: {addresses: [{10.0.0.2/24: {label: a}}]}}", "network-config: ethernets.eth0.addresses: expected a value or a list of values, got a map in the list"},
		{"version: 2\nvlans: {v: {link: eth0}}", "network-config: vlans.v.id: expected a VLAN id, got nothing"},
		{"version: 1\nconfig: [{type: physical, name: eth0, subnets: {type: dhcp}}]", "network-config: config[0].subnets: expected a list, got a map"},
		{"version: 1\nconfig: [{type: vlan, vlan_link: eth0, vlan_id: [7]}]", "network-config: config[0].vlan_id: expected a VLAN id, got a list"},
		{"- a", "network-config: expected a map, got a list"},
	} {
		_, _, err := FromNetworkConfig([]byte(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("FromNetworkConfig(%q) = %v, want %s", tc.in, err, tc.want)
		}
	}
	// An empty file asks for nothing.
	if tree, _, err := FromNetworkConfig([]byte("network: {}\n")); err != nil || tree != nil {
		t.Errorf("empty network: %v %v", tree, err)
	}
	if tree, _, err := FromNetworkConfig(nil); err != nil || tree != nil {
		t.Errorf("empty: %v %v", tree, err)
	}
}

// netplan writes booleans as YAML 1.1 did too: yes, no, on and off; and
// version 2.0 is 2.
func TestNetworkConfigV2Booleans(t *testing.T) {
	tree, _ := checkNetwork(t, "version: 2.0\nethernets:\n  a: {dhcp4: 'yes'}\n  b: {dhcp4: on}\n  c: {dhcp4: off}\n  d: {dhcp4: no, addresses: [10.0.0.2/24]}\n")
	want := map[string]any{"interfaces": map[string]any{
		"a": map[string]any{"dhcp": true},
		"b": map[string]any{"dhcp": true},
		"c": map[string]any{"dhcp": false},
		"d": map[string]any{"addresses": []any{"10.0.0.2/24"}},
	}}
	if diff := cmp.Diff(want, tree); diff != "" {
		t.Errorf("berth.network (-want +got):\n%s", diff)
	}
}

// A bond whose parameters Berth does not set is still a bond, and a v1
// item without a type is left out with a warning.
func TestNetworkConfigEdges(t *testing.T) {
	tree, warnings := checkNetwork(t, "version: 2\nbonds: {bond0: {interfaces: [eth0], parameters: {gratuitous-arp: 5}}}\n")
	want := map[string]any{"interfaces": map[string]any{
		"eth0":  map[string]any{"bond": "bond0"},
		"bond0": map[string]any{"bond_opts": map[string]any{}, "dhcp": false},
	}}
	if diff := cmp.Diff(want, tree); diff != "" {
		t.Errorf("berth.network (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"network-config: bonds.bond0.parameters.gratuitous-arp: not supported, ignored"}, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	// Berth never warned about what routes and name servers say besides
	// what it uses.
	tree, warnings = checkNetwork(t, "version: 2\nethernets: {eth0: {addresses: [10.0.0.2/24, 'fd00::2/64'], routes: [{to: default, via: 10.0.0.1, on-link: true, metric: 5}, {to: '::/0', via: 'fd00::1'}], nameservers: {addresses: [1.1.1.1], search: [], x: 1}}}\n")
	want = map[string]any{
		"interfaces": map[string]any{"eth0": map[string]any{"addresses": []any{"10.0.0.2/24", "fd00::2/64"}, "gateway": "10.0.0.1", "gateway_ipv6": "fd00::1"}},
		"dns":        map[string]any{"nameservers": []any{"1.1.1.1"}},
	}
	if diff := cmp.Diff(want, tree); diff != "" {
		t.Errorf("berth.network (-want +got):\n%s", diff)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings %q", warnings)
	}
	_, warnings = checkNetwork(t, "version: 1\nconfig: [x, {type: physical, name: eth0}]\n")
	if diff := cmp.Diff([]string{"network-config: config[0]: an item without a type is not supported, ignored"}, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}
