package netconfig

import "strconv"

// The values of the bond options that name things, as the kernel names
// them. They are ours, not netlink's, so that cloud-config and the CLIs
// that validate berth.network do not link the netlink library; the network
// service checks in a test that netlink knows every one.
var (
	// BondModes are the bond modes, by number.
	BondModes = []string{"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"}
	// BondLACPRates are the LACP rates, by number.
	BondLACPRates = []string{"slow", "fast"}
	// BondXmitHashPolicies are the transmit hash policies.
	BondXmitHashPolicies = []string{"layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"}
)

// bondOptions are the bond options the service sets, each with its check
// that also makes the value canonical: names for the options that name
// things, written numbers for the others.
var bondOptions = map[string]func(string) (string, bool){
	"mode":             named(BondModes, true),
	"miimon":           nonNegative,
	"updelay":          nonNegative,
	"downdelay":        nonNegative,
	"min_links":        nonNegative,
	"lacp_rate":        named(BondLACPRates, true),
	"xmit_hash_policy": named(BondXmitHashPolicies, false),
}

// named checks a value that is one of names, or, with byNumber, its
// number there; the canonical value is the name.
func named(names []string, byNumber bool) func(string) (string, bool) {
	return func(s string) (string, bool) {
		if n, err := strconv.Atoi(s); err == nil && byNumber {
			if n < 0 || n >= len(names) {
				return s, false
			}
			return names[n], true
		}
		for _, name := range names {
			if s == name {
				return s, true
			}
		}
		return s, false
	}
}

func nonNegative(s string) (string, bool) {
	n, err := strconv.ParseUint(s, 10, 31)
	return strconv.FormatUint(n, 10), err == nil
}
