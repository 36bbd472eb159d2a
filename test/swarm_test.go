//go:build qemu

package test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/qemu"
	"github.com/berth-os/berth/test/registry"
)

// swarmNode is one VM of the swarm: its name (its hostname), its address
// on the swarm's segment, and the MAC of its NIC there.
type swarmNode struct {
	name, addr, mac string
}

var swarmNodes = []swarmNode{
	{"node1", "192.168.77.1", "52:54:00:77:00:01"},
	{"node2", "192.168.77.2", "52:54:00:77:00:02"},
}

// swarmConfig is a node's machine: user-mode networking (DHCP, the test
// registry at 10.0.2.2) and a second NIC on a datagram network of unix
// sockets that the two VMs share (each sends to the other's socket, so
// neither waits for the other to start, and no port is picked), with a
// static address from cloud-config and no DHCP there.
func swarmConfig(t *testing.T, n swarmNode, registryURL, local, remote string) qemu.Config {
	cfg := directBoot(t, "berth.autologin")
	cfg.Memory = 1024
	if err := runCmd("qemu-img", "resize", "-q", cfg.Disks[0].Path, "+2G"); err != nil {
		t.Fatal(err)
	}
	cfg.Extra = append(cfg.Extra, "-netdev", "dgram,id=swarm,local.type=unix,local.path="+local+",remote.type=unix,remote.path="+remote,
		"-device", "virtio-net-pci,netdev=swarm,mac="+n.mac)
	cfg.FwCfg["opt/berth/user-data"] = fmt.Sprintf(`#cloud-config
hostname: %s
berth:
  registry_mirrors:
    docker.io: [%q]
  network:
    interfaces:
      eth0: {dhcp: true}
      mac=%s: {dhcp: false, addresses: [%s/24]}
`, n.name, registryURL, n.mac, n.addr)
	return cfg
}

// swarmImage is the replicated service's image: the sleeper program
// alone (1 MB), which each node pulls through the test registry. Pulling
// and running the bookworm userland (the Docker scenario does) took each
// node a minute under TCG, and said nothing more of the swarm.
const swarmImage = "docker.io/berth/sleeper:1"

// swarm: two Berth VMs on one QEMU socket network form a Docker swarm
// (docker swarm init on node1, join on node2), and a replicated service of
// the test registry's image has a task running on each node.
func swarm(t *testing.T) {
	srv, _ := testRegistry(t)
	srv.Serve("docker.oci.tar", dockerImage(t))
	app, err := registry.ProgramLayer(map[string][]byte{"app": buildSleeper(t)})
	if err != nil {
		t.Fatal(err)
	}
	img, err := registry.NewImage(swarmImage, app)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Push(swarmImage, img); err != nil {
		t.Fatal(err)
	}
	// Each node's end of the segment: a unix datagram socket that its
	// QEMU binds (short paths: sockDir), the other's its peer.
	ends := []string{filepath.Join(sockDir, "swarm1"), filepath.Join(sockDir, "swarm2")}
	var ms []*machine
	for i, n := range swarmNodes {
		ms = append(ms, launch(t, swarmConfig(t, n, srv.GuestURL(), ends[i], ends[1-i]), qemu.Start))
	}
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.t.Run(swarmNodes[i].name+"Docker", func(t *testing.T) {
				m := m.with(t)
				m.waitReady()
				// The static address on the swarm's segment, no DHCP there.
				m.eventually("ip -4 addr show", regexp.MustCompile(regexp.QuoteMeta(swarmNodes[i].addr)+"/24"), time.Minute)
				enableDocker(m, srv.GuestURL())
			})
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	m1, m2 := ms[0], ms[1]
	if !m1.check("Segment", func(m *machine) {
		if out, code := m.shCode("ping -c 3 -W 5 " + swarmNodes[1].addr + " 2>&1"); code != 0 {
			m.t.Fatalf("node1 does not reach node2 on the socket network: exit %d\n%s", code, out)
		}
	}) {
		return
	}
	if !m1.check("InitJoin", func(m *machine) {
		out, code, err := m1.Run("docker swarm init --advertise-addr "+swarmNodes[0].addr+" 2>&1", 3*time.Minute)
		if err != nil || code != 0 {
			m.t.Fatalf("docker swarm init: exit %d, %v\n%s", code, err, out)
		}
		token := strings.TrimSpace(m1.sh("docker swarm join-token -q worker"))
		out, code, err = m2.Run("docker swarm join --token "+token+" "+swarmNodes[0].addr+":2377 2>&1", 3*time.Minute)
		if err != nil || code != 0 {
			m.t.Fatalf("docker swarm join on node2: exit %d, %v\n%s", code, err, out)
		}
		m1.with(m.t).eventually("docker node ls --format '{{.Hostname}} {{.Status}}' 2>&1", regexp.MustCompile(`(?s)node1 Ready.*node2 Ready|node2 Ready.*node1 Ready`), 2*time.Minute)
	}) {
		return
	}
	m1.check("ReplicatedService", func(m *machine) {
		out, code, err := m1.Run("docker service create --detach --name sleepers --replicas 2 --replicas-max-per-node 1 "+swarmImage+" /app 2>&1", 3*time.Minute)
		if err != nil || code != 0 {
			m.t.Fatalf("docker service create: exit %d, %v\n%s", code, err, out)
		}
		ps := m1.with(m.t).eventually("docker service ps sleepers --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' 2>&1",
			regexp.MustCompile(`(?s)node1 Running.*node2 Running|node2 Running.*node1 Running`), 10*time.Minute)
		m.t.Logf("docker service ps sleepers:\n%s", ps)
		if !srv.Served("berth/sleeper") {
			m.t.Errorf("the nodes run %s, but the test registry (docker.io's mirror) never served it", swarmImage)
		}
		for i, n := range []*machine{m1, m2} {
			out := n.with(m.t).sh("docker ps -q --filter label=com.docker.swarm.service.name=sleepers | wc -l")
			if strings.TrimSpace(out) != "1" {
				m.t.Errorf("%s runs %s tasks of sleepers, want 1", swarmNodes[i].name, strings.TrimSpace(out))
			}
		}
	})
}
