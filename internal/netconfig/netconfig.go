// Package netconfig is berth.network, the network part of cloud-config:
// one typed model (Network) that cloud-config decodes from user-data, that
// PID 1 writes for the network service as JSON (ServiceJSON) and that the
// service reads back (Load), and the one set of checks both sides apply
// (Validate), which turns it into the Config the service works from. What
// validates in user-data is what the service takes.
package netconfig

import (
	"encoding/json"

	"github.com/berth-os/berth/internal/strictyaml"
)

// Network is berth.network as users write it in YAML and as config.json
// holds it, with the same keys.
type Network struct {
	// Interfaces are by key: a kernel name, or mac=<address>.
	Interfaces map[string]Interface `yaml:"interfaces,omitempty" json:"interfaces,omitempty"`
	DNS        DNS                  `yaml:"dns,omitempty" json:"dns,omitzero"`
}

// Interface configures one link.
type Interface struct {
	// DHCP, when not given, is DHCP unless there are addresses.
	DHCP        *bool       `yaml:"dhcp,omitempty" json:"dhcp,omitempty"`
	DHCP6       *bool       `yaml:"dhcp6,omitempty" json:"dhcp6,omitempty"`
	Addresses   []string    `yaml:"addresses,omitempty" json:"addresses,omitempty"`
	Gateway     string      `yaml:"gateway,omitempty" json:"gateway,omitempty"`
	GatewayIPv6 string      `yaml:"gateway_ipv6,omitempty" json:"gateway_ipv6,omitempty"`
	MTU         int         `yaml:"mtu,omitempty" json:"mtu,omitempty"`
	VLANs       []int       `yaml:"vlans,omitempty" json:"vlans,omitempty"`
	Bond        string      `yaml:"bond,omitempty" json:"bond,omitempty"`
	BondOpts    BondOptions `yaml:"bond_opts,omitempty" json:"bond_opts,omitzero"`
	Bridge      string      `yaml:"bridge,omitempty" json:"bridge,omitempty"`
}

// BondOptions are bond_opts: option names to values, written as strings
// or numbers. An entry with bond_opts, even empty ones, is a bond.
type BondOptions map[string]strictyaml.Scalar

// IsZero says whether there are no bond_opts at all, so that empty ones
// are written out (omitempty and omitzero ask it).
func (o BondOptions) IsZero() bool { return o == nil }

// DNS is berth.network.dns.
type DNS struct {
	Nameservers []string `yaml:"nameservers,omitempty" json:"nameservers,omitempty"`
	Search      []string `yaml:"search,omitempty" json:"search,omitempty"`
}

// ServiceJSON is the network as PID 1 writes it for the network service
// (config.json), which Load reads.
func (n Network) ServiceJSON() ([]byte, error) {
	return json.MarshalIndent(n, "", "  ")
}
