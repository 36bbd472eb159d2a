//go:build qemu

package test

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// rancherCorpusFile is the RancherOS file compatRancherOS boots with, from
// the corpus of real-world cloud-config (../shared/conformance): RancherOS's
// own multi-NIC test, with rancher.network (DHCP on eth0, a static address,
// gateway and MTU on eth1, an eth2 the VM lacks, with an IPv6 gateway and no
// IPv6 address) and ssh_authorized_keys.
const rancherCorpusFile = "rancheros__tests__assets__multi_nic__cloud-config.yml"

// compatRancherOS boots the raw image with a RancherOS user's file, as it
// is but for its ssh key (the test's own), as a NoCloud seed whose
// meta-data names the host; eth1 is an extra NIC. It checks the hostname,
// ssh with the key, the network rancher.network asked for, the warnings in
// hostctl config status, and that hostctl config get --source names the
// rancher key a value came from.
func compatRancherOS(t *testing.T) {
	m, key, port := bootRancherOS(t)
	checkRancherOS(t, m, key, port)
}

// bootRancherOS boots as compatRancherOS does; it returns the machine, the
// private key of the file's ssh key and the host port of the VM's sshd.
// The NoCloud seed is on a CD drive.
func bootRancherOS(t *testing.T) (*machine, string, int) {
	key, pub := sshKey(t)
	userData := corpusFile(t, rancherCorpusFile)
	keyRe := regexp.MustCompile(`(?m)^(\s*- )ssh-rsa \S+.*$`)
	if !keyRe.MatchString(userData) {
		t.Fatalf("%s: no ssh-rsa key line to put the test's key in", rancherCorpusFile)
	}
	userData = keyRe.ReplaceAllLiteralString(userData, "  - "+pub)
	seed := seedDir(t, map[string]string{
		"user-data": userData,
		"meta-data": "instance-id: iid-rancheros\nlocal-hostname: ros-compat\n",
	})
	cfg := directBoot(t, "berth.autologin")
	cfg.HostFwd = []string{sshForward}
	cfg.Extra = append(cfg.Extra, "-drive", "file="+isoOf(t, seed, "cidata")+",media=cdrom,readonly=on,if=ide")
	cfg.Extra = append(cfg.Extra, extraNIC("n1", "52:54:00:0a:01:29", "10.1.0.0/24")...)
	m := boot(t, cfg)
	return m, key, m.sshPort()
}

// checkRancherOS checks a machine bootRancherOS booted.
func checkRancherOS(t *testing.T, m *machine, key string, port int) {
	if got := strings.TrimSpace(m.sh("hostname")); got != "ros-compat" {
		t.Errorf("hostname %q, want ros-compat (meta-data)", got)
	}
	if out, err := sshRun(t, port, key, "hostname"); err != nil || strings.TrimSpace(out) != "ros-compat" {
		t.Errorf("ssh with the key of the RancherOS file: %v\n%s", err, out)
	}

	// rancher.network.interfaces: eth0 by DHCP, eth1 static with its
	// gateway and MTU.
	m.eventually("ip -o -4 addr show dev eth0", regexp.MustCompile(`inet 10\.0\.2\.15/24`), time.Minute)
	m.eventually("ip -o -4 addr show dev eth1", regexp.MustCompile(`inet 10\.1\.0\.41/24`), time.Minute)
	if out := m.sh("ip -o link show dev eth1"); !strings.Contains(out, "mtu 1500") {
		t.Errorf("eth1 mtu, want 1500:\n%s", out)
	}
	m.eventually("ip -4 route show default", regexp.MustCompile(`default via 10\.1\.0\.1 dev eth1`), time.Minute)
	if out := m.sh("ip -o -4 addr"); strings.Contains(out, "10.31.168.85") {
		t.Errorf("eth2's address is on a link:\n%s", out)
	}

	// The warnings: what Berth does not take, with the rancher key.
	out, code := m.shCode("hostctl config status")
	if code != 0 {
		t.Errorf("hostctl config status: exit %d, want 0 (warnings are not errors)\n%s", code, out)
	}
	for _, want := range []string{
		"nocloud",
		"warning: user-data (nocloud):15: rancher.network.interfaces.eth2.gateway_ipv6: ignored: an IPv6 gateway needs an IPv6 address on the link",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("hostctl config status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "error") {
		t.Errorf("hostctl config status shows errors:\n%s", out)
	}

	// Provenance: the value came from the datasource, as a rancher key.
	for key, want := range map[string]string{
		"'berth.network.interfaces.eth1.addresses[0]'": "10.1.0.41/24 (from datasource, as rancher.network.interfaces.eth1.address)",
		"berth.network.interfaces.eth1.gateway":        "10.1.0.1 (from datasource, as rancher.network.interfaces.eth1.gateway)",
		"hostname":                                     "ros-compat (from datasource)",
	} {
		if got := strings.TrimSpace(m.sh("hostctl config get " + key + " --source")); got != want {
			t.Errorf("hostctl config get %s --source = %q, want %q", key, got, want)
		}
	}
	if out := m.sh("hostctl config export --merged"); strings.Contains(out, "rancher") {
		t.Errorf("the merged configuration holds rancher keys, not their translation:\n%s", out)
	}
}
