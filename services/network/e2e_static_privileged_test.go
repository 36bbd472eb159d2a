//go:build privileged

package network

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/berth-os/berth/internal/netnstest"
)

// staticConfig is berth.network as PID 1 writes it: static addresses and
// a gateway, and a bridge of two links. (VLANs and bonds are checked in the
// QEMU tests, on Berth's kernel: the kernels CI runs on may lack them.)
const staticConfig = `{
  "interfaces": {
    "sa0": {"addresses": ["10.10.0.2/24"], "gateway": "10.10.0.1", "mtu": 1400},
    "sa1": {"bridge": "sbr0"},
    "sa2": {"bridge": "sbr0"},
    "sbr0": {"addresses": ["10.30.0.2/24"]}
  },
  "dns": {"nameservers": ["10.10.0.53"], "search": ["static.test"]}
}`

// TestEndToEndStatic: the service makes the bridge of the configuration,
// puts the static addresses and routes on, and on SIGHUP moves to a new
// configuration, keeping the one in force when the new one is not valid.
func TestEndToEndStatic(t *testing.T) {
	needRoot(t)
	ns, h := netnstest.New(t)
	// Four veth pairs inside the namespace: the service configures the
	// sa ends; the sp ends only give them a carrier.
	for i := range 3 {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("sa%d", i)}, PeerName: fmt.Sprintf("sp%d", i)}
		if err := h.LinkAdd(veth); err != nil {
			t.Fatalf("add veth: %v", err)
		}
		peer, err := h.LinkByName(fmt.Sprintf("sp%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(peer); err != nil {
			t.Fatal(err)
		}
	}
	config := filepath.Join(t.TempDir(), "config.json")
	writeFile(t, config, staticConfig)

	svc := startServiceProcess(t, ns, "-config", config, "-interfaces", "sa*", "-ready-timeout", "2m")
	svc.waitReady(t, "static: sa0 10.10.0.2/24, sbr0 10.30.0.2/24")

	for _, c := range []struct{ link, cidr string }{{"sa0", "10.10.0.2/24"}, {"sbr0", "10.30.0.2/24"}} {
		if _, err := hasAddr(h, c.link, c.cidr); err != nil {
			t.Error(err)
		}
	}
	if err := hasDefaultRoute(h, "sa0", []byte{10, 10, 0, 1}); err != nil {
		t.Error(err)
	}
	sa0 := link(t, h, "sa0")
	if sa0.Attrs().MTU != 1400 {
		t.Errorf("sa0 MTU %d, want 1400", sa0.Attrs().MTU)
	}
	br, ok := link(t, h, "sbr0").(*netlink.Bridge)
	if !ok {
		t.Fatalf("sbr0 is %+v, want a bridge", link(t, h, "sbr0"))
	}
	for _, port := range []string{"sa1", "sa2"} {
		if got := link(t, h, port).Attrs().MasterIndex; got != br.Attrs().Index {
			t.Errorf("%s: master index %d, want sbr0's %d", port, got, br.Attrs().Index)
		}
	}
	eventually(t, "resolv.conf", 10*time.Second, fileIs(svc.resolv, resolvHeader+"nameserver 10.10.0.53\nsearch static.test\n"))

	// A configuration that is not valid changes nothing.
	writeFile(t, config, `{"interfaces": {"sa0": {"addresses": ["10.10.0.3/33"]}}}`)
	hup(t, svc)
	eventually(t, "invalid configuration logged", 10*time.Second, func() error {
		if !strings.Contains(svc.output(), `interfaces.sa0.addresses[0]: "10.10.0.3/33" is not an address`) ||
			!strings.Contains(svc.output(), "keeping the configuration in force") {
			return fmt.Errorf("log:\n%s", svc.output())
		}
		return nil
	})
	if _, err := hasAddr(h, "sa0", "10.10.0.2/24"); err != nil {
		t.Errorf("after an invalid configuration: %v", err)
	}

	// A new address on sa0 and no bridge: the old address and the bridge
	// go, sa1 and sa2 leave it and, named by no entry and matching
	// -interfaces, get DHCP.
	writeFile(t, config, `{"interfaces": {"sa0": {"addresses": ["10.10.0.3/24"], "gateway": "10.10.0.1"}}}`)
	hup(t, svc)
	eventually(t, "new address", 10*time.Second, func() error {
		_, err := hasAddr(h, "sa0", "10.10.0.3/24")
		return err
	})
	eventually(t, "old address gone", 10*time.Second, func() error {
		return lacksAddr(h, "sa0", "10.10.0.2/24")
	})
	eventually(t, "bridge gone, ports released", 10*time.Second, func() error {
		if err := linkGone(h, "sbr0"); err != nil {
			return err
		}
		for _, port := range []string{"sa1", "sa2"} {
			if m := link(t, h, port).Attrs().MasterIndex; m != 0 {
				return fmt.Errorf("%s still has master %d", port, m)
			}
		}
		return nil
	})
	if err := hasDefaultRoute(h, "sa0", []byte{10, 10, 0, 1}); err != nil {
		t.Error(err)
	}
	eventually(t, "DHCP on the released ports", 10*time.Second, func() error {
		for _, port := range []string{"sa1", "sa2"} {
			if !strings.Contains(svc.output(), port+": dhcp started") {
				return fmt.Errorf("no DHCP on %s; log:\n%s", port, svc.output())
			}
		}
		return nil
	})
	// Without name servers in the configuration or a lease, none.
	eventually(t, "resolv.conf", 10*time.Second, fileIs(svc.resolv, resolvHeader))
	svc.stop(t)
}
