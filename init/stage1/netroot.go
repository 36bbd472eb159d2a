package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berth-os/berth/init/cmdline"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/verity"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// A network root: berth.root=URL names the root squashfs on an HTTP
// server and berth.root.sha256 its digest, which is checked before the
// root is mounted (the PXE artifact's iPXE script writes both). Stage 1
// brings the NICs up, takes a DHCPv4 lease, downloads the squashfs into a
// tmpfs of its own (moved to layout.NetRootDir in the new root) and gives
// the network back as it found it: the network service configures it
// again.
const (
	netRootMount = "/netroot"
	// netTimeout bounds the wait for a NIC and a lease; fetchTimeout the
	// whole download, tries included.
	netTimeout   = 60 * time.Second
	fetchTimeout = 10 * time.Minute
	fetchTries   = 3
)

// fetchBackoff is the wait before the second try, twice that before the
// third.
var fetchBackoff = time.Second

// netRoot is a root to download: where from and what it must hash to.
type netRoot struct {
	URL    string
	SHA256 []byte
}

// netRootOf reads berth.root and berth.root.sha256. ok is false when the
// root is not a network one.
func netRootOf(flags cmdline.Flags) (r netRoot, ok bool, err error) {
	raw := flags.Get(layout.FlagRoot)
	if raw == "" {
		return r, false, nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return r, true, fmt.Errorf("%s=%s: %w", layout.FlagRoot, raw, err)
	case u.Scheme != "http":
		return r, true, fmt.Errorf("%s=%s: want an http:// URL (the digest in %s, not TLS, vouches for what arrives)", layout.FlagRoot, raw, layout.FlagRootSHA256)
	case u.Host == "":
		return r, true, fmt.Errorf("%s=%s: the URL names no host", layout.FlagRoot, raw)
	}
	sum := flags.Get(layout.FlagRootSHA256)
	d, err := hex.DecodeString(sum)
	if err != nil || len(d) != sha256.Size {
		return r, true, fmt.Errorf("%s=%q: want the root's sha256 in 64 hex digits; a network root is never mounted unverified", layout.FlagRootSHA256, sum)
	}
	return netRoot{URL: u.String(), SHA256: d}, true, nil
}

// mountNetRoot brings the network up, downloads the root, gives the
// network back and mounts the root on newRoot through a loop device.
func mountNetRoot(r netRoot, vp *verity.Params) error {
	os.MkdirAll(netRootMount, 0o755)
	if err := unix.Mount("tmpfs", netRootMount, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", netRootMount, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), netTimeout)
	defer cancel()
	down, err := upNetwork(ctx)
	if err != nil {
		return err
	}
	file := filepath.Join(netRootMount, sqfsName)
	ctx, cancel = context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	err = fetchRoot(ctx, http.DefaultClient, r, file)
	down()
	if err != nil {
		return err
	}
	img, err := os.Open(file)
	if err != nil {
		return err
	}
	defer img.Close()
	return mountLoop(img, vp)
}

const sqfsName = "rootfs.squashfs"

// fetchRoot downloads r into file, trying again on a broken transfer or
// a server error, and keeps it only when its sha256 is r's.
func fetchRoot(ctx context.Context, c *http.Client, r netRoot, file string) error {
	var err error
	for try := 1; try <= fetchTries; try++ {
		if try > 1 {
			logf("fetch %s: %v; trying again (%d of %d)", r.URL, err, try, fetchTries)
			select {
			case <-ctx.Done():
				return fmt.Errorf("fetch %s: %w (then %w)", r.URL, err, ctx.Err())
			case <-time.After(time.Duration(try-1) * fetchBackoff):
			}
		}
		var again bool
		again, err = fetchOnce(ctx, c, r, file)
		if err == nil || !again {
			break
		}
	}
	if err != nil {
		os.Remove(file)
		return fmt.Errorf("fetch %s: %w", r.URL, err)
	}
	return nil
}

// fetchOnce makes one try; again says whether another may succeed.
func fetchOnce(ctx context.Context, c *http.Client, r netRoot, file string) (again bool, err error) {
	began := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return false, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode >= 500, fmt.Errorf("the server answered %s", resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return false, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return true, fmt.Errorf("after %d bytes: %w", n, err)
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		return true, fmt.Errorf("got %d bytes of %d", n, resp.ContentLength)
	}
	if got := h.Sum(nil); string(got) != string(r.SHA256) {
		return false, fmt.Errorf("its sha256 is %x, but %s says %x: not mounting it", got, layout.FlagRootSHA256, r.SHA256)
	}
	secs := time.Since(began).Seconds()
	logf("fetched %s: %.1f MiB in %.1fs, sha256 %x", r.URL, float64(n)/(1<<20), secs, r.SHA256)
	return false, nil
}

// upNetwork waits for Ethernet NICs, brings them up and configures the
// first DHCPv4 lease any of them gets. down undoes all of it.
func upNetwork(ctx context.Context) (down func(), err error) {
	links, err := waitLinks(ctx)
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		if err := netlink.LinkSetUp(l); err != nil {
			logf("link %s up: %v", l.Attrs().Name, err)
		}
	}
	setDown := func() {
		for _, l := range links {
			netlink.LinkSetDown(l)
		}
	}
	l, lease, err := firstLease(ctx, links)
	if err != nil {
		setDown()
		return nil, err
	}
	undo, err := applyLease(l, lease.ACK)
	if err != nil {
		setDown()
		return nil, err
	}
	return func() { undo(); setDown() }, nil
}

// waitLinks returns the Ethernet links once there is one.
func waitLinks(ctx context.Context) ([]netlink.Link, error) {
	for {
		all, err := netlink.LinkList()
		if err != nil {
			return nil, fmt.Errorf("list links: %w", err)
		}
		var out []netlink.Link
		for _, l := range all {
			if l.Attrs().EncapType == "ether" && l.Type() == "device" {
				out = append(out, l)
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no network interface appeared for %s: %w", layout.FlagRoot, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// firstLease asks for a lease on every link at once and keeps the first.
func firstLease(ctx context.Context, links []netlink.Link) (netlink.Link, *nclient4.Lease, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		link  netlink.Link
		lease *nclient4.Lease
		err   error
	}
	answers := make(chan answer, len(links))
	var wg sync.WaitGroup
	for _, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lease, err := leaseOn(ctx, l.Attrs().Name)
			answers <- answer{l, lease, err}
		}()
	}
	go func() { wg.Wait(); close(answers) }()
	var errs []error
	for a := range answers {
		if a.err == nil {
			return a.link, a.lease, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", a.link.Attrs().Name, a.err))
	}
	return nil, nil, fmt.Errorf("no DHCP lease for %s: %w", layout.FlagRoot, errors.Join(errs...))
}

// leaseOn runs DHCP on one link until it gets a lease or ctx ends.
func leaseOn(ctx context.Context, iface string) (*nclient4.Lease, error) {
	for {
		c, err := nclient4.New(iface, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(2))
		if err != nil {
			return nil, err
		}
		lease, err := c.Request(ctx, dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionDomainNameServer))
		c.Close()
		if err == nil {
			return lease, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
}

// applyLease gives link the lease's address, its default route and its
// name servers; undo takes them away.
func applyLease(link netlink.Link, ack *dhcpv4.DHCPv4) (undo func(), err error) {
	mask := ack.SubnetMask()
	if mask == nil {
		mask = ack.YourIPAddr.DefaultMask()
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ack.YourIPAddr, Mask: mask}}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return nil, fmt.Errorf("%s: add %s: %w", link.Attrs().Name, addr.IPNet, err)
	}
	undo = func() { netlink.AddrDel(link, addr) }
	if gws := ack.Router(); len(gws) > 0 {
		rt := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: gws[0]}
		if err := netlink.RouteAdd(rt); err != nil {
			logf("%s: default route via %s: %v", link.Attrs().Name, gws[0], err)
		} else {
			undo = func() { netlink.RouteDel(rt); netlink.AddrDel(link, addr) }
		}
	}
	var resolv strings.Builder
	for _, ns := range ack.DNS() {
		fmt.Fprintf(&resolv, "nameserver %s\n", ns)
	}
	os.MkdirAll("/etc", 0o755)
	if err := os.WriteFile("/etc/resolv.conf", []byte(resolv.String()), 0o644); err != nil {
		logf("write /etc/resolv.conf: %v", err)
	}
	logf("%s: %s from DHCP server %s", link.Attrs().Name, addr.IPNet, ack.ServerIdentifier())
	return undo, nil
}
