package network

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/rfc1035label"

	"github.com/berth-os/berth/internal/fuzzmem"
	"github.com/berth-os/berth/internal/netconfig"
)

// leaseBound: a DHCP answer is one UDP datagram (at most 64 KiB, 300 to
// 600 bytes in practice) from anyone on the link. Decoding it and reading
// the lease allocates about 2 KiB for the seeds; 256 bytes a byte leaves
// room for options that hold many addresses or routes, and for the
// compression pointers of the domain search list.
var leaseBound = fuzzmem.Bound{Base: 4 * fuzzmem.MiB, PerByte: 256}

// ackSeed is an ACK for 192.168.77.50 from 192.168.77.1, plus mods, as the
// server sends it.
func ackSeed(f *testing.F, mods ...dhcpv4.Modifier) []byte {
	return newACK(f, mods...).ToBytes()
}

// A DHCP answer of any shape never panics the decoder or configFromACK, is
// read within leaseBound, and what configFromACK accepts is a lease the
// link can take: a global unicast address, T1 < T2 < lease, no lease
// shorter than minLease, an MTU of 0 or at least minMTU, routes from the
// leased address with the on-link ones first, and no unspecified
// nameserver or invalid search domain.
func FuzzLease(f *testing.F) {
	f.Add(ackSeed(f, lan(time.Hour)...))
	f.Add(ackSeed(f, dhcpv4.WithLeaseTime(1)))
	f.Add(ackSeed(f, dhcpv4.WithNetmask(net.CIDRMask(24, 32)), dhcpv4.WithLeaseTime(60),
		dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(
			&dhcpv4.Route{Dest: ipnet("0.0.0.0/0"), Router: net.IPv4(10, 9, 9, 1)},
			&dhcpv4.Route{Dest: ipnet("10.8.0.0/16"), Router: net.IPv4(0, 0, 0, 0)},
		)),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x05, 0xdc})),
		dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(50*time.Second)),
		dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(40*time.Second)),
	))
	f.Add(ackSeed(f, dhcpv4.WithOption(dhcpv4.OptDomainSearch(&rfc1035label.Labels{Labels: []string{"a.example", "b.a.example", "c.b.a.example"}})),
		dhcpv4.WithOption(dhcpv4.OptDomainName("x.test y.test bad..name")),
		dhcpv4.WithDNS(net.IPv4(0, 0, 0, 0), net.IPv4(255, 255, 255, 255), net.IPv4(1, 1, 1, 1), net.IPv4(1, 1, 1, 1))))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var c linkConfig
		var err error
		fuzzmem.Check(t, leaseBound, len(data), func() {
			ack, perr := dhcpv4.FromBytes(data)
			if perr != nil {
				err = perr
				return
			}
			if c, err = configFromACK(ack, 1026); err == nil {
				_ = c.String()
				times := timesOf(time.Unix(0, 0), c)
				times.next(time.Unix(0, 0).Add(c.T1))
			}
		})
		if err != nil {
			return
		}
		if !c.Addr.Addr().IsGlobalUnicast() {
			t.Errorf("leased address %s is not global unicast", c.Addr)
		}
		if c.Lease < minLease || !(0 < c.T1 && c.T1 < c.T2 && c.T2 < c.Lease) {
			t.Errorf("lease %s, T1 %s, T2 %s: want minLease <= lease and 0 < T1 < T2 < lease", c.Lease, c.T1, c.T2)
		}
		if c.MTU != 0 && c.MTU < minMTU {
			t.Errorf("MTU %d under %d", c.MTU, minMTU)
		}
		onLink := true
		for _, r := range c.Routes {
			if r.Src != c.Addr.Addr() || r.Metric != 1026 {
				t.Errorf("route %s: want src %s metric 1026", r, c.Addr.Addr())
			}
			if r.Gw.IsValid() {
				onLink = false
			} else if !onLink {
				t.Errorf("on-link route %s after a route through a gateway: %v", r, c.Routes)
			}
		}
		for _, d := range c.DNS {
			if d.IsUnspecified() || d == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
				t.Errorf("nameserver %s", d)
			}
		}
		for i, s := range c.Search {
			if !netconfig.ValidDomain(s) || slices.Index(c.Search, s) != i {
				t.Errorf("search domain %q invalid or repeated in %q", s, c.Search)
			}
		}
	})
}
