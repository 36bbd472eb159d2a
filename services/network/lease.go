package network

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/berth-os/berth/internal/netconfig"
)

// linkConfig is what one DHCPv4 lease asks of its link and of the resolver.
type linkConfig struct {
	Addr   netip.Prefix // our address with the subnet's prefix length
	Routes []route      // on-link routes first, then routes through gateways
	MTU    int          // 0: leave the MTU alone
	DNS    []netip.Addr
	Search []string
	Server netip.Addr // the server identifier

	// Lease is how long the address is ours; T1 and T2 are when to renew
	// with the server and when to rebind with any server, all counted from
	// the moment the request was sent.
	Lease, T1, T2 time.Duration
}

// route is one route of a lease (IPv4) or of the configuration.
type route struct {
	Dst    netip.Prefix
	Gw     netip.Addr // invalid: the destination is on-link
	Src    netip.Addr // preferred source: the leased address; invalid: none
	Metric int
	// Static marks a route of the configuration (protocol static), not
	// of a lease (protocol dhcp).
	Static bool
}

func (r route) String() string {
	s := r.Dst.String()
	if r.Gw.IsValid() {
		s += " via " + r.Gw.String()
	}
	if r.Src.IsValid() {
		s += " src " + r.Src.String()
	}
	s += fmt.Sprintf(" metric %d", r.Metric)
	if r.Static {
		s += " static"
	}
	return s
}

// address is one address to put on a link. A zero Lifetime is forever.
type address struct {
	Prefix   netip.Prefix
	Lifetime time.Duration
}

func (a address) String() string {
	if a.Lifetime == 0 {
		return a.Prefix.String() + " forever"
	}
	return fmt.Sprintf("%s for %s", a.Prefix, a.Lifetime)
}

// Limits on what a server may ask.
const (
	// minLease keeps a server from making us renew in a hot loop.
	minLease = 10 * time.Second
	// infiniteLease is the 0xffffffff seconds of RFC 2131 section 3.3.
	infiniteLease = time.Duration(0xffffffff) * time.Second
	// minMTU is the smallest IPv4 datagram every host must accept (RFC
	// 791); a smaller option 26 is ignored as nonsense.
	minMTU = 576
)

var defaultRoute = netip.MustParsePrefix("0.0.0.0/0")

// configFromACK translates the ACK of a lease into the configuration of its
// link. Routes get the given metric, so that the leases of several links do
// not replace each other's default route.
func configFromACK(ack *dhcpv4.DHCPv4, metric int) (linkConfig, error) {
	var c linkConfig
	ip, ok := addr4(ack.YourIPAddr)
	if !ok || !ip.IsGlobalUnicast() {
		return c, fmt.Errorf("lease without a usable address (%v)", ack.YourIPAddr)
	}
	mask := ack.SubnetMask()
	if mask == nil {
		// No option 1: fall back to the class of the address, as
		// RFC 2131 clients traditionally do.
		mask = ack.YourIPAddr.DefaultMask()
	}
	ones, bits := mask.Size()
	if bits != 32 {
		return c, fmt.Errorf("lease of %s with invalid subnet mask %v", ip, mask)
	}
	c.Addr = netip.PrefixFrom(ip, ones)
	c.Server, _ = addr4(ack.ServerIdentifier())

	c.Lease = ack.IPAddressLeaseTime(infiniteLease)
	if c.Lease < minLease {
		c.Lease = minLease
	}
	c.T1 = ack.IPAddressRenewalTime(c.Lease / 2)
	c.T2 = ack.IPAddressRebindingTime(c.Lease / 8 * 7)
	if !(0 < c.T1 && c.T1 < c.T2 && c.T2 < c.Lease) {
		c.T1, c.T2 = c.Lease/2, c.Lease/8*7
	}

	if mtu, err := dhcpv4.GetUint16(dhcpv4.OptionInterfaceMTU, ack.Options); err == nil && mtu >= minMTU {
		c.MTU = int(mtu)
	}

	c.Routes = routesOf(ack, c.Addr, metric)

	for _, d := range ack.DNS() {
		if a, ok := addr4(d); ok && !a.IsUnspecified() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255}) && !slices.Contains(c.DNS, a) {
			c.DNS = append(c.DNS, a)
		}
	}

	var search []string
	if labels := ack.DomainSearch(); labels != nil {
		search = labels.Labels
	} else if name := ack.DomainName(); name != "" {
		search = strings.Fields(name)
	}
	for _, s := range search {
		s = strings.TrimSuffix(s, ".")
		if netconfig.ValidDomain(s) && !slices.Contains(c.Search, s) {
			c.Search = append(c.Search, s)
		}
	}
	return c, nil
}

// routesOf returns the routes of a lease: the classless static routes of
// option 121 if there are any (RFC 3442 says the router option must then be
// ignored), else a default route through the first router of option 3. A
// gateway outside the leased subnet gets an on-link host route first, so
// that the kernel can reach it.
func routesOf(ack *dhcpv4.DHCPv4, local netip.Prefix, metric int) []route {
	var routes []route
	if static := ack.ClasslessStaticRoute(); len(static) > 0 {
		for _, r := range static {
			dst, ok := prefixOf(r.Dest)
			if !ok || !dst.Addr().Is4() {
				continue
			}
			rt := route{Dst: dst.Masked(), Src: local.Addr(), Metric: metric}
			if gw, ok := addr4(r.Router); ok && !gw.IsUnspecified() {
				rt.Gw = gw
			}
			routes = append(routes, rt)
		}
	} else {
		for _, r := range ack.Router() {
			if gw, ok := addr4(r); ok && !gw.IsUnspecified() {
				routes = append(routes, route{Dst: defaultRoute, Gw: gw, Src: local.Addr(), Metric: metric})
				break
			}
		}
	}
	var onLink []route
	for _, r := range routes {
		if !r.Gw.IsValid() || local.Contains(r.Gw) {
			continue
		}
		host := route{Dst: netip.PrefixFrom(r.Gw, 32), Src: local.Addr(), Metric: metric}
		if !slices.Contains(onLink, host) && !slices.Contains(routes, host) {
			onLink = append(onLink, host)
		}
	}
	// On-link routes before the routes that need them.
	all := append(onLink, routes...)
	slices.SortStableFunc(all, func(a, b route) int {
		switch {
		case !a.Gw.IsValid() && b.Gw.IsValid():
			return -1
		case a.Gw.IsValid() && !b.Gw.IsValid():
			return 1
		}
		return 0
	})
	return all
}

func addr4(ip net.IP) (netip.Addr, bool) {
	ip4 := ip.To4()
	if ip4 == nil {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(ip4)), true
}

// gateway is the router of the default route, if there is one.
func (c linkConfig) gateway() (netip.Addr, bool) {
	for _, r := range c.Routes {
		if r.Dst == defaultRoute && r.Gw.IsValid() {
			return r.Gw, true
		}
	}
	return netip.Addr{}, false
}

// String is how a lease shows in the log:
// "10.0.2.15/24 gw 10.0.2.2 dns 10.0.2.3 for 24h0m0s".
func (c linkConfig) String() string {
	var b strings.Builder
	b.WriteString(c.Addr.String())
	if gw, ok := c.gateway(); ok {
		b.WriteString(" gw " + gw.String())
	}
	if n := len(c.Routes); n > 0 {
		if _, ok := c.gateway(); !ok || n > 1 {
			fmt.Fprintf(&b, " routes %d", n)
		}
	}
	if len(c.DNS) > 0 {
		dns := make([]string, len(c.DNS))
		for i, d := range c.DNS {
			dns[i] = d.String()
		}
		b.WriteString(" dns " + strings.Join(dns, ","))
	}
	if len(c.Search) > 0 {
		b.WriteString(" search " + strings.Join(c.Search, ","))
	}
	if c.MTU > 0 {
		fmt.Fprintf(&b, " mtu %d", c.MTU)
	}
	if c.Lease >= infiniteLease {
		b.WriteString(" forever")
	} else {
		fmt.Fprintf(&b, " for %s", c.Lease)
	}
	return b.String()
}

// address is the leased address as it goes on the link, with the lease as
// its lifetime so that the kernel drops it if nobody renews it.
func (c linkConfig) address() address {
	a := address{Prefix: c.Addr}
	if c.Lease < infiniteLease {
		a.Lifetime = c.Lease
	}
	return a
}

// phase is where a lease stands in its life (RFC 2131 section 4.4.5).
type phase int

const (
	bound     phase = iota // before T1: nothing to do
	renewing               // T1 to T2: ask the server that gave the lease
	rebinding              // T2 to expiry: ask any server
	expired                // the address is no longer ours
)

func (p phase) String() string {
	switch p {
	case bound:
		return "bound"
	case renewing:
		return "renewing"
	case rebinding:
		return "rebinding"
	case expired:
		return "expired"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// minRetry is the shortest wait between two renewal attempts (RFC 2131
// section 4.4.5), unless the next phase comes sooner.
const minRetry = 60 * time.Second

// leaseTimes are the moments of a lease.
type leaseTimes struct {
	Renew, Rebind, Expiry time.Time
}

func timesOf(start time.Time, c linkConfig) leaseTimes {
	return leaseTimes{Renew: start.Add(c.T1), Rebind: start.Add(c.T2), Expiry: start.Add(c.Lease)}
}

func (t leaseTimes) phase(now time.Time) phase {
	switch {
	case now.Before(t.Renew):
		return bound
	case now.Before(t.Rebind):
		return renewing
	case now.Before(t.Expiry):
		return rebinding
	}
	return expired
}

// next is when to try again after an attempt that failed at now: half the
// time left to the next phase, at least minRetry, but no later than that
// phase.
func (t leaseTimes) next(now time.Time) time.Time {
	var end time.Time
	switch t.phase(now) {
	case bound:
		return t.Renew
	case renewing:
		end = t.Rebind
	case rebinding:
		end = t.Expiry
	default:
		return now
	}
	wait := max(end.Sub(now)/2, minRetry)
	if at := now.Add(wait); at.Before(end) {
		return at
	}
	return end
}
