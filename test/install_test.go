//go:build qemu

package test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/qemu"
)

// installCloudConfig is the cloud-config hostctl install puts on the new
// disk: its first boot must apply it.
const installCloudConfig = `#cloud-config
hostname: installed-host
write_files:
  - path: /var/lib/installed-by
    content: hostctl install
`

// install boots the ISO under SeaBIOS with a blank disk (vda) and one
// holding an ext4 filesystem (vdb), installs onto vda with hostctl
// install, then boots vda alone under SeaBIOS and under OVMF (issue 8).
// On the way it checks the refusals: a disk that holds a filesystem
// (unchanged to the byte), an invalid cloud-config, a dry run; none
// writes anything.
func install(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target.qcow2")
	if err := runCmd("qemu-img", "create", "-q", "-f", "qcow2", target, "2G"); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data.img")
	if err := runCmd("truncate", "-s", "64M", data); err != nil {
		t.Fatal(err)
	}
	if err := runCmd("mkfs.ext4", "-q", "-L", "userdata", data); err != nil {
		t.Fatal(err)
	}
	dataSum := fileSHA256(t, data)

	m := boot(t, qemu.Config{Net: true, Disks: []qemu.Disk{
		{Path: artifact(t, "berth.iso"), If: "cdrom", ReadOnly: true},
		{Path: target, Format: "qcow2"},
		{Path: data, Format: "raw"},
	}})
	blank := func(m *machine, why string) {
		m.t.Helper()
		if out, code := m.shCode("cmp -n 4194304 /dev/vda /dev/zero && ! test -e /dev/vda1"); code != 0 {
			m.t.Errorf("vda was written by %s:\n%s", why, out)
		}
	}
	m.check("refuses-a-disk-with-a-filesystem", func(m *machine) {
		out, code := m.shCode("hostctl install --device /dev/vdb")
		if code == 0 || !strings.Contains(out, "/dev/vdb holds an ext4 filesystem; --wipe erases it") {
			m.t.Errorf("install onto a disk holding ext4: exit %d, want non-zero naming the filesystem and --wipe:\n%s", code, out)
		}
	})
	m.check("refuses-an-invalid-cloud-config", func(m *machine) {
		m.sh("printf '#cloud-config\\nhostname: [not, a, name]\\n' > /tmp/bad.yaml")
		out, code := m.shCode("hostctl install --device /dev/vda --cloud-config /tmp/bad.yaml")
		if code == 0 || !strings.Contains(out, "/tmp/bad.yaml") || !strings.Contains(out, "hostname") {
			m.t.Errorf("install with an invalid cloud-config: exit %d, want non-zero naming the file and the field:\n%s", code, out)
		}
		blank(m, "a refused install")
	})
	m.check("dry-run", func(m *machine) {
		out := m.sh("hostctl install --device /dev/vda --dry-run")
		for _, want := range []string{"dry run, nothing written", "/dev/vda: 2048 MiB", "BERTH_A", "BERTH_STATE", "GRUB for BIOS"} {
			if !strings.Contains(out, want) {
				m.t.Errorf("hostctl install --dry-run lacks %q:\n%s", want, out)
			}
		}
		blank(m, "a dry run")
	})
	ok := m.check("install", func(m *machine) {
		m.sh("printf '" + strings.ReplaceAll(installCloudConfig, "\n", "\\n") + "' > /tmp/cc.yaml")
		out := m.sh("hostctl install --device /dev/vda --cloud-config /tmp/cc.yaml --append berth_install_test=1")
		if !strings.Contains(out, "installed:") || !strings.Contains(out, "writing the root into BERTH_A") {
			m.t.Errorf("hostctl install:\n%s", out)
		}
		// The disk holds a Berth disk now: a second install is refused.
		if out, code := m.shCode("hostctl install --device /dev/vda --dry-run"); code == 0 || !strings.Contains(out, "holds a GPT partition table") {
			m.t.Errorf("a second install onto the installed disk: exit %d\n%s", code, out)
		}
	})
	m.poweroffExitsZero()
	if got := fileSHA256(t, data); got != dataSum {
		t.Errorf("the refused disk changed: sha256 %s, was %s", got, dataSum)
	}
	if !ok || t.Failed() {
		return
	}

	// The installed disk boots alone under SeaBIOS; from it, the host
	// installs itself onto another blank disk.
	second := filepath.Join(dir, "second.qcow2")
	if err := runCmd("qemu-img", "create", "-q", "-f", "qcow2", second, "2G"); err != nil {
		t.Fatal(err)
	}
	t.Run("boots-under-bios", func(t *testing.T) {
		m := boot(t, qemu.Config{Net: true, Disks: []qemu.Disk{{Path: target, Format: "qcow2", BootIndex: 1}, {Path: second, Format: "qcow2"}}})
		checkInstalled(m.with(t), "installed-host", "berth_install_test=1")
		if out, code := m.shCode("hostctl install --device /dev/vda --wipe --dry-run"); code == 0 || !strings.Contains(out, "/dev/vda is the disk this host booted from") {
			t.Errorf("an install onto the boot disk: exit %d\n%s", code, out)
		}
		m.sh("printf '#cloud-config\\nhostname: installed-again\\n' > /tmp/cc.yaml")
		if out := m.sh("hostctl install --device /dev/vdb --cloud-config /tmp/cc.yaml"); !strings.Contains(out, "installed:") {
			t.Errorf("hostctl install from the installed disk:\n%s", out)
		}
		m.poweroffExitsZero()
	})
	t.Run("boots-under-uefi", func(t *testing.T) {
		m := boot(t, qemu.Config{UEFI: true, Net: true, Disks: []qemu.Disk{{Path: target, Format: "qcow2"}}})
		m.sh("test -d /sys/firmware/efi")
		checkInstalled(m.with(t), "installed-host", "berth_install_test=1")
		m.poweroffExitsZero()
	})
	t.Run("installed-from-disk-boots", func(t *testing.T) {
		m := boot(t, qemu.Config{Net: true, Disks: []qemu.Disk{{Path: second, Format: "qcow2"}}})
		checkInstalled(m.with(t), "installed-again", "")
	})
}

// checkInstalled checks a boot of an installed disk: root and state from
// it, verified, GUIDs of its own, and the install's cloud-config and
// kernel arguments.
func checkInstalled(m *machine, hostname, appended string) {
	m.t.Helper()
	m.checkHost()
	m.checkVerifiedRoot(regexp.MustCompile(`^vda2$`))
	m.checkOSStatus(`medium +disk \(vda\)`, `root +/dev/vda2 \(slot a\)`, `slot b +/dev/vda3 +empty`)
	m.checkOwnDiskGUID("vda")
	m.checkBootPart()
	if out := m.sh("grep ' /var ' /proc/mounts"); !strings.HasPrefix(out, "/dev/vda4 /var ext4") {
		m.t.Errorf("/var: %q, want the installed BERTH_STATE", out)
	}
	if got := strings.TrimSpace(m.sh("hostname")); got != hostname {
		m.t.Errorf("hostname %q, want %s from the install's cloud-config", got, hostname)
	}
	if appended == "" {
		return
	}
	if got := strings.TrimSpace(m.sh("cat /var/lib/installed-by")); got != "hostctl install" {
		m.t.Errorf("/var/lib/installed-by = %q: the install's write_files did not run", got)
	}
	if cl := m.sh("cat /proc/cmdline"); !strings.Contains(cl, " "+appended) {
		m.t.Errorf("the kernel command line lacks the install's --append %s: %s", appended, cl)
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// installUnattended boots the ISO with user-data holding berth.install:
// once the user-data has run, the host installs onto the blank disk with
// that user-data and powers off by itself; the disk then boots alone and
// has applied it, without installing again.
func installUnattended(t *testing.T) {
	target := filepath.Join(t.TempDir(), "target.qcow2")
	if err := runCmd("qemu-img", "create", "-q", "-f", "qcow2", target, "2G"); err != nil {
		t.Fatal(err)
	}
	userData := "#cloud-config\nhostname: unattended\nberth:\n  install:\n    device: /dev/vda\n"
	m := boot(t, qemu.Config{Net: true, FwCfg: map[string]string{"opt/berth/user-data": userData}, Disks: []qemu.Disk{
		{Path: artifact(t, "berth.iso"), If: "cdrom", ReadOnly: true},
		{Path: target, Format: "qcow2"},
	}})
	if _, _, err := m.WaitFor(regexp.MustCompile(`berth: install: done; powering off`), 3*time.Minute); err != nil {
		t.Fatalf("the unattended install did not finish: %v", err)
	}
	if err := m.Wait(3 * time.Minute); err != nil {
		t.Fatalf("after the unattended install: %v (want QEMU to exit with status 0)", err)
	}
	m = boot(t, qemu.Config{Net: true, Disks: []qemu.Disk{{Path: target, Format: "qcow2"}}})
	if got := strings.TrimSpace(m.sh("hostname")); got != "unattended" {
		t.Errorf("hostname %q, want unattended from the user-data the install copied", got)
	}
	m.checkOSStatus(`medium +disk \(vda\)`, `root +/dev/vda2 \(slot a\)`)
	m.eventually("cat /var/log/init.log", regexp.MustCompile(`install: berth.install ignored: this host booted from disk`), time.Minute)
}
