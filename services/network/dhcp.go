package network

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// leaser is the DHCPv4 side of one link: the three exchanges of RFC 2131
// section 4.4. dhcpClient is the real one; tests script one.
type leaser interface {
	// Discover gets a new lease: DISCOVER, OFFER, REQUEST, ACK, broadcast.
	Discover(ctx context.Context) (*nclient4.Lease, error)
	// Renew extends a lease with the server that gave it (unicast).
	Renew(ctx context.Context, l *nclient4.Lease) (*nclient4.Lease, error)
	// Rebind extends a lease with any server (broadcast).
	Rebind(ctx context.Context, l *nclient4.Lease) (*nclient4.Lease, error)
}

// Retransmission of one exchange: 2s, 4s and 8s for an answer, so that a
// lost packet costs little and an absent server is noticed in 14s.
const (
	dhcpTimeout = 2 * time.Second
	dhcpRetries = 3
)

// requested are the options the client asks for.
var requested = []dhcpv4.OptionCode{
	dhcpv4.OptionSubnetMask,
	dhcpv4.OptionRouter,
	dhcpv4.OptionDomainNameServer,
	dhcpv4.OptionDomainName,
	dhcpv4.OptionDNSDomainSearchList,
	dhcpv4.OptionInterfaceMTU,
	dhcpv4.OptionClasslessStaticRoute,
	dhcpv4.OptionIPAddressLeaseTime,
	dhcpv4.OptionRenewTimeValue,
	dhcpv4.OptionRebindingTimeValue,
}

// dhcpClient runs the exchanges of one link with nclient4. Each exchange
// opens its own socket and closes it after: the raw socket of DISCOVER sees
// every IPv4 packet of the link, which is no load to carry while bound.
type dhcpClient struct {
	iface    string
	hostname string // sent as option 12 if not empty
}

func (d *dhcpClient) modifiers() []dhcpv4.Modifier {
	mods := []dhcpv4.Modifier{dhcpv4.WithRequestedOptions(requested...)}
	if d.hostname != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptHostName(d.hostname)))
	}
	return mods
}

// rawClient is a client that broadcasts on the link from 0.0.0.0.
func (d *dhcpClient) rawClient() (*nclient4.Client, error) {
	c, err := nclient4.New(d.iface, nclient4.WithTimeout(dhcpTimeout), nclient4.WithRetry(dhcpRetries))
	if err != nil {
		return nil, fmt.Errorf("open dhcp client: %w", err)
	}
	return c, nil
}

func (d *dhcpClient) Discover(ctx context.Context) (*nclient4.Lease, error) {
	c, err := d.rawClient()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	l, err := c.Request(ctx, d.modifiers()...)
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	return l, nil
}

// newXID gives each renewal its own transaction; nclient4 would reuse the
// one of the ACK.
func newXID() (dhcpv4.Modifier, error) {
	xid, err := dhcpv4.GenerateTransactionID()
	if err != nil {
		return nil, fmt.Errorf("generate transaction id: %w", err)
	}
	return dhcpv4.WithTransactionID(xid), nil
}

func (d *dhcpClient) Renew(ctx context.Context, l *nclient4.Lease) (*nclient4.Lease, error) {
	server := l.ACK.ServerIdentifier()
	if server == nil || server.IsUnspecified() {
		// Nobody to unicast to.
		return d.Rebind(ctx, l)
	}
	xid, err := newXID()
	if err != nil {
		return nil, err
	}
	// A plain UDP socket bound to the leased address: the REQUEST goes to
	// the server through the routing table and the ACK comes back to us.
	c, err := nclient4.New(d.iface,
		nclient4.WithUnicast(&net.UDPAddr{IP: l.ACK.YourIPAddr, Port: nclient4.ClientPort}),
		nclient4.WithServerAddr(&net.UDPAddr{IP: server, Port: nclient4.ServerPort}),
		nclient4.WithTimeout(dhcpTimeout), nclient4.WithRetry(dhcpRetries))
	if err != nil {
		return nil, fmt.Errorf("open dhcp client: %w", err)
	}
	defer c.Close()
	nl, err := c.Renew(ctx, l, append(d.modifiers(), xid)...)
	if err != nil {
		return nil, fmt.Errorf("renew %s with %s: %w", l.ACK.YourIPAddr, server, err)
	}
	return nl, nil
}

func (d *dhcpClient) Rebind(ctx context.Context, l *nclient4.Lease) (*nclient4.Lease, error) {
	xid, err := newXID()
	if err != nil {
		return nil, err
	}
	req, err := dhcpv4.NewRenewFromAck(l.ACK, append(d.modifiers(), xid)...)
	if err != nil {
		return nil, fmt.Errorf("build rebind request: %w", err)
	}
	c, err := d.rawClient()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// Any server may answer a rebinding client.
	ack, err := c.SendAndRead(ctx, nclient4.DefaultServers, req,
		nclient4.IsMessageType(dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak))
	if err != nil {
		return nil, fmt.Errorf("rebind %s: %w", l.ACK.YourIPAddr, err)
	}
	if ack.MessageType() == dhcpv4.MessageTypeNak {
		return nil, fmt.Errorf("rebind %s: %w", l.ACK.YourIPAddr, &nclient4.ErrNak{Offer: l.Offer, Nak: ack})
	}
	// The server that answered is the one to renew with from now on.
	return &nclient4.Lease{Offer: ack, ACK: ack, CreationTime: time.Now()}, nil
}

// backoff spaces out attempts that fail: min, doubling up to max, each
// stretched by up to a quarter at random so that hosts that booted together
// do not ask together.
type backoff struct {
	min, max time.Duration
}

// delay is the wait after failed attempt number n (from 0); r is a random
// number in [0, 1).
func (b backoff) delay(n int, r float64) time.Duration {
	d := b.min
	for i := 0; i < n && d < b.max; i++ {
		d *= 2
	}
	d += time.Duration(float64(d) * r / 4)
	return min(d, b.max)
}

// clock is time as the workers see it; tests replace it.
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
