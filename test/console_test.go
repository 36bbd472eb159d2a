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

	"github.com/berth-os/berth/internal/qemu"
)

// directBoot is the cheapest boot: q35, no firmware menu, the kernel and
// initrd given to QEMU, the raw disk behind an overlay.
func directBoot(t *testing.T, flags string) qemu.Config {
	return qemu.Config{
		Net:    true,
		Kernel: artifact(t, "vmlinuz"), Initrd: artifact(t, "initrd.img"),
		Append: "console=ttyS0,115200 panic=10",
		Disks:  []qemu.Disk{{Path: overlay(t, artifact(t, "berth.raw"), "raw"), Format: "qcow2"}},
		FwCfg:  map[string]string{"opt/berth/cmdline": flags},
	}
}

// start boots without waiting for the ready line.
func start(t *testing.T, cfg qemu.Config) *qemu.VM {
	t.Helper()
	return launch(t, cfg, qemu.Start).VM
}

// Without berth.autologin the serial console has a getty, and root has no
// password to log in with.
func gettyWithoutAutologin(t *testing.T) {
	vm := start(t, directBoot(t, ""))
	if _, _, err := vm.WaitFor(readyRe, *readyMax); err != nil {
		t.Fatal(err)
	}
	if _, _, err := vm.WaitFor(regexp.MustCompile(`berth login: `), 2*time.Minute); err != nil {
		t.Fatalf("no login prompt on ttyS0: %v", err)
	}
	vm.Send("root\n")
	if _, _, err := vm.WaitFor(regexp.MustCompile(`Password: `), time.Minute); err != nil {
		t.Fatal(err)
	}
	vm.Send("not-the-password\n")
	// Root's password is locked (busybox login says "bad salt" for "*"):
	// the login is refused and the prompt comes back, with no shell.
	if _, _, err := vm.WaitFor(regexp.MustCompile(`berth login: `), time.Minute); err != nil {
		t.Errorf("no new login prompt after a refused login: %v", err)
	}
	if tail := vm.Output()[strings.LastIndex(vm.Output(), "Password:"):]; strings.Contains(tail, "# ") {
		t.Errorf("a shell came after a wrong password:\n%s", tail)
	}
}

// rootPasswordUserData sets root's password to "rescue-secret" (SHA-512
// crypt: openssl passwd -6 -salt berthtest rescue-secret).
const rootPasswordUserData = "#cloud-config\nusers:\n  - name: root\n    passwd: \"$6$berthtest$xTzJ53f2wDUCBnHc40PmgqjfDlxeXP5tpS8hD2CpEEsQLY0inKGBYRMGwpHoIbKSnQr8YF0dcLIo3qFBiAaxy1\"\n"

// berth.break=PHASE stops boot before that phase with a rescue shell on
// the console, behind root's password; PID 1 stays alive under it.
func breakToRescueShell(t *testing.T) {
	cfg := directBoot(t, "berth.break=containerd")
	cfg.FwCfg["opt/berth/user-data"] = rootPasswordUserData
	vm := start(t, cfg)
	if _, _, err := vm.WaitFor(regexp.MustCompile(`rescue shell on /dev/console after root's password`), *readyMax); err != nil {
		t.Fatal(err)
	}
	prompt := regexp.MustCompile(`Give root password for system maintenance`)
	if _, _, err := vm.WaitFor(prompt, time.Minute); err != nil {
		t.Fatal(err)
	}
	vm.Send("not-the-password\n")
	if _, _, err := vm.WaitFor(regexp.MustCompile(`Login incorrect`), time.Minute); err != nil {
		t.Errorf("a wrong password: %v", err)
	}
	if _, _, err := vm.WaitFor(prompt, time.Minute); err != nil {
		t.Fatal(err)
	}
	vm.Send("rescue-secret\n")
	if _, _, err := vm.WaitFor(regexp.MustCompile(`:/# `), time.Minute); err != nil {
		t.Fatal(err)
	}
	out, code, err := vm.Run("cat /proc/1/comm; grep -c containerd /proc/*/comm 2>/dev/null | grep -v ':0' | wc -l", time.Minute)
	if err != nil || code != 0 {
		t.Fatalf("shell: %v, exit %d", err, code)
	}
	lines := strings.Fields(out)
	if len(lines) != 2 || lines[0] != "init" || lines[1] != "0" {
		t.Errorf("got %q: want PID 1 alive as init and no containerd started", out)
	}
	if strings.Contains(vm.Output(), "berth: ready in") {
		t.Error("boot went on past the break")
	}
}

// SIGPWR to PID 1 (a power failure) shuts the host down cleanly: the
// services stop in reverse order and QEMU exits with status 0. (SIGTERM,
// SIGUSR2 and SIGUSR1 are busybox's reboot, poweroff and halt: the
// persistence checks of RawUEFI and Qcow2BIOS send them.) A fork of the
// saved ready machine.
func sigpwrPowersOff(t *testing.T) {
	m := fork(t, nil)
	m.Send("kill -PWR 1\n")
	if _, _, err := m.WaitFor(regexp.MustCompile(`shutting down to power off`), time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"console", "containerd", "network", "logging", "udev"} {
		if _, _, err := m.WaitFor(regexp.MustCompile(`service `+svc+`: stopped`), time.Minute); err != nil {
			t.Errorf("services not stopped in reverse order (%s): %v", svc, err)
		}
	}
	if err := m.Wait(3 * time.Minute); err != nil {
		t.Errorf("after SIGPWR to PID 1: %v (want exit status 0)", err)
	}
}

// sshd takes keys only: a password login is refused, a key in
// /root/.ssh/authorized_keys works. A fork of the saved ready machine, with
// a host forward of its own.
func sshKeysOnly(t *testing.T) {
	m := fork(t, func(cfg *qemu.Config) {
		cfg.HostFwd = []string{sshForward}
	})
	port := m.sshPort()
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if err := runCmd("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key); err != nil {
		t.Fatal(err)
	}
	ssh := func(extra ...string) (string, error) {
		args := append([]string{"-p", fmt.Sprint(port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "ConnectTimeout=60", "-o", "BatchMode=yes"}, extra...)
		out, err := exec.Command("ssh", args...).CombinedOutput()
		return string(out), err
	}
	// The ready line means sshd listens; QEMU's forwarding can still lag,
	// and sshd's reload with the keys made after its start (below) closes
	// its listener for a moment.
	var out string
	var err error
	for i := 0; i < 5; i++ {
		out, err = ssh("-o", "PreferredAuthentications=password", "root@127.0.0.1", "true")
		if !strings.Contains(out, "Connection reset") && !strings.Contains(out, "Connection closed") {
			break
		}
		time.Sleep(3 * time.Second)
	}
	if err == nil || !strings.Contains(out, "Permission denied (publickey)") {
		t.Errorf("password login: err=%v out=%q; want Permission denied (publickey)", err, out)
	}
	// By default sshd offers, and the console makes, ed25519, ECDSA and
	// RSA host keys (the last two after sshd starts).
	if out := m.sh("grep '^HostKey' /etc/ssh/sshd_config"); strings.Count(out, "HostKey /var/lib/berth/ssh/ssh_host_") != 3 {
		t.Errorf("sshd_config's HostKey lines:\n%s\nwant ed25519, ecdsa and rsa", out)
	}
	m.eventually("ls /var/lib/berth/ssh", regexp.MustCompile(`(?s)ssh_host_ecdsa_key\.pub.*ssh_host_ed25519_key\.pub.*ssh_host_rsa_key\.pub`), 2*time.Minute)
	// sshd reloads once the last key is made, and says when it listens
	// again: a login before that may find nothing on port 22.
	logs := m.eventually("hostctl logs console", allHostKeys, time.Minute)
	// sshd started without the keys not made yet, so it had none to miss
	// (it logs an error for each), and reloaded with all three.
	if strings.Contains(logs, "Unable to load host key") {
		t.Errorf("sshd missed host keys at its start:\n%s", logs)
	}
	if out, err := exec.Command("ssh-keyscan", "-p", fmt.Sprint(port), "-T", "60", "-t", "ed25519,ecdsa,rsa", "127.0.0.1").CombinedOutput(); err != nil ||
		!strings.Contains(string(out), " ssh-ed25519 ") || !strings.Contains(string(out), " ecdsa-sha2-nistp256 ") || !strings.Contains(string(out), " ssh-rsa ") {
		t.Errorf("ssh-keyscan after sshd's reload: %v\n%s\nwant an ed25519, an ECDSA and an RSA host key", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")
	m.sh(fmt.Sprintf("mkdir -p -m 700 /root/.ssh && echo '%s' > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys", strings.TrimSpace(string(pub))))
	out, err = ssh("-i", key, "root@127.0.0.1", "hostctl service list")
	if err != nil || !regexp.MustCompile(`(?m)^console\s.*\brunning\b`).MatchString(out) {
		t.Errorf("key login: %v\n%s", err, out)
	}
}

// A power cut right after the first boot (QEMU killed at the ready line,
// while first-boot files such as the ssh host keys are fresh) must not
// break the next boot: it reaches ready, not degraded, as fast as usual.
func powerCutAfterFirstBoot(t *testing.T) {
	cfg := directBoot(t, "berth.autologin")
	vm := start(t, cfg)
	if _, _, err := vm.WaitFor(readyRe, *readyMax); err != nil {
		t.Fatal(err)
	}
	vm.Kill()
	m := boot(t, cfg) // the same overlay: the same state partition
	m.checkHost()
	if out := m.sh("hostctl logs console"); strings.Contains(out, "exited") {
		t.Errorf("console service processes died after the power cut:\n%s", out)
	}
}
