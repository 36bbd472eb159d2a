//go:build qemu

package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// sshKey makes an ed25519 key pair and returns the private key's path and
// the public key line.
func sshKey(t *testing.T) (string, string) {
	t.Helper()
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if err := runCmd("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "berth-test", "-f", key); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return key, strings.TrimSpace(string(pub))
}

// sshRun runs cmd on the VM as root with the key, through QEMU's host
// forward on port; it retries while the forward is not through yet.
func sshRun(t *testing.T, port int, key, cmd string) (string, error) {
	t.Helper()
	return sshAs(t, "root", port, key, cmd)
}

// sshAs is sshRun as another user.
func sshAs(t *testing.T, user string, port int, key, cmd string) (string, error) {
	t.Helper()
	var out []byte
	var err error
	for i := 0; i < 5; i++ {
		out, err = exec.Command("ssh", "-p", fmt.Sprint(port), "-i", key, "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=60", "-o", "BatchMode=yes",
			"-o", "LogLevel=ERROR", user+"@127.0.0.1", cmd).CombinedOutput()
		if !strings.Contains(string(out), "Connection reset") && !strings.Contains(string(out), "Connection closed") {
			break
		}
		time.Sleep(3 * time.Second)
	}
	return string(out), err
}

// extraNIC adds a virtio NIC with its own isolated user network.
func extraNIC(id, mac, subnet string) []string {
	return []string{
		"-netdev", fmt.Sprintf("user,id=%s,net=%s,restrict=on", id, subnet),
		"-device", fmt.Sprintf("virtio-net-pci,netdev=%s,mac=%s", id, mac),
	}
}

// fwcfgUserData is the user-data the fw_cfg test hands to the VM; %s is
// the public key.
const fwcfgUserData = `#cloud-config
hostname: cc-fwcfg
ssh_genkeytypes: [ed25519, dsa, ecdsa]
ssh_authorized_keys:
  - %[1]s
users:
  - name: dev
    groups: [wheel, docker]
    shell: /bin/sh
    ssh_authorized_keys: [%[1]s]
bootcmd:
  - mkdir -p /var/lib/cc && echo boot >> /var/lib/cc/bootcmd.count
  - sleep 1000 & echo $! > /var/lib/cc/bootcmd-daemon.pid
write_files:
  - path: /var/lib/cc/hello.txt
    content: |
      hello from fw_cfg
    permissions: "0640"
runcmd:
  - echo ran >> /var/lib/cc/runcmd.count
swap:
  filename: /var/swap.img
  size: 16M
mounts:
  - [UUID=%[2]s, /mnt/byuuid]
  - [LABEL=BERTHDATA, /media/bylabel, vfat, ro]
berth:
  sysctl:
    vm.swappiness: "13"
  network:
    interfaces:
      mac=52:54:00:be:00:01:
        addresses: [192.168.76.9/24]
        vlans: [100]
      mac=52:54:00:be:00:02: {bond: bond0}
      mac=52:54:00:be:00:03: {bond: bond0}
      bond0:
        bond_opts: {mode: active-backup, miimon: 100}
        addresses: [192.168.90.2/24]
    dns:
      nameservers: [192.168.76.3]
  containerd:
    on_demand: false
`

// cloudConfigFwCfg hands user-data to the VM through fw_cfg, as
// berth run --cloud-config does, and checks each part of it, the state
// partition grown to a bigger disk, a live hostctl config set that outlives
// a reboot, then a broken user-data that boots with the last good one.
func cloudConfigFwCfg(t *testing.T) {
	key, pub := sshKey(t)
	cfg := directBoot(t, "berth.autologin")
	if err := runCmd("qemu-img", "resize", "-q", cfg.Disks[0].Path, "+512M"); err != nil {
		t.Fatal(err)
	}
	cfg.HostFwd = []string{sshForward}
	cfg.FwCfg["opt/berth/user-data"] = fmt.Sprintf(fwcfgUserData, pub, dataUUID)
	cfg.Extra = append(cfg.Extra, "-drive", "file="+dataDisks(t, "ext4")+",format=raw,if=virtio")
	cfg.Extra = append(cfg.Extra, "-drive", "file="+dataDisks(t, "vfat")+",format=raw,if=virtio")
	cfg.Extra = append(cfg.Extra, extraNIC("n1", "52:54:00:be:00:01", "192.168.76.0/24")...)
	cfg.Extra = append(cfg.Extra, extraNIC("n2", "52:54:00:be:00:02", "192.168.91.0/24")...)
	cfg.Extra = append(cfg.Extra, extraNIC("n3", "52:54:00:be:00:03", "192.168.92.0/24")...)
	m := boot(t, cfg)
	port := m.sshPort()

	if got := strings.TrimSpace(m.sh("hostname")); got != "cc-fwcfg" {
		t.Errorf("hostname %q, want cc-fwcfg", got)
	}
	// ssh_genkeytypes: sshd offers ed25519 and ecdsa, and no RSA key is
	// made (dsa is a warning).
	m.check("ssh-genkeytypes", func(m *machine) {
		if out := m.sh("grep '^HostKey' /etc/ssh/sshd_config"); out != "HostKey /var/lib/berth/ssh/ssh_host_ed25519_key\nHostKey /var/lib/berth/ssh/ssh_host_ecdsa_key\n" {
			m.t.Errorf("sshd_config's HostKey lines:\n%s\nwant ed25519 and ecdsa", out)
		}
		// The console says which keys it made after sshd's start.
		m.eventually("hostctl logs console", regexp.MustCompile(`ssh host keys after sshd's start: ecdsa\n(?:.*\n)*.*sshd reloaded: it listens again, with the host keys ed25519 ecdsa\n`), 2*time.Minute)
		if out := m.sh("ls /var/lib/berth/ssh"); strings.Contains(out, "rsa") {
			m.t.Errorf("an RSA host key was made, though ssh_genkeytypes has none:\n%s", out)
		}
		if out := m.sh("hostctl config status"); !strings.Contains(out, "ssh_genkeytypes[1]: ignored: OpenSSH 9 offers no DSA host key") {
			m.t.Errorf("hostctl config status lacks the dsa warning:\n%s", out)
		}
	})
	// berth.containerd.on_demand: false: the user containerd runs from the
	// boot, before anything used its socket, and its service says why.
	m.check("containerd-at-boot", func(m *machine) {
		s := m.services()["containerd"]
		if pids := m.userContainerd(s.PID); len(pids) != 1 {
			m.t.Errorf("with berth.containerd.on_demand false, containerd in the containerd service (pid %d) before its first use: pids %v, want one", s.PID, pids)
		}
		if out := m.sh("cat /etc/berth/containerd.conf; hostctl logs containerd"); !strings.Contains(out, "\nON_DEMAND=false\n") || !strings.Contains(out, "containerd starts now: berth.containerd.on_demand is false") {
			m.t.Errorf("want ON_DEMAND=false in /etc/berth/containerd.conf and the reason in the service's log:\n%s", out)
		}
	})
	// The bootcmd that left a daemon behind (holding its output open) did
	// not hold boot: ready came, and the daemon still runs.
	if out, code := m.shCode("kill -0 $(cat /var/lib/cc/bootcmd-daemon.pid) && cat /proc/$(cat /var/lib/cc/bootcmd-daemon.pid)/cmdline | tr '\\0' ' '"); code != 0 || !strings.Contains(out, "sleep 1000") {
		t.Errorf("the bootcmd's backgrounded sleep 1000: exit %d, %q", code, out)
	}
	if out := m.sh("cat /root/.ssh/authorized_keys"); !strings.Contains(out, pub) {
		t.Errorf("authorized_keys lacks the key:\n%s", out)
	}
	if out, err := sshRun(t, port, key, "hostname"); err != nil || strings.TrimSpace(out) != "cc-fwcfg" {
		t.Errorf("ssh with the user-data key: %v\n%s", err, out)
	}
	if out, err := sshAs(t, "dev", port, key, "id -un; id -Gn; echo $HOME"); err != nil || !regexp.MustCompile(`^dev\n.*\bwheel\b.*\n/home/dev\n$`).MatchString(out) || !strings.Contains(out, "docker") {
		t.Errorf("ssh as the cloud-config user dev: %v\n%s", err, out)
	}
	if got := m.sh("cat /var/lib/cc/bootcmd.count"); got != "boot\n" {
		t.Errorf("bootcmd: %q", got)
	}
	if out := m.sh("stat -c '%a %s' /var/lib/cc/hello.txt; cat /var/lib/cc/hello.txt"); out != "640 18\nhello from fw_cfg\n" {
		t.Errorf("write_files: %q", out)
	}
	m.eventually("cat /var/lib/cc/runcmd.count", regexp.MustCompile(`^ran\n$`), 2*time.Minute)
	if got := strings.TrimSpace(m.sh("cat /proc/sys/vm/swappiness")); got != "13" {
		t.Errorf("vm.swappiness %q, want 13", got)
	}
	if out := m.sh("cat /proc/swaps"); !strings.Contains(out, "/var/swap.img") {
		t.Errorf("no swap file in /proc/swaps:\n%s", out)
	}
	m.check("mounts-by-uuid-and-label", checkDataMounts)
	// The static address, the VLAN on its link, the bond of two links.
	m.eventually("ip -o -4 addr", regexp.MustCompile(`inet 192\.168\.76\.9/24`), time.Minute)
	m.eventually("ip -o -4 addr show dev bond0", regexp.MustCompile(`inet 192\.168\.90\.2/24`), time.Minute)
	if out := m.sh("cat /proc/net/vlan/config"); !regexp.MustCompile(`\.100\s+\|\s+100\s+\|`).MatchString(out) {
		t.Errorf("no VLAN 100:\n%s", out)
	}
	bond := m.sh("cat /proc/net/bonding/bond0")
	if !strings.Contains(bond, "Bonding Mode: fault-tolerance (active-backup)") || strings.Count(bond, "Slave Interface:") != 2 || !strings.Contains(bond, "MII Polling Interval (ms): 100") {
		t.Errorf("bond0:\n%s", bond)
	}
	if out := m.sh("cat /etc/resolv.conf"); !strings.Contains(out, "nameserver 192.168.76.3") {
		t.Errorf("resolv.conf:\n%s", out)
	}
	// The disk was made 512 MiB bigger: the state partition took it.
	if !regexp.MustCompile(`growpart: /dev/vda\d grew from \d+ MiB to \d+ MiB`).MatchString(m.Output()) {
		t.Error("no growpart line on the console")
	}
	if out := m.sh("df -m /var | tail -1"); !regexp.MustCompile(`^\S+\s+([5-9]\d\d|\d{4,})\s`).MatchString(out) {
		t.Errorf("/var after growpart: %s", out)
	}
	if out, code := m.shCode("hostctl config status"); code != 0 || !strings.Contains(out, "fwcfg") {
		t.Errorf("hostctl config status: exit %d\n%s", code, out)
	}

	// A live change through hostctl, kept across a reboot; runcmd does not
	// run again for the same instance.
	// --dry-run shows the change and its effect, and changes nothing.
	if out := m.sh("hostctl config set hostname cc-live --dry-run"); !strings.Contains(out, "hostname") || !strings.Contains(out, "live") {
		t.Errorf("hostctl config set --dry-run:\n%s", out)
	}
	if out := m.sh("hostctl config set berth.ssh.port 2222 --dry-run"); !strings.Contains(out, "restart") || !strings.Contains(out, "console") {
		t.Errorf("hostctl config set berth.ssh.port --dry-run:\n%s", out)
	}
	if got := strings.TrimSpace(m.sh("hostname")); got != "cc-fwcfg" {
		t.Errorf("hostname after a dry run: %q", got)
	}
	m.sh("hostctl config set hostname cc-live")
	if got := strings.TrimSpace(m.sh("hostname")); got != "cc-live" {
		t.Errorf("hostname after hostctl config set: %q, want cc-live", got)
	}
	// Live too: a sysctl, the name servers, a static address.
	m.sh(`hostctl config set berth.sysctl."vm.swappiness" 21`)
	if got := strings.TrimSpace(m.sh("cat /proc/sys/vm/swappiness")); got != "21" {
		t.Errorf("vm.swappiness after hostctl config set: %q, want 21", got)
	}
	m.sh(`hostctl config set berth.network.dns.nameservers '[192.168.76.4]'`)
	m.eventually("cat /etc/resolv.conf", regexp.MustCompile(`nameserver 192\.168\.76\.4\n`), time.Minute)
	m.sh(`hostctl config set berth.network.interfaces."mac=52:54:00:be:00:01".addresses '[192.168.76.10/24]'`)
	m.eventually("ip -o -4 addr", regexp.MustCompile(`inet 192\.168\.76\.10/24`), time.Minute)
	if out := m.sh("ip -o -4 addr"); strings.Contains(out, "192.168.76.9/") {
		t.Errorf("the old static address stayed:\n%s", out)
	}
	// An invalid change writes nothing and says what is wrong.
	before := m.sh("md5sum " + localConfig)
	out, code := m.shCode("hostctl config set berth.ssh.port 70000")
	if code == 0 || !strings.Contains(out, "berth.ssh.port: expected 1 to 65535, got 70000") {
		t.Errorf("invalid hostctl config set: exit %d\n%s", code, out)
	}
	if after := m.sh("md5sum " + localConfig); after != before {
		t.Error("an invalid hostctl config set changed the local config")
	}
	if out := m.sh("hostctl config export --merged"); !strings.Contains(out, "hostname: cc-live") || !strings.Contains(out, "192.168.76.10/24") {
		t.Errorf("hostctl config export --merged:\n%s", out)
	}
	m.Send("hostctl reboot\n")
	m.waitReady()
	if got := strings.TrimSpace(m.sh("hostname")); got != "cc-live" {
		t.Errorf("hostname after reboot: %q, want cc-live", got)
	}
	if out := m.sh("hostctl config get hostname --source"); !strings.Contains(out, "local") {
		t.Errorf("hostctl config get hostname --source: %q", out)
	}
	// runcmd runs after ready: wait for the line that says it is done
	// (or, as here, skipped for this instance).
	m.eventually("hostctl logs cloud-config", regexp.MustCompile(`user-data scripts and runcmd done`), time.Minute)
	if got := m.sh("cat /var/lib/cc/runcmd.count"); got != "ran\n" {
		t.Errorf("runcmd ran again after a reboot: %q", got)
	}
	if got := m.sh("cat /var/lib/cc/bootcmd.count"); got != "boot\nboot\n" {
		t.Errorf("bootcmd after a reboot: %q, want it run on every boot", got)
	}
	m.check("mounts-after-reboot", checkDataMounts)
	m.poweroffExitsZero()

	// The same disk with broken user-data and another key: the host boots
	// with the last valid user-data of fw_cfg, says why, and keeps the
	// first key.
	_, pub2 := sshKey(t)
	cfg.FwCfg["opt/berth/user-data"] = fmt.Sprintf("#cloud-config\nhostname: cc-broken\nssh_authorized_keys:\n  - %s\nberth:\n  netwrok: {}\n", pub2)
	m2 := boot(t, cfg)
	if !strings.Contains(m2.Output(), "berth.netwrok: unknown key (did you mean berth.network?)") {
		t.Error("the console does not show the user-data error")
	}
	out, code = m2.shCode("hostctl config status")
	if code != 1 || !strings.Contains(out, "berth.netwrok: unknown key") || !strings.Contains(out, "last valid") {
		t.Errorf("hostctl config status: exit %d, want 1 with the error\n%s", code, out)
	}
	keys := m2.sh("cat /root/.ssh/authorized_keys")
	if !strings.Contains(keys, pub) || strings.Contains(keys, pub2) {
		t.Errorf("authorized_keys after broken user-data: want the first key only\n%s", keys)
	}
	if out, err := sshRun(t, m2.sshPort(), key, "true"); err != nil { // a new QEMU: a new port
		t.Errorf("ssh with the first key after broken user-data: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(m2.sh("hostname")); got != "cc-live" {
		t.Errorf("hostname %q, want cc-live (local config)", got)
	}
}

// dataUUID is the ext4 data disk's UUID that the user-data mounts by.
const dataUUID = "3f1c7a52-8d4e-4b0e-9c61-2b7f6f0e9a10"

// dataDisks makes a small data disk for the mounts of the user-data: ext4
// with dataUUID, or vfat labelled BERTHDATA, each holding a file that says
// which it is.
func dataDisks(t *testing.T, fs string) string {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(dir, fs+".img")
	if err := runCmd("truncate", "-s", "16M", img); err != nil {
		t.Fatal(err)
	}
	content := filepath.Join(dir, "content")
	os.MkdirAll(content, 0o755)
	if err := os.WriteFile(filepath.Join(content, "which"), []byte("data on "+fs+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	switch fs {
	case "ext4":
		if err := runCmd("mke2fs", "-q", "-F", "-t", "ext4", "-U", dataUUID, "-d", content, img); err != nil {
			t.Fatal(err)
		}
	default:
		if err := runCmd("mkfs.fat", "-n", "BERTHDATA", img); err != nil {
			t.Fatal(err)
		}
		if err := runCmd("mcopy", "-i", img, filepath.Join(content, "which"), "::which"); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// checkDataMounts checks the user-data's mounts: the ext4 disk by UUID on
// /mnt/byuuid, the vfat disk by LABEL read-only on /media/bylabel.
func checkDataMounts(m *machine) {
	mounts := m.sh("cat /proc/mounts")
	if !regexp.MustCompile(`(?m)^/dev/vd[b-z] /mnt/byuuid ext4 rw`).MatchString(mounts) {
		m.t.Errorf("no ext4 disk mounted by UUID on /mnt/byuuid:\n%s", mounts)
	}
	if !regexp.MustCompile(`(?m)^/dev/vd[b-z] /media/bylabel vfat ro`).MatchString(mounts) {
		m.t.Errorf("no vfat disk mounted read-only by LABEL on /media/bylabel:\n%s", mounts)
	}
	if out := m.sh("cat /mnt/byuuid/which /media/bylabel/which"); out != "data on ext4\ndata on vfat\n" {
		m.t.Errorf("the mounted disks hold %q", out)
	}
}

// power_state powers the host off once runcmd is done, with its message.
func powerState(t *testing.T) {
	cfg := directBoot(t, "")
	cfg.FwCfg["opt/berth/user-data"] = "#cloud-config\nruncmd: [echo about to go]\npower_state: {mode: poweroff, message: 'cc: powering off as asked'}\n"
	vm := start(t, cfg)
	if _, _, err := vm.WaitFor(regexp.MustCompile(`cc: powering off as asked`), *readyMax); err != nil {
		t.Fatal(err)
	}
	if err := vm.Wait(3 * time.Minute); err != nil {
		t.Errorf("after power_state poweroff: %v (want QEMU to exit with status 0)", err)
	}
}
