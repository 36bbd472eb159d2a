package network

import (
	"github.com/berth-os/berth/internal/netconfig"

	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

var (
	pfx = netip.MustParsePrefix
	ipa = netip.MustParseAddr
	// netipCmp lets cmp compare netip values.
	netipCmp = cmp.Options{
		cmp.Comparer(func(x, y netip.Addr) bool { return x == y }),
		cmp.Comparer(func(x, y netip.Prefix) bool { return x == y }),
	}
)

func ipnet(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

func TestConfigFromACK(t *testing.T) {
	const metric = 1026
	src := ipa("192.168.77.50")
	dflt := route{Dst: pfx("0.0.0.0/0"), Gw: ipa("192.168.77.1"), Src: src, Metric: metric}
	tests := []struct {
		name string
		mods []dhcpv4.Modifier
		want linkConfig
	}{
		{
			name: "typical lease",
			mods: lan(30 * time.Second),
			want: linkConfig{
				Addr:   pfx("192.168.77.50/24"),
				Routes: []route{dflt},
				DNS:    []netip.Addr{ipa("192.168.77.53")},
				Search: []string{"example.test"},
				Server: ipa("192.168.77.1"),
				Lease:  30 * time.Second, T1: 15 * time.Second, T2: 26250 * time.Millisecond,
			},
		},
		{
			name: "no subnet mask: class C by the address",
			mods: []dhcpv4.Modifier{dhcpv4.WithLeaseTime(3600)},
			want: linkConfig{
				Addr: pfx("192.168.77.50/24"), Server: ipa("192.168.77.1"),
				Lease: time.Hour, T1: 30 * time.Minute, T2: 52*time.Minute + 30*time.Second,
			},
		},
		{
			name: "no lease time: forever",
			mods: []dhcpv4.Modifier{dhcpv4.WithNetmask(net.CIDRMask(16, 32))},
			want: linkConfig{
				Addr: pfx("192.168.77.50/16"), Server: ipa("192.168.77.1"),
				Lease: infiniteLease, T1: infiniteLease / 2, T2: infiniteLease / 8 * 7,
			},
		},
		{
			name: "tiny lease is stretched",
			mods: []dhcpv4.Modifier{dhcpv4.WithNetmask(net.CIDRMask(24, 32)), dhcpv4.WithLeaseTime(1)},
			want: linkConfig{
				Addr: pfx("192.168.77.50/24"), Server: ipa("192.168.77.1"),
				Lease: minLease, T1: minLease / 2, T2: minLease / 8 * 7,
			},
		},
		{
			name: "server T1 and T2",
			mods: append(lan(time.Hour),
				dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(10*time.Minute)),
				dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(20*time.Minute))),
			want: linkConfig{
				Addr: pfx("192.168.77.50/24"), Routes: []route{dflt},
				DNS: []netip.Addr{ipa("192.168.77.53")}, Search: []string{"example.test"}, Server: ipa("192.168.77.1"),
				Lease: time.Hour, T1: 10 * time.Minute, T2: 20 * time.Minute,
			},
		},
		{
			name: "T2 after expiry: defaults",
			mods: append(lan(time.Hour),
				dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(10*time.Minute)),
				dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(2*time.Hour))),
			want: linkConfig{
				Addr: pfx("192.168.77.50/24"), Routes: []route{dflt},
				DNS: []netip.Addr{ipa("192.168.77.53")}, Search: []string{"example.test"}, Server: ipa("192.168.77.1"),
				Lease: time.Hour, T1: 30 * time.Minute, T2: 52*time.Minute + 30*time.Second,
			},
		},
		{
			name: "mtu",
			mods: []dhcpv4.Modifier{dhcpv4.WithNetmask(net.CIDRMask(24, 32)), dhcpv4.WithLeaseTime(60),
				dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x05, 0x78})},
			want: linkConfig{
				Addr: pfx("192.168.77.50/24"), Server: ipa("192.168.77.1"), MTU: 1400,
				Lease: time.Minute, T1: 30 * time.Second, T2: 52500 * time.Millisecond,
			},
		},
		{
			name: "mtu below 576 is ignored",
			mods: []dhcpv4.Modifier{dhcpv4.WithNetmask(net.CIDRMask(24, 32)), dhcpv4.WithLeaseTime(60),
				dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x00, 0x44})},
			want: linkConfig{
				Addr: pfx("192.168.77.50/24"), Server: ipa("192.168.77.1"),
				Lease: time.Minute, T1: 30 * time.Second, T2: 52500 * time.Millisecond,
			},
		},
		{
			name: "classless static routes replace the router option",
			mods: []dhcpv4.Modifier{dhcpv4.WithNetmask(net.CIDRMask(24, 32)), dhcpv4.WithLeaseTime(60),
				dhcpv4.WithRouter(net.IPv4(192, 168, 77, 254)),
				dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(
					&dhcpv4.Route{Dest: ipnet("10.0.0.0/8"), Router: net.IPv4(192, 168, 77, 2)},
					&dhcpv4.Route{Dest: ipnet("0.0.0.0/0"), Router: net.IPv4(192, 168, 77, 1)},
					&dhcpv4.Route{Dest: ipnet("172.16.0.0/12"), Router: net.IPv4zero},
				))},
			want: linkConfig{
				Addr: pfx("192.168.77.50/24"), Server: ipa("192.168.77.1"),
				Routes: []route{
					{Dst: pfx("172.16.0.0/12"), Src: src, Metric: metric},
					{Dst: pfx("10.0.0.0/8"), Gw: ipa("192.168.77.2"), Src: src, Metric: metric},
					dflt,
				},
				Lease: time.Minute, T1: 30 * time.Second, T2: 52500 * time.Millisecond,
			},
		},
		{
			name: "gateway outside the subnet gets an on-link route",
			mods: []dhcpv4.Modifier{dhcpv4.WithNetmask(net.CIDRMask(32, 32)), dhcpv4.WithLeaseTime(60),
				dhcpv4.WithRouter(net.IPv4(10, 128, 0, 1))},
			want: linkConfig{
				Addr: pfx("192.168.77.50/32"), Server: ipa("192.168.77.1"),
				Routes: []route{
					{Dst: pfx("10.128.0.1/32"), Src: src, Metric: metric},
					{Dst: pfx("0.0.0.0/0"), Gw: ipa("10.128.0.1"), Src: src, Metric: metric},
				},
				Lease: time.Minute, T1: 30 * time.Second, T2: 52500 * time.Millisecond,
			},
		},
		{
			name: "domain name without search list: split on blanks, junk dropped",
			mods: []dhcpv4.Modifier{dhcpv4.WithNetmask(net.CIDRMask(24, 32)), dhcpv4.WithLeaseTime(60),
				dhcpv4.WithDNS(net.IPv4(192, 168, 77, 53), net.IPv4(192, 168, 77, 53), net.IPv4zero, net.IPv4(9, 9, 9, 9)),
				dhcpv4.WithOption(dhcpv4.OptDomainName("corp.example. lab.example\nnameserver 6.6.6.6 bad;name"))},
			want: linkConfig{
				Addr: pfx("192.168.77.50/24"), Server: ipa("192.168.77.1"),
				DNS:    []netip.Addr{ipa("192.168.77.53"), ipa("9.9.9.9")},
				Search: []string{"corp.example", "lab.example", "nameserver", "6.6.6.6"},
				Lease:  time.Minute, T1: 30 * time.Second, T2: 52500 * time.Millisecond,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := configFromACK(newACK(t, tc.mods...), metric)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, netipCmp); diff != "" {
				t.Errorf("configFromACK (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigFromACKRefuses(t *testing.T) {
	tests := []struct {
		name string
		mods []dhcpv4.Modifier
		want string
	}{
		{"no address", []dhcpv4.Modifier{dhcpv4.WithYourIP(net.IPv4zero)}, "lease without a usable address (0.0.0.0)"},
		{"loopback", []dhcpv4.Modifier{dhcpv4.WithYourIP(net.IPv4(127, 0, 0, 9))}, "lease without a usable address (127.0.0.9)"},
		{"broadcast", []dhcpv4.Modifier{dhcpv4.WithYourIP(net.IPv4bcast)}, "lease without a usable address (255.255.255.255)"},
		{"non-contiguous mask", []dhcpv4.Modifier{dhcpv4.WithNetmask(net.IPv4Mask(255, 0, 255, 0))}, "lease of 192.168.77.50 with invalid subnet mask ff00ff00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := configFromACK(newACK(t, tc.mods...), 0)
			if err == nil || err.Error() != tc.want {
				t.Errorf("configFromACK = %v, %v; want error %q", c, err, tc.want)
			}
		})
	}
}

func TestValidDomain(t *testing.T) {
	tests := map[string]bool{
		"example.test":            true,
		"a-b_c.EXAMPLE":           true,
		"":                        false,
		"a..b":                    false,
		"with space":              false,
		"new\nline":               false,
		"semi;colon":              false,
		string(make([]byte, 254)): false,
	}
	for in, want := range tests {
		if got := netconfig.ValidDomain(in); got != want {
			t.Errorf("netconfig.ValidDomain(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestLinkConfigString(t *testing.T) {
	tests := []struct {
		name string
		cfg  linkConfig
		want string
	}{
		{
			name: "the log line of the design",
			cfg: linkConfig{
				Addr:   pfx("10.0.2.15/24"),
				Routes: []route{{Dst: pfx("0.0.0.0/0"), Gw: ipa("10.0.2.2")}},
				DNS:    []netip.Addr{ipa("10.0.2.3")},
				Lease:  24 * time.Hour,
			},
			want: "10.0.2.15/24 gw 10.0.2.2 dns 10.0.2.3 for 24h0m0s",
		},
		{
			name: "everything",
			cfg: linkConfig{
				Addr: pfx("192.168.77.50/24"),
				Routes: []route{
					{Dst: pfx("10.0.0.0/8"), Gw: ipa("192.168.77.2")},
					{Dst: pfx("0.0.0.0/0"), Gw: ipa("192.168.77.1")},
				},
				DNS:    []netip.Addr{ipa("192.168.77.53"), ipa("9.9.9.9")},
				Search: []string{"example.test", "lab.test"},
				MTU:    1400,
				Lease:  infiniteLease,
			},
			want: "192.168.77.50/24 gw 192.168.77.1 routes 2 dns 192.168.77.53,9.9.9.9 search example.test,lab.test mtu 1400 forever",
		},
		{
			name: "bare",
			cfg:  linkConfig{Addr: pfx("192.168.77.50/24"), Lease: 30 * time.Second},
			want: "192.168.77.50/24 for 30s",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.cfg.String()); diff != "" {
				t.Errorf("String (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLeaseTimes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lt := timesOf(t0, linkConfig{Lease: 1000 * time.Second, T1: 500 * time.Second, T2: 875 * time.Second})
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tests := []struct {
		now       float64 // seconds after the start of the lease
		wantPhase phase
		wantNext  float64
	}{
		{now: 0, wantPhase: bound, wantNext: 500},
		{now: 499, wantPhase: bound, wantNext: 500},
		// Renewing: half the time to T2...
		{now: 500, wantPhase: renewing, wantNext: 687.5},
		// ...but at least a minute...
		{now: 780, wantPhase: renewing, wantNext: 840},
		// ...and never past T2.
		{now: 850, wantPhase: renewing, wantNext: 875},
		{now: 875, wantPhase: rebinding, wantNext: 937.5},
		{now: 930, wantPhase: rebinding, wantNext: 990},
		{now: 990, wantPhase: rebinding, wantNext: 1000},
		{now: 1000, wantPhase: expired, wantNext: 1000},
	}
	for _, tc := range tests {
		t.Run(time.Duration(tc.now*float64(time.Second)).String(), func(t *testing.T) {
			now := at(tc.now)
			if got := lt.phase(now); got != tc.wantPhase {
				t.Errorf("phase = %s, want %s", got, tc.wantPhase)
			}
			if got, want := lt.next(now), at(tc.wantNext); !got.Equal(want) {
				t.Errorf("next = %s after start, want %s", got.Sub(t0), want.Sub(t0))
			}
		})
	}
}
