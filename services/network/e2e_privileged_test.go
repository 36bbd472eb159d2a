//go:build privileged

// The end-to-end test needs root: it makes two network namespaces joined by
// veth pairs, runs a DHCPv4 server in one and the service, as a child
// process, in the other. It never touches the namespace it started in.
//
//	go test -tags privileged -run TestEndToEnd -v ./services/network/

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/notify"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// serviceEnv makes the test binary be the service, for the child process.
const serviceEnv = "BERTH_NETWORK_TEST_SERVICE"

func TestMain(m *testing.M) {
	if os.Getenv(serviceEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		err := run(ctx, os.Args[1:], os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintf(os.Stderr, "network: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// inNS runs f on an OS thread in ns. The thread is never unlocked, so the Go
// runtime ends it with the goroutine and no other goroutine runs in ns.
func inNS(ns netns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter netns: %w", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// newNS makes a network namespace that lives as long as the test.
func newNS(t *testing.T) (netns.NsHandle, *netlink.Handle) {
	t.Helper()
	nsc := make(chan netns.NsHandle, 1)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies in the new namespace
		ns, err := netns.New()
		nsc <- ns
		errc <- err
	}()
	ns := <-nsc
	if err := <-errc; err != nil {
		t.Fatalf("new netns: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle in new netns: %v", err)
	}
	t.Cleanup(h.Close)
	return ns, h
}

// subnet is what one test server hands out.
type subnet struct {
	server, client, dns net.IP
	search              string
	lease               time.Duration
	mtu                 uint16
}

// seen is one message the server got.
type seen struct {
	at       time.Time
	typ      dhcpv4.MessageType
	from     net.IP
	ciaddr   net.IP
	hostname string
}

// testServer answers every DISCOVER and REQUEST of its link with the one
// lease of its subnet, and remembers what it got.
type testServer struct {
	sub subnet
	// dropUnicast makes the server deaf to unicast REQUESTs, as if it were
	// unreachable: a client can only rebind.
	dropUnicast bool

	mu    sync.Mutex
	got   []seen
	acked bool
	// renewed gets every REQUEST that came after an ACK.
	renewed chan seen
}

func (s *testServer) handle(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	msg := seen{at: time.Now(), typ: m.MessageType(), ciaddr: m.ClientIPAddr, hostname: m.HostName()}
	if u, ok := peer.(*net.UDPAddr); ok {
		msg.from = u.IP
	}
	var reply dhcpv4.MessageType
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		reply = dhcpv4.MessageTypeOffer
	case dhcpv4.MessageTypeRequest:
		reply = dhcpv4.MessageTypeAck
	}
	if s.dropUnicast && !msg.from.Equal(net.IPv4bcast) {
		reply = dhcpv4.MessageTypeNone
	}
	s.mu.Lock()
	s.got = append(s.got, msg)
	if reply == dhcpv4.MessageTypeAck {
		if s.acked {
			select {
			case s.renewed <- msg:
			default:
			}
		}
		s.acked = true
	}
	s.mu.Unlock()
	if reply == dhcpv4.MessageTypeNone {
		return
	}

	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(reply),
		dhcpv4.WithYourIP(s.sub.client),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(s.sub.server)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(s.sub.server),
		dhcpv4.WithDNS(s.sub.dns),
		dhcpv4.WithLeaseTime(uint32(s.sub.lease / time.Second)),
	}
	if s.sub.search != "" {
		mods = append(mods, dhcpv4.WithDomainSearchList(s.sub.search))
	}
	if s.sub.mtu != 0 {
		mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{byte(s.sub.mtu >> 8), byte(s.sub.mtu)}))
	}
	resp, err := dhcpv4.NewReplyFromRequest(m, mods...)
	if err != nil {
		return
	}
	conn.WriteTo(resp.ToBytes(), peer)
}

func (s *testServer) messages() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.got...)
}

// addPair makes the veth pair srv/cli in srvNS, gives srv the server's
// address and starts a DHCP server on it. The caller moves cli.
func addPair(t *testing.T, srvNS netns.NsHandle, srvH *netlink.Handle, srv, cli string, ts *testServer) netlink.Link {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: srv}, PeerName: cli}
	if err := srvH.LinkAdd(veth); err != nil {
		t.Fatalf("add veth %s/%s: %v", srv, cli, err)
	}
	l, err := srvH.LinkByName(srv)
	if err != nil {
		t.Fatal(err)
	}
	ts.renewed = make(chan seen, 10)
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ts.sub.server, Mask: net.CIDRMask(24, 32)}}
	if err := srvH.AddrAdd(l, addr); err != nil {
		t.Fatalf("add %s to %s: %v", addr, srv, err)
	}
	if err := srvH.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	var conn *net.UDPConn
	if err := inNS(srvNS, func() (err error) {
		conn, err = server4.NewIPv4UDPConn(srv, &net.UDPAddr{Port: dhcpv4.ServerPort})
		return err
	}); err != nil {
		t.Fatalf("dhcp server socket on %s: %v", srv, err)
	}
	s, err := server4.NewServer("", nil, ts.handle, server4.WithConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	cl, err := srvH.LinkByName(cli)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// eventually polls f until it returns nil.
func eventually(t *testing.T, what string, timeout time.Duration, f func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

func hasAddr(h *netlink.Handle, link, cidr string) (netlink.Addr, error) {
	l, err := h.LinkByName(link)
	if err != nil {
		return netlink.Addr{}, err
	}
	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return netlink.Addr{}, err
	}
	for _, a := range addrs {
		if a.IPNet.String() == cidr {
			return a, nil
		}
	}
	return netlink.Addr{}, fmt.Errorf("%s not on %s (%v)", cidr, link, addrs)
}

func hasDefaultRoute(h *netlink.Handle, link string, gw net.IP) error {
	l, err := h.LinkByName(link)
	if err != nil {
		return err
	}
	routes, err := h.RouteList(l, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	for _, r := range routes {
		isDefault := r.Dst == nil
		if r.Dst != nil {
			ones, _ := r.Dst.Mask.Size()
			isDefault = ones == 0
		}
		if isDefault && r.Gw.Equal(gw) {
			return nil
		}
	}
	return fmt.Errorf("no default route via %s on %s (%v)", gw, link, routes)
}

func fileIs(path, want string) func() error {
	return func() error {
		got, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if string(got) != want {
			return fmt.Errorf("%s is\n%s\nwant\n%s", path, got, want)
		}
		return nil
	}
}

// serviceProcess is the service running in a child process.
type serviceProcess struct {
	cmd     *exec.Cmd
	start   time.Time
	resolv  string
	notify  *net.UnixConn
	exited  chan error
	mu      sync.Mutex
	out     bytes.Buffer
	stopped bool
}

// startService starts the service in ns with a notify socket of its own and
// a resolv.conf under a directory that does not exist yet.
func startServiceProcess(t *testing.T, ns netns.NsHandle, args ...string) *serviceProcess {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &serviceProcess{
		resolv: filepath.Join(dir, "run", "berth", "network", "resolv.conf"),
		notify: l,
		exited: make(chan error, 1),
	}
	p.cmd = exec.Command(os.Args[0], append([]string{"-resolv", p.resolv}, args...)...)
	p.cmd.Env = append(os.Environ(), serviceEnv+"=1", notify.Env+"="+sock)
	p.cmd.Stdout = writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.out.Write(b)
	})
	p.cmd.Stderr = p.cmd.Stdout
	p.start = time.Now()
	// Forked from a thread in ns, the child lives there.
	if err := inNS(ns, p.cmd.Start); err != nil {
		t.Fatalf("start service: %v", err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if !p.stopped {
			p.cmd.Process.Kill()
			<-p.exited
		}
		t.Logf("service output:\n%s", p.output())
	})
	return p
}

func (p *serviceProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *serviceProcess) since() time.Duration { return time.Since(p.start).Round(time.Millisecond) }

// waitReady waits for the readiness message and checks its status.
func (p *serviceProcess) waitReady(t *testing.T, status string) {
	t.Helper()
	buf := make([]byte, 4096)
	p.notify.SetReadDeadline(time.Now().Add(90 * time.Second))
	n, err := p.notify.Read(buf)
	if err != nil {
		t.Fatalf("no readiness: %v", err)
	}
	f := notify.Parse(buf[:n])
	if f["READY"] != "1" || f["STATUS"] != status {
		t.Errorf("readiness message %q, want READY=1 with STATUS=%s", buf[:n], status)
	}
	t.Logf("ready after %s", p.since())
}

// stop sends SIGTERM and expects a clean exit.
func (p *serviceProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.stopped = true
		if err != nil {
			t.Errorf("service exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("service did not stop on SIGTERM")
	}
}

func (p *serviceProcess) logHas(t *testing.T, lines ...string) {
	t.Helper()
	out := p.output()
	for _, want := range lines {
		if !strings.Contains(out, want) {
			t.Errorf("service log lacks %q", want)
		}
	}
}

var lan77 = subnet{
	server: net.IPv4(192, 168, 77, 1).To4(),
	client: net.IPv4(192, 168, 77, 50).To4(),
	dns:    net.IPv4(192, 168, 77, 53).To4(),
	search: "example.test",
	lease:  30 * time.Second,
	mtu:    1400,
}

const resolv77 = "# written by berth network\nnameserver 192.168.77.53\nsearch example.test\n"

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the privileged tests need root")
	}
}

// TestEndToEnd: lease, readiness, resolv.conf, a link that comes and goes,
// a unicast renewal at T1, a clean stop.
func TestEndToEnd(t *testing.T) {
	needRoot(t)
	srvNS, srvH := newNS(t)
	cliNS, cliH := newNS(t)
	srv0 := &testServer{sub: lan77}
	cli0 := addPair(t, srvNS, srvH, "bsrv0", "bcli0", srv0)
	if err := srvH.LinkSetNsFd(cli0, int(cliNS)); err != nil {
		t.Fatalf("move bcli0: %v", err)
	}

	svc := startServiceProcess(t, cliNS, "-interfaces", "bcli*", "-ready-timeout", "2m")
	// READY comes once bcli0 has its lease.
	svc.waitReady(t, "leases: bcli0 192.168.77.50/24")
	for _, m := range srv0.messages() {
		t.Logf("server got %s from %s at %s", m.typ, m.from, m.at.Sub(svc.start).Round(time.Millisecond))
	}

	a, err := hasAddr(cliH, "bcli0", "192.168.77.50/24")
	if err != nil {
		t.Error(err)
	} else if a.ValidLft <= 0 || a.ValidLft > 30 {
		t.Errorf("address valid for %ds, want the lease's 30s at most", a.ValidLft)
	}
	if err := hasDefaultRoute(cliH, "bcli0", lan77.server); err != nil {
		t.Error(err)
	}
	if l, err := cliH.LinkByName("bcli0"); err != nil || l.Attrs().MTU != 1400 || l.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("bcli0 %+v (%v), want up with mtu 1400", l, err)
	}
	if lo, err := cliH.LinkByName("lo"); err != nil || lo.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("lo not up: %v", err)
	}
	if _, err := hasAddr(cliH, "lo", "127.0.0.1/8"); err != nil {
		t.Error(err)
	}
	if err := fileIs(svc.resolv, resolv77)(); err != nil {
		t.Error(err)
	}
	host, _ := os.Hostname()
	for _, m := range srv0.messages() {
		if m.typ == dhcpv4.MessageTypeDiscover && m.hostname != host {
			t.Errorf("DISCOVER with hostname %q, want %q", m.hostname, host)
		}
	}

	// A link that comes later gets its lease too.
	lan78 := subnet{
		server: net.IPv4(192, 168, 78, 1).To4(),
		client: net.IPv4(192, 168, 78, 50).To4(),
		dns:    net.IPv4(192, 168, 78, 53).To4(),
		lease:  time.Hour,
	}
	cli1 := addPair(t, srvNS, srvH, "bsrv1", "bcli1", &testServer{sub: lan78})
	if err := srvH.LinkSetNsFd(cli1, int(cliNS)); err != nil {
		t.Fatalf("move bcli1: %v", err)
	}
	eventually(t, "lease on bcli1", 60*time.Second, func() error {
		_, err := hasAddr(cliH, "bcli1", "192.168.78.50/24")
		return err
	})
	eventually(t, "resolv.conf with both links", 10*time.Second,
		fileIs(svc.resolv, "# written by berth network\nnameserver 192.168.77.53\nnameserver 192.168.78.53\nsearch example.test\n"))
	// The default route of the first link stays.
	if err := hasDefaultRoute(cliH, "bcli0", lan77.server); err != nil {
		t.Error(err)
	}
	if err := hasDefaultRoute(cliH, "bcli1", lan78.server); err != nil {
		t.Error(err)
	}

	// And when it goes, so does its name server.
	if l, err := srvH.LinkByName("bsrv1"); err != nil {
		t.Fatal(err)
	} else if err := srvH.LinkDel(l); err != nil {
		t.Fatalf("delete bsrv1: %v", err)
	}
	eventually(t, "resolv.conf without bcli1", 10*time.Second, fileIs(svc.resolv, resolv77))

	// T1 of the 30s lease is 15s after it began: a unicast REQUEST from
	// the leased address to the server that gave it.
	select {
	case m := <-srv0.renewed:
		if !m.from.Equal(lan77.client) || !m.ciaddr.Equal(lan77.client) {
			t.Errorf("renewal from %s with ciaddr %s, want both %s", m.from, m.ciaddr, lan77.client)
		}
		t.Logf("renewed %s after start", svc.since())
	case <-time.After(60 * time.Second):
		t.Fatalf("no renewal; server got %+v", srv0.messages())
	}
	eventually(t, "renewed lease applied", 10*time.Second, func() error {
		a, err := hasAddr(cliH, "bcli0", "192.168.77.50/24")
		if err == nil && a.ValidLft < 25 {
			err = fmt.Errorf("address valid for %ds only", a.ValidLft)
		}
		return err
	})
	if err := hasDefaultRoute(cliH, "bcli0", lan77.server); err != nil {
		t.Error(err)
	}

	svc.stop(t)
	svc.logHas(t,
		"network: lo: up",
		"network: bcli0: lease 192.168.77.50/24 gw 192.168.77.1 dns 192.168.77.53 search example.test mtu 1400 for 30s",
		"network: bcli0: renewed 192.168.77.50/24",
		"network: bcli1: dhcp stopped: gone",
		"network: stopped",
	)
	// Leases are not released on the way out.
	for _, m := range srv0.messages() {
		if m.typ == dhcpv4.MessageTypeRelease {
			t.Error("service released its lease")
		}
	}
}

// TestEndToEndRebind: the server does not hear unicast, so the renewal at
// T1 fails and the lease is kept by a broadcast REQUEST at T2.
func TestEndToEndRebind(t *testing.T) {
	needRoot(t)
	srvNS, srvH := newNS(t)
	cliNS, cliH := newNS(t)
	srv := &testServer{sub: lan77, dropUnicast: true}
	cli := addPair(t, srvNS, srvH, "bsrv0", "bcli0", srv)
	if err := srvH.LinkSetNsFd(cli, int(cliNS)); err != nil {
		t.Fatalf("move bcli0: %v", err)
	}
	svc := startServiceProcess(t, cliNS, "-interfaces", "bcli0")
	svc.waitReady(t, "leases: bcli0 192.168.77.50/24")

	// T2 of the 30s lease is 26.25s after it began.
	select {
	case m := <-srv.renewed:
		if !m.ciaddr.Equal(lan77.client) {
			t.Errorf("rebinding REQUEST with ciaddr %s, want %s", m.ciaddr, lan77.client)
		}
		if d := time.Since(svc.start); d < 26*time.Second {
			t.Errorf("rebound after %s, before T2", d)
		}
		t.Logf("rebound %s after start", svc.since())
	case <-time.After(60 * time.Second):
		t.Fatalf("no rebinding; server got %+v", srv.messages())
	}
	unicast := 0
	for _, m := range srv.messages() {
		if m.typ == dhcpv4.MessageTypeRequest && m.from.Equal(lan77.client) {
			unicast++
		}
	}
	if unicast == 0 {
		t.Errorf("no unicast renewal before rebinding; server got %+v", srv.messages())
	}
	eventually(t, "rebound lease applied", 10*time.Second, func() error {
		a, err := hasAddr(cliH, "bcli0", "192.168.77.50/24")
		if err == nil && a.ValidLft < 25 {
			err = fmt.Errorf("address valid for %ds only", a.ValidLft)
		}
		return err
	})
	if err := hasDefaultRoute(cliH, "bcli0", lan77.server); err != nil {
		t.Error(err)
	}
	svc.stop(t)
	svc.logHas(t, "context deadline exceeded; rebinding now", "network: bcli0: rebound 192.168.77.50/24", "network: stopped")
	if strings.Contains(svc.output(), "expired") {
		t.Error("the lease expired")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
