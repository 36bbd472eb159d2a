//go:build qemu

package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/qemu"
)

// guestAgent: on QEMU, with qemu-guest-agent's image preloaded (from a
// volume that cloud-config's mounts puts in the preload folder), the
// agent starts by itself, enabled by the hypervisor, and answers the host
// on its virtio-serial port: guest-sync, guest-ping, guest-get-osinfo
// (Berth's, the host's kernel). berth.hypervisor_service: false stops it;
// true starts it again, and guest-shutdown powers the host off.
func guestAgent(t *testing.T) {
	vol := t.TempDir()
	tarball, err := os.ReadFile(artifact(t, "images/qemu-guest-agent.oci.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "qemu-guest-agent.tar"), tarball, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(sockDir, fmt.Sprintf("qga%d.sock", sockSeq.Add(1)))
	cfg := qemu.Config{Net: true, Disks: []qemu.Disk{
		{Path: overlay(t, artifact(t, "berth.raw"), "raw"), Format: "qcow2"},
		{Path: vfatSized(t, vol, "PRELOADS", 16384), ReadOnly: true},
	}, FwCfg: map[string]string{
		"opt/berth/cmdline":   "berth.autologin",
		"opt/berth/user-data": "#cloud-config\nmounts:\n  - [LABEL=PRELOADS, /var/lib/berth/preload/agents, vfat, ro]\n",
	}, Extra: []string{
		"-device", "virtio-serial-pci,id=vser0",
		"-chardev", "socket,id=qga0,path=" + sock + ",server=on,wait=off",
		"-device", "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0",
	}}
	m := boot(t, cfg)
	m.check("enabled-by-hypervisor", func(m *machine) {
		// Running, once its task is up (the ready line may come first).
		m.eventually(`hostctl service list -o json | grep -A3 '"name": "qemu-guest-agent"'`, regexp.MustCompile(`"state": "running"`), time.Minute)
		s := agentStatus(m)
		if !s.Enabled || s.State != api.StateRunning || s.Restarts != 0 || !strings.Contains(s.EnabledBy, "hypervisor (kvm") {
			m.t.Errorf("qemu-guest-agent: enabled %v by %q, %s after %d restarts; want running, enabled by the hypervisor (kvm), never restarted; its log:\n%s",
				s.Enabled, s.EnabledBy, s.State, s.Restarts, m.sh("hostctl logs qemu-guest-agent 2>&1 | tail -20; grep -e qemu-guest-agent -e services /var/log/init.log | tail -20"))
		}
	})
	var qga *agentConn
	m.check("answers", func(m *machine) {
		var err error
		if qga, err = dialAgent(sock); err != nil {
			m.t.Fatal(err)
		}
		if err := qga.sync(time.Minute); err != nil {
			m.t.Fatal(err)
		}
		if out, err := qga.call(`{"execute":"guest-ping"}`, 10*time.Second); err != nil || strings.TrimSpace(out) != `{"return": {}}` {
			m.t.Errorf("guest-ping: %q, %v; want an empty return", out, err)
		}
		out, err := qga.call(`{"execute":"guest-get-osinfo"}`, 10*time.Second)
		var info struct {
			Return struct {
				ID            string `json:"id"`
				KernelRelease string `json:"kernel-release"`
			} `json:"return"`
		}
		if err != nil || json.Unmarshal([]byte(out), &info) != nil || info.Return.ID != "berth" || !strings.HasSuffix(info.Return.KernelRelease, "-berth") {
			m.t.Errorf("guest-get-osinfo: %s, %v; want Berth's os-release and kernel", out, err)
		}
	})
	m.check("hypervisor-service-false", func(m *machine) {
		m.sh("hostctl config set berth.hypervisor_service false")
		if s := agentStatus(m); s.Enabled || s.State == api.StateRunning {
			m.t.Errorf("after berth.hypervisor_service false: qemu-guest-agent enabled %v, %s; want disabled and stopped", s.Enabled, s.State)
		}
		if qga != nil {
			if out, err := qga.call(`{"execute":"guest-ping"}`, 5*time.Second); err == nil {
				m.t.Errorf("guest-ping answered %q with the agent stopped", out)
			}
		}
	})
	// Back on, the agent powers the host off for the hypervisor: qemu-ga
	// runs /sbin/shutdown, which asks PID 1 through the power socket.
	m.check("guest-shutdown", func(m *machine) {
		if qga == nil {
			m.t.Fatal("no connection to the agent's port")
		}
		m.sh("hostctl config set berth.hypervisor_service true")
		m.eventually(`hostctl service list -o json | grep -A3 '"name": "qemu-guest-agent"'`, regexp.MustCompile(`"state": "running"`), time.Minute)
		if err := qga.sync(time.Minute); err != nil {
			m.t.Fatal(err)
		}
		qga.c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := qga.c.Write([]byte(`{"execute":"guest-shutdown"}` + "\n")); err != nil {
			m.t.Fatal(err)
		}
		if _, _, err := m.WaitFor(regexp.MustCompile(`poweroff asked through the power socket`), time.Minute); err != nil {
			m.t.Error(err)
		}
		if err := m.Wait(3 * time.Minute); err != nil {
			m.t.Errorf("after guest-shutdown: %v (want QEMU to exit with status 0)", err)
		}
	})
}

// agentStatus is qemu-guest-agent's line of hostctl service list.
func agentStatus(m *machine) api.Service {
	m.t.Helper()
	var svcs []api.Service
	out := m.sh("hostctl service list -o json")
	if err := json.Unmarshal([]byte(out), &svcs); err != nil {
		m.t.Fatalf("hostctl service list -o json: %v\n%s", err, out)
	}
	for _, s := range svcs {
		if s.Name == "qemu-guest-agent" {
			return s
		}
	}
	m.t.Fatalf("hostctl service list lacks qemu-guest-agent:\n%s", out)
	return api.Service{}
}

// agentConn is the host's end of the guest agent's virtio-serial port.
type agentConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialAgent(sock string) (*agentConn, error) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("the guest agent's socket: %w", err)
	}
	return &agentConn{c: c, r: bufio.NewReader(c)}, nil
}

// call sends a command and returns the line that answers it.
func (a *agentConn) call(cmd string, d time.Duration) (string, error) {
	a.c.SetDeadline(time.Now().Add(d))
	if _, err := a.c.Write([]byte(cmd + "\n")); err != nil {
		return "", err
	}
	line, err := a.r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%s: no answer: %w", cmd, err)
	}
	return line, nil
}

// sync does what a host does first (guest-sync with an ID of its own),
// until the agent answers with that ID: the port may hold stale bytes,
// and the agent may be starting.
func (a *agentConn) sync(d time.Duration) error {
	deadline := time.Now().Add(d)
	for id := 4711; time.Now().Before(deadline); id++ {
		want := fmt.Sprintf(`{"return": %d}`, id)
		a.c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := fmt.Fprintf(a.c, "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":%d}}\n", id); err != nil {
			return err
		}
		for {
			line, err := a.r.ReadString('\n')
			if err != nil {
				break // no answer yet: try again with another ID
			}
			if strings.TrimSpace(line) == want {
				return nil
			}
		}
	}
	return fmt.Errorf("the guest agent did not answer guest-sync within %s", d)
}
