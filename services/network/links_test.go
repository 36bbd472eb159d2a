package network

import (
	"errors"
	"net"
	"net/netip"
	"path"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestWantLink(t *testing.T) {
	dev := func(name, encap string) *netlink.Device {
		return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: name, EncapType: encap}}
	}
	enslaved := dev("eth2", "ether")
	enslaved.MasterIndex = 7
	lo := dev("lo", "loopback")
	lo.Flags = net.FlagLoopback | net.FlagUp
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "veth0", EncapType: "ether"}}
	bridge := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0", EncapType: "ether"}}
	tests := []struct {
		name     string
		link     netlink.Link
		patterns []string
		want     bool
	}{
		{"ethernet device", dev("eth0", "ether"), nil, true},
		{"renamed ethernet device", dev("enp0s3", "ether"), nil, true},
		{"loopback", lo, nil, false},
		{"loopback even when named", lo, []string{"*"}, false},
		{"device without ethernet framing", dev("wwan0", "none"), nil, false},
		{"enslaved to a bond", enslaved, nil, false},
		{"veth by default", veth, nil, false},
		{"bridge by default", bridge, nil, false},
		{"veth named by a pattern", veth, []string{"eth*", "veth*"}, true},
		{"device not named by the patterns", dev("eth0", "ether"), []string{"veth*"}, false},
		{"enslaved even when named", enslaved, []string{"eth*"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := wantLink(tc.link, tc.patterns); got != tc.want {
				t.Errorf("wantLink(%s, %q) = %v, want %v", tc.link.Attrs().Name, tc.patterns, got, tc.want)
			}
		})
	}
}

func TestParsePatterns(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: "eth0", want: []string{"eth0"}},
		{in: " eth* , ,veth?", want: []string{"eth*", "veth?"}},
		{in: "eth0,eth[", wantErr: `interface pattern "eth[": syntax error in pattern`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parsePatterns(tc.in)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("parsePatterns(%q): %v", tc.in, err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr || !errors.Is(err, path.ErrBadPattern)):
				t.Fatalf("parsePatterns(%q) error %v, want %q (a path.ErrBadPattern)", tc.in, err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parsePatterns(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestMissingPrefixes(t *testing.T) {
	tests := []struct {
		name string
		have []netip.Prefix
		want []netip.Prefix
	}{
		{"fresh lo", nil, loopback},
		{"kernel added v4", []netip.Prefix{pfx("127.0.0.1/8")}, []netip.Prefix{pfx("::1/128")}},
		{"complete", []netip.Prefix{pfx("::1/128"), pfx("127.0.0.1/8"), pfx("127.0.0.2/8")}, nil},
		{"other length is not it", []netip.Prefix{pfx("127.0.0.1/32"), pfx("::1/128")}, []netip.Prefix{pfx("127.0.0.1/8")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, missingPrefixes(tc.have, loopback), netipCmp); diff != "" {
				t.Errorf("missingPrefixes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHasCarrier(t *testing.T) {
	tests := []struct {
		name  string
		state netlink.LinkOperState
		flags uint32
		want  bool
	}{
		{"up", netlink.OperUp, unix.IFF_UP | unix.IFF_LOWER_UP, true},
		{"down", netlink.OperDown, 0, false},
		{"set up, no cable", netlink.OperDown, unix.IFF_UP, false},
		// The kernel has seen the carrier but not yet readied the queue.
		{"lower up, not yet operational", netlink.OperDown, unix.IFF_UP | unix.IFF_LOWER_UP, false},
		{"dormant until 802.1X", netlink.OperDormant, unix.IFF_UP | unix.IFF_LOWER_UP, false},
		{"driver without state, lower up", netlink.OperUnknown, unix.IFF_UP | unix.IFF_LOWER_UP, true},
		{"driver without state, lower down", netlink.OperUnknown, unix.IFF_UP, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "eth0", OperState: tc.state, RawFlags: tc.flags}}
			if got := hasCarrier(l); got != tc.want {
				t.Errorf("hasCarrier(%s, %#x) = %v, want %v", tc.state, tc.flags, got, tc.want)
			}
		})
	}
}
