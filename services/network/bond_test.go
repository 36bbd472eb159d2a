package network

import (
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/berth-os/berth/internal/netconfig"
)

// netconfig keeps its own tables of bond option values (so that
// cloud-config does not link netlink); the service hands those values to
// netlink, which must know each one, by the same number.
func TestBondTablesMatchNetlink(t *testing.T) {
	for i, name := range netconfig.BondModes {
		if m := netlink.StringToBondMode(name); int(m) != i || m.String() != name {
			t.Errorf("bond mode %d %s: netlink has %d %s", i, name, int(m), m)
		}
	}
	if len(netconfig.BondModes) != int(netlink.BOND_MODE_UNKNOWN) {
		t.Errorf("%d bond modes, netlink has %d", len(netconfig.BondModes), netlink.BOND_MODE_UNKNOWN)
	}
	for i, name := range netconfig.BondLACPRates {
		if r := netlink.StringToBondLacpRate(name); int(r) != i || r.String() != name {
			t.Errorf("LACP rate %d %s: netlink has %d %s", i, name, int(r), r)
		}
	}
	if len(netconfig.BondLACPRates) != len(netlink.StringToBondLacpRateMap) {
		t.Errorf("%d LACP rates, netlink has %d", len(netconfig.BondLACPRates), len(netlink.StringToBondLacpRateMap))
	}
	for _, name := range netconfig.BondXmitHashPolicies {
		if p := netlink.StringToBondXmitHashPolicy(name); p == netlink.BOND_XMIT_HASH_POLICY_UNKNOWN || p.String() != name {
			t.Errorf("transmit hash policy %s: netlink has %s", name, p)
		}
	}
	if len(netconfig.BondXmitHashPolicies) != len(netlink.StringToBondXmitHashPolicyMap) {
		t.Errorf("%d transmit hash policies, netlink has %d", len(netconfig.BondXmitHashPolicies), len(netlink.StringToBondXmitHashPolicyMap))
	}
}
