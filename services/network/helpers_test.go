package network

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// newACK builds an ACK for 192.168.77.50/24 from 192.168.77.1, plus mods.
func newACK(t testing.TB, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	base := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithYourIP(net.IPv4(192, 168, 77, 50)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(192, 168, 77, 1))),
	}
	m, err := dhcpv4.New(append(base, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// lan are the options of the test network of the privileged test too.
func lan(lease time.Duration) []dhcpv4.Modifier {
	return []dhcpv4.Modifier{
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(net.IPv4(192, 168, 77, 1)),
		dhcpv4.WithDNS(net.IPv4(192, 168, 77, 53)),
		dhcpv4.WithDomainSearchList("example.test"),
		dhcpv4.WithLeaseTime(uint32(lease / time.Second)),
	}
}

func newLease(t *testing.T, mods ...dhcpv4.Modifier) *nclient4.Lease {
	a := newACK(t, mods...)
	return &nclient4.Lease{Offer: a, ACK: a}
}

// fakeClock is a clock whose After returns at once, having moved time on.
// A stalled fakeClock never fires.
type fakeClock struct {
	mu      sync.Mutex
	start   time.Time
	t       time.Time
	stalled bool
}

func newFakeClock() *fakeClock {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &fakeClock{start: t0, t: t0}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stalled {
		return nil
	}
	if d > 0 {
		c.t = c.t.Add(d)
	}
	ch := make(chan time.Time, 1)
	ch <- c.t
	return ch
}

func (c *fakeClock) elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t.Sub(c.start)
}

// journal records what the fakes were asked, in order, each line stamped
// with the time of the clock if there is one.
type journal struct {
	mu    sync.Mutex
	clock *fakeClock
	lines []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	line := fmt.Sprintf(format, args...)
	if j.clock != nil {
		line = fmt.Sprintf("%s %s", j.clock.elapsed(), line)
	}
	j.lines = append(j.lines, line)
}

func (j *journal) get() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.lines...)
}

// recorder is a linkConfigurer that writes to a journal. fail makes the
// calls whose journal line it names fail.
type recorder struct {
	j    *journal
	fail map[string]error
}

func (r *recorder) do(line string) error {
	r.j.add("%s", line)
	return r.fail[line]
}

func (r *recorder) SetLink(link string, mtu int) error {
	return r.do(fmt.Sprintf("set %s up mtu %d", link, mtu))
}

func (r *recorder) ReplaceAddr(link string, a address) error {
	return r.do(fmt.Sprintf("replace %s addr %s", link, a))
}

func (r *recorder) DeleteAddr(link string, a address) error {
	return r.do(fmt.Sprintf("delete %s addr %s", link, a))
}

func (r *recorder) ReplaceRoute(link string, rt route) error {
	return r.do(fmt.Sprintf("replace %s route %s", link, rt))
}

func (r *recorder) DeleteRoute(link string, rt route) error {
	return r.do(fmt.Sprintf("delete %s route %s", link, rt))
}

func (r *recorder) AddLink(spec linkSpec) error {
	return r.do(fmt.Sprintf("add %s %s", spec.Name, spec))
}

func (r *recorder) DeleteLink(link string) error {
	return r.do(fmt.Sprintf("delete link %s", link))
}

func (r *recorder) SetMaster(link, master string) error {
	if master == "" {
		return r.do(fmt.Sprintf("set %s nomaster", link))
	}
	return r.do(fmt.Sprintf("set %s master %s", link, master))
}

// writeConfig writes the service's configuration file atomically, as PID 1
// does.
func (h *harness) writeConfig(config string) {
	h.t.Helper()
	tmp := h.config + ".tmp"
	if err := os.WriteFile(tmp, []byte(config), 0o644); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(tmp, h.config); err != nil {
		h.t.Fatal(err)
	}
}

// reconfigure writes a configuration and has the service read it again,
// as PID 1 does with SIGHUP.
func (h *harness) reconfigure(config string) {
	h.t.Helper()
	h.writeConfig(config)
	select {
	case h.reload <- struct{}{}:
	case <-time.After(10 * time.Second):
		h.t.Fatal("service does not take reloads")
	}
}

// waitLog waits for the log to hold every line of want.
func (h *harness) waitLog(want ...string) {
	h.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if logHasAll(h.logs.String(), want) {
			return
		}
	}
	for _, w := range want {
		if !strings.Contains(h.logs.String(), w+"\n") {
			h.t.Errorf("log lacks %q", w)
		}
	}
	h.t.Fatalf("log:\n%s", h.logs)
}

func logHasAll(log string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(log, w+"\n") {
			return false
		}
	}
	return true
}
