package network

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth-os/berth/internal/netconfig"
)

// journalAfter returns the journal lines from the n-th on.
func (h *harness) journalAfter(n int) []string {
	return h.journal.get()[n:]
}

// waitJournal waits for the journal to hold every line of want, in order,
// from line from on.
func (h *harness) waitJournal(from int, want ...string) {
	h.t.Helper()
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		got = h.journalAfter(from)
		if inOrder(got, want) {
			return
		}
	}
	h.t.Fatalf("journal lacks, in this order:\n  %s\njournal:\n  %s\nlog:\n%s",
		strings.Join(want, "\n  "), strings.Join(got, "\n  "), h.logs)
}

func inOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestServiceStaticConfig(t *testing.T) {
	h := startServiceWith(t, map[string]*nclient4.Lease{
		"eth1": leaseFor(t, "10.1.0.50", "10.1.0.53"),
	}, time.Hour, `{
	"interfaces": {
		"eth0": {"addresses": ["192.168.1.10/24", "fd00::10/64"], "gateway": "192.168.1.1", "gateway_ipv6": "fd00::1", "mtu": 9000},
		"mac=52:54:00:00:00:05": {"dhcp": false},
		"eth9": {"addresses": ["10.9.0.2/24"]}
	},
	"dns": {"nameservers": ["1.1.1.1"], "search": ["example.org"]}
}`)
	// Name servers of the configuration are written at once.
	h.waitResolv(resolvHeader + "nameserver 1.1.1.1\nsearch example.org\n")
	noAddr := device(5, "enp5")
	noAddr.HardwareAddr = []byte{0x52, 0x54, 0, 0, 0, 5}
	h.send(linkEvent{Full: true, Links: []netlink.Link{loLink, device(2, "eth0"), device(3, "eth1"), noAddr}})
	h.waitReady("leases: eth1 10.1.0.50/24; static: eth0 192.168.1.10/24 fd00::10/64")
	h.waitJournal(0,
		"set eth0 up mtu 9000",
		"replace eth0 addr 192.168.1.10/24 forever",
		"replace eth0 addr fd00::10/64 forever",
		"replace eth0 route 0.0.0.0/0 via 192.168.1.1 metric 1026 static",
		"replace eth0 route ::/0 via fd00::1 metric 1026 static",
	)
	h.waitJournal(0, "set enp5 up mtu 0")
	// The lease's name servers do not override the configuration's.
	h.waitResolv(resolvHeader + "nameserver 1.1.1.1\nsearch example.org\n")
	h.waitLog(
		"eth0: static 192.168.1.10/24 fd00::10/64 gw 192.168.1.1 gw fd00::1 mtu 9000",
		"enp5: up, no address",
		"eth1: dhcp started",
	)
	for _, line := range h.journal.get() {
		if strings.HasPrefix(line, "replace enp5 addr") || strings.Contains(line, "eth9") {
			t.Errorf("journal: %q", line)
		}
	}
}

// The gateway outside the subnet gets an on-link host route first.
func TestStaticRoutesOffLinkGateway(t *testing.T) {
	c := parseOrFail(t, `{"interfaces": {"eth0": {"addresses": ["10.0.0.5/32"], "gateway": "192.168.0.1"}}}`)
	var got []string
	for _, r := range staticRoutes(c.Interfaces["eth0"], 1026) {
		got = append(got, r.String())
	}
	want := []string{
		"192.168.0.1/32 metric 1026 static",
		"0.0.0.0/0 via 192.168.0.1 metric 1026 static",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
}

func TestServiceReloadMovesLinks(t *testing.T) {
	h := startService(t, map[string]*nclient4.Lease{
		"eth0": leaseFor(t, "192.168.77.50", "192.168.77.53"),
	}, time.Hour)
	h.send(linkEvent{Full: true, Links: []netlink.Link{loLink, device(2, "eth0")}})
	h.waitReady("leases: eth0 192.168.77.50/24")
	h.waitResolv(resolvHeader + "nameserver 192.168.77.53\n")

	// DHCP to static: the lease comes off the link before the address
	// goes on.
	n := len(h.journal.get())
	h.reconfigure(`{"interfaces": {"eth0": {"addresses": ["192.168.1.10/24"], "gateway": "192.168.1.1"}}}`)
	h.waitJournal(n,
		"delete eth0 addr 192.168.77.50/24 for 1h0m0s",
		"replace eth0 addr 192.168.1.10/24 forever",
		"replace eth0 route 0.0.0.0/0 via 192.168.1.1 metric 1026 static",
	)
	h.waitLog("eth0: dhcp stopped: configured static", "eth0: lease 192.168.77.50/24 removed")
	// Without a lease, no name servers.
	h.waitResolv(resolvHeader)

	// A file that is not valid changes nothing.
	n = len(h.journal.get())
	h.reconfigure(`{"interfaces": {"eth0": {"addresses": ["192.168.1.300/24"]}}}`)
	h.waitLog(
		`config `+h.config+`: interfaces.eth0.addresses[0]: "192.168.1.300/24" is not an address with a prefix length such as 192.168.1.10/24`,
		"config "+h.config+": keeping the configuration in force",
	)
	// A valid reload after it shows the invalid one was handled first.
	h.reconfigure(`{"interfaces": {"eth0": {"addresses": ["192.168.1.11/24"], "gateway": "192.168.1.1"}}}`)
	h.waitJournal(n,
		"delete eth0 addr 192.168.1.10/24 forever",
		"replace eth0 addr 192.168.1.11/24 forever",
	)
	if got := h.journalAfter(n); slices.Contains(got, "replace eth0 addr 192.168.1.300/24 forever") {
		t.Errorf("invalid configuration applied: %q", got)
	}

	// Static back to DHCP: the static configuration goes, DHCP starts.
	n = len(h.journal.get())
	h.reconfigure(`{}`)
	h.waitJournal(n,
		"delete eth0 route 0.0.0.0/0 via 192.168.1.1 metric 1026 static",
		"delete eth0 addr 192.168.1.11/24 forever",
		"replace eth0 addr 192.168.77.50/24 for 1h0m0s",
	)
	h.waitResolv(resolvHeader + "nameserver 192.168.77.53\n")
}

func TestServiceMakesVLANsBondsBridges(t *testing.T) {
	h := startServiceWith(t, map[string]*nclient4.Lease{
		"eth0.100": leaseFor(t, "10.100.0.50", "10.100.0.53"),
		"eth3":     nil, // once out of the bridge
	}, time.Hour, `{"interfaces": {
		"eth0": {"dhcp": false, "vlans": [100]},
		"eth1": {"bond": "bond0"},
		"eth2": {"bond": "bond0"},
		"bond0": {"bond_opts": {"mode": "active-backup", "miimon": 100}, "addresses": ["10.0.0.2/24"]},
		"eth3": {"bridge": "br0"},
		"br0": {"addresses": ["10.3.0.2/24"]}
	}}`)
	h.send(linkEvent{Full: true, Links: []netlink.Link{loLink, device(2, "eth0"), device(3, "eth1"), device(4, "eth2"), device(5, "eth3")}})
	h.waitJournal(0,
		"add bond0 bond mode active-backup miimon 100",
		"add br0 bridge",
		"add eth0.100 vlan 100 on eth0",
	)
	h.waitJournal(0, "set eth1 master bond0", "set eth2 master bond0")
	h.waitJournal(0, "set eth3 master br0")
	// The links made are waited for.
	select {
	case s := <-h.ready:
		t.Fatalf("ready before the links made are configured: %q", s)
	case <-time.After(100 * time.Millisecond):
	}
	n := len(h.journal.get())
	bond := &netlink.Bond{LinkAttrs: netlink.LinkAttrs{Index: 10, Name: "bond0", EncapType: "ether", RawFlags: unix.IFF_UP | unix.IFF_LOWER_UP},
		Mode: netlink.BOND_MODE_ACTIVE_BACKUP, Miimon: 100}
	bridge := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Index: 11, Name: "br0", EncapType: "ether", RawFlags: unix.IFF_UP | unix.IFF_LOWER_UP}}
	vlan := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Index: 12, Name: "eth0.100", EncapType: "ether", RawFlags: unix.IFF_UP | unix.IFF_LOWER_UP, ParentIndex: 2}, VlanId: 100}
	h.send(linkEvent{Links: []netlink.Link{bond, bridge, vlan}})
	h.waitJournal(n, "replace bond0 addr 10.0.0.2/24 forever")
	h.waitJournal(n, "replace br0 addr 10.3.0.2/24 forever")
	h.waitReady("leases: eth0.100 10.100.0.50/24; static: bond0 10.0.0.2/24, br0 10.3.0.2/24")
	// The kernel reports the ports in their masters.
	var ports []netlink.Link
	for i, master := range []int{bond.Index, bond.Index, bridge.Index} {
		port := device(3+i, fmt.Sprintf("eth%d", 1+i))
		port.MasterIndex = master
		ports = append(ports, port)
	}
	h.send(linkEvent{Links: ports})

	// The bridge is no longer configured: it goes, its port is released.
	n = len(h.journal.get())
	h.reconfigure(`{"interfaces": {
		"eth0": {"dhcp": false, "vlans": [100]},
		"eth1": {"bond": "bond0"},
		"eth2": {"bond": "bond0"},
		"bond0": {"bond_opts": {"mode": "active-backup", "miimon": 100}, "addresses": ["10.0.0.2/24"]}
	}}`)
	h.waitJournal(n, "delete link br0", "set eth3 nomaster")
	h.waitLog("br0: deleted, no longer configured", "br0: released eth3")
	// Out of the bridge, eth3 is a plain device: DHCP.
	h.send(linkEvent{Links: []netlink.Link{device(5, "eth3")}})
	h.waitLog("eth3: dhcp started")
	for _, line := range h.journalAfter(n) {
		if strings.Contains(line, "bond0") || strings.Contains(line, "eth0.100") {
			t.Errorf("reload touched what did not change: %q", line)
		}
	}
}

func parseOrFail(t *testing.T, s string) *netconfig.Config {
	t.Helper()
	c, _, err := netconfig.Parse([]byte(s), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	return c
}
