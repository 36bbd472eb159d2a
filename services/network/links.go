package network

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// parsePatterns splits the -interfaces flag into name patterns.
func parsePatterns(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("interface pattern %q: %w", p, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// wantLink says whether the service runs DHCP on l. Without patterns that is
// every ethernet device: a link with no netlink kind (a physical or virtio
// NIC, type "device") and ethernet framing. With patterns it is every
// ethernet link whose name matches one of them, whatever its kind. Loopback
// and links enslaved to a bond or bridge never qualify.
func wantLink(l netlink.Link, patterns []string) bool {
	a := l.Attrs()
	if a.Name == "lo" || a.Flags&net.FlagLoopback != 0 {
		return false
	}
	if a.EncapType != "ether" || a.MasterIndex != 0 {
		return false
	}
	if len(patterns) == 0 {
		return l.Type() == "device"
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, a.Name); ok {
			return true
		}
	}
	return false
}

// hasCarrier says whether l can carry packets: its operational state is up
// (RFC 2863). The kernel sets that state only after it has readied the
// link's queue, while IFF_LOWER_UP comes earlier, when a packet sent may
// still be dropped. A link whose driver reports no state counts by
// IFF_LOWER_UP.
func hasCarrier(l netlink.Link) bool {
	a := l.Attrs()
	switch a.OperState {
	case netlink.OperUp:
		return true
	case netlink.OperUnknown:
		return a.RawFlags&unix.IFF_LOWER_UP != 0
	}
	return false
}

// linkEvent is what watchLinks reports.
type linkEvent struct {
	Links []netlink.Link
	// Full means Links is every link there is: any other is gone.
	Full bool
	// Deleted means the links were removed.
	Deleted bool
}

// watchLinks sends a full list of links to out, then every change, until ctx
// is done; then it closes out. If the subscription breaks (an overrun of the
// netlink socket, say) it subscribes again and sends a new full list.
func watchLinks(ctx context.Context, h *netlink.Handle, out chan<- linkEvent, logger *log.Logger) {
	defer close(out)
	retry := backoff{min: time.Second, max: 30 * time.Second}
	for attempt := 0; ; attempt++ {
		err := watchOnce(ctx, h, out)
		if ctx.Err() != nil {
			return
		}
		d := retry.delay(attempt, rand.Float64())
		logger.Printf("watch links: %v; again in %s", err, d)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return
		}
	}
}

func watchOnce(ctx context.Context, h *netlink.Handle, out chan<- linkEvent) error {
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	errc := make(chan error, 1)
	opts := netlink.LinkSubscribeOptions{ErrorCallback: func(err error) {
		select {
		case errc <- err:
		default:
		}
	}}
	if err := netlink.LinkSubscribeWithOptions(updates, done, opts); err != nil {
		close(done)
		return fmt.Errorf("subscribe to link updates: %w", err)
	}
	defer func() {
		close(done)
		// The receiving goroutine of netlink may be blocked sending to
		// updates: drain it until netlink closes it.
		go func() {
			for range updates {
			}
		}()
	}()
	// List after subscribing, so that no change falls between the two.
	links, err := listLinks(h)
	if err != nil {
		return err
	}
	if !send(ctx, out, linkEvent{Links: links, Full: true}) {
		return nil
	}
	for {
		select {
		case u, ok := <-updates:
			if !ok {
				err := errors.New("closed")
				select {
				case err = <-errc:
				default:
				}
				return fmt.Errorf("link updates: %w", err)
			}
			ev := linkEvent{Links: []netlink.Link{u.Link}, Deleted: u.Header.Type == unix.RTM_DELLINK}
			if !send(ctx, out, ev) {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// listLinks lists every link. A dump that a change interrupted may miss
// links, which the service would take for gone: it is done again.
func listLinks(h *netlink.Handle) ([]netlink.Link, error) {
	var err error
	for range 5 {
		var links []netlink.Link
		links, err = h.LinkList()
		if err == nil {
			return links, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return nil, fmt.Errorf("list links: %w", err)
}

func send(ctx context.Context, out chan<- linkEvent, ev linkEvent) bool {
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// loopback is what lo must carry.
var loopback = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.1/8"),
	netip.MustParsePrefix("::1/128"),
}

// missingPrefixes returns the prefixes of want that are not in have.
func missingPrefixes(have, want []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
				break
			}
		}
		if !found {
			out = append(out, w)
		}
	}
	return out
}

// setupLoopback sets lo up and adds 127.0.0.1/8 and ::1 if they are missing
// (the kernel usually adds them itself when lo comes up). A failure to add
// ::1, on a kernel without IPv6, is not an error.
func setupLoopback(h *netlink.Handle) error {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	addrs, err := h.AddrList(lo, netlink.FAMILY_ALL)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return fmt.Errorf("list addresses of lo: %w", err)
	}
	var have []netip.Prefix
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok {
			have = append(have, p)
		}
	}
	for _, p := range missingPrefixes(have, loopback) {
		a := &netlink.Addr{IPNet: ipNet(p), Scope: unix.RT_SCOPE_HOST}
		if err := h.AddrAdd(lo, a); err != nil {
			if p.Addr().Is6() {
				continue
			}
			return fmt.Errorf("add address %s to lo: %w", p, err)
		}
	}
	return nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

func ipNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}
