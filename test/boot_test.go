//go:build qemu

package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/qemu"
	"github.com/berth-os/berth/kernel"
)

func runCmd(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// The ISO from a CD under SeaBIOS: a live system with /var on tmpfs. This
// boot also checks the kernel's config and the ACPI power button.
func isoBIOS(t *testing.T) {
	m := boot(t, qemu.Config{Net: true, Disks: []qemu.Disk{{Path: artifact(t, "berth.iso"), If: "cdrom", ReadOnly: true}}})
	m.check("host", (*machine).checkHost)
	m.check("cmdline", func(m *machine) {
		if out := m.sh("cat /proc/cmdline"); !strings.Contains(out, "berth.boot=iso") {
			m.t.Errorf("cmdline %q lacks berth.boot=iso", out)
		}
	})
	m.check("verified-root", func(m *machine) {
		m.checkVerifiedRoot(regexp.MustCompile(`^loop\d+$`))
		m.checkOSStatus(`medium +iso \(sr0\)`, `verified +yes: dm-verity, berth\.verity=\d+:[0-9a-f]{64}`)
	})
	m.check("live-var", func(m *machine) {
		if out := m.sh("grep ' /var ' /proc/mounts"); !strings.HasPrefix(out, "tmpfs /var tmpfs") {
			m.t.Errorf("/var on a live ISO with no state disk: %q, want tmpfs", out)
		}
		if out := m.sh("grep -c 'nothing persists' /var/log/init.log"); strings.TrimSpace(out) == "0" {
			m.t.Error("init did not say that state is on tmpfs")
		}
	})
	// The booted kernel has every option Berth requires.
	m.check("kernel-config", func(m *machine) {
		cfg := kernel.ParseConfig([]byte(m.sh("zcat /proc/config.gz")))
		if bad := kernel.Check(cfg, kernel.Required()); len(bad) > 0 {
			m.t.Errorf("booted kernel lacks required options:\n%s", strings.Join(bad, "\n"))
		}
		if bad := kernel.Check(cfg, kernel.Hardening()); len(bad) > 0 {
			m.t.Errorf("booted kernel lacks hardening options:\n%s", strings.Join(bad, "\n"))
		}
	})
	m.check("hardening", (*machine).checkHardening)
	// BTF for CO-RE eBPF tools: the kernel's own, and a module's (split
	// BTF on top of it), made by pahole from the build's debug info.
	m.check("btf", func(m *machine) {
		out := m.sh("modprobe exfat; for f in vmlinux exfat; do echo $f $(stat -c %s /sys/kernel/btf/$f) $(head -c 2 /sys/kernel/btf/$f | od -An -tx1); done")
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) != 4 || f[2] != "9f" || f[3] != "eb" {
				m.t.Errorf("BTF: %q, want a name, a size and the magic 9f eb", line)
				continue
			}
			min := int64(1 << 20)
			if f[0] == "exfat" {
				min = 4 << 10
			}
			if n, err := strconv.ParseInt(f[1], 10, 64); err != nil || n < min {
				m.t.Errorf("BTF of %s: %s bytes, want at least %d", f[0], f[1], min)
			}
		}
		if !strings.Contains(out, "vmlinux ") || !strings.Contains(out, "exfat ") {
			m.t.Errorf("BTF: %q, want vmlinux's and exfat's", out)
		}
	})
	// A production image's boot menus offer no autologin or debug entry
	// (GRUB for UEFI, isolinux for BIOS): only fw_cfg flags turn it on.
	m.check("boot-menus", func(m *machine) {
		out := m.sh("mkdir -p /tmp/iso && mount -o ro /dev/sr0 /tmp/iso && find /tmp/iso -name '*.cfg' | sort; echo ---; find /tmp/iso -name '*.cfg' -exec grep -il -e autologin -e berth.debug {} +; umount /tmp/iso")
		cfgs, hits, _ := strings.Cut(out, "---")
		if !strings.Contains(cfgs, "grub.cfg") || !strings.Contains(cfgs, "isolinux.cfg") {
			m.t.Errorf("the ISO's boot menus not found:\n%s", cfgs)
		}
		if strings.TrimSpace(hits) != "" {
			m.t.Errorf("boot menus that offer autologin or debug:\n%s", hits)
		}
	})
	// ACPI power button (QMP system_powerdown): a clean shutdown, exit 0.
	m.check("power-button", func(m *machine) {
		if _, err := m.QMP("system_powerdown"); err != nil {
			m.t.Fatal(err)
		}
		if _, _, err := m.WaitFor(regexp.MustCompile(`power button pressed`), time.Minute); err != nil {
			m.t.Error(err)
		}
		if err := m.Wait(3 * time.Minute); err != nil {
			m.t.Errorf("after the power button: %v (want QEMU to exit with status 0)", err)
		}
	})
}

// The ISO from a CD under OVMF (UEFI).
func isoUEFI(t *testing.T) {
	m := boot(t, qemu.Config{UEFI: true, Net: true, Disks: []qemu.Disk{{Path: artifact(t, "berth.iso"), If: "cdrom", ReadOnly: true}}})
	m.check("host", (*machine).checkHost)
	m.check("efi", func(m *machine) { m.sh("test -d /sys/firmware/efi") })
}

// The ISO written to a disk (or USB stick): the isohybrid MBR under BIOS.
func isoAsDiskBIOS(t *testing.T) {
	m := boot(t, qemu.Config{Net: true, Disks: []qemu.Disk{{Path: artifact(t, "berth.iso"), Snapshot: true}}})
	m.check("host", (*machine).checkHost)
}

// The ISO written to a disk under UEFI: the isohybrid GPT's EFI partition.
func isoAsDiskUEFI(t *testing.T) {
	m := boot(t, qemu.Config{UEFI: true, Net: true, Disks: []qemu.Disk{{Path: artifact(t, "berth.iso"), Snapshot: true}}})
	m.check("host", (*machine).checkHost)
	m.check("efi", func(m *machine) { m.sh("test -d /sys/firmware/efi") })
}

// The raw disk under SeaBIOS (GRUB's boot.img and core.img, from the BIOS
// boot partition). This boot also checks module autoload by udev and the
// /dev/disk links: a USB stick (usb-storage is a module) and a PCnet NIC
// (pcnet32, a module too; the platforms' NICs, e1000e among them, are
// built in). Then it boots the same disk again with a copy of the image
// attached before it, which must be ignored.
func rawBIOS(t *testing.T) {
	stick := filepath.Join(t.TempDir(), "stick.img")
	if err := runCmd("truncate", "-s", "16M", stick); err != nil {
		t.Fatal(err)
	}
	if err := runCmd("mkfs.fat", "-n", "BERTHSTICK", "-i", "CAFE1234", stick); err != nil {
		t.Fatal(err)
	}
	disk := qemu.Disk{Path: overlay(t, artifact(t, "berth.raw"), "raw"), Format: "qcow2"}
	cfg := qemu.Config{Net: true, Disks: []qemu.Disk{disk, {Path: stick, If: "usb"}},
		Extra: []string{"-netdev", "user,id=net1", "-device", "pcnet,netdev=net1,romfile="}}
	m := boot(t, cfg)
	m.check("host", (*machine).checkHost)
	m.check("state-partition", func(m *machine) {
		if out := m.sh("grep ' /var ' /proc/mounts"); !strings.HasPrefix(out, "/dev/vda4 /var ext4") {
			m.t.Errorf("/var: %q, want the BERTH_STATE partition (ext4)", out)
		}
	})
	m.check("own-guids", func(m *machine) { m.checkOwnDiskGUID("vda") })
	m.check("boot-part", (*machine).checkBootPart)
	m.check("os-status", func(m *machine) {
		m.checkOSStatus(`medium +disk \(vda\)`, `root +/dev/vda2 \(slot a\)`, `verified +yes: dm-verity, berth\.verity=\d+:[0-9a-f]{64}`,
			`slot a +/dev/vda2 +running +0\.1\.0`, `slot b +/dev/vda3 +empty`, `boot partition +[0-9a-fA-F-]{36}`)
	})
	m.check("module-autoload", func(m *machine) {
		m.eventually("cat /proc/modules", regexp.MustCompile(`(?m)^usb_storage `), time.Minute)
		m.eventually("cat /proc/modules", regexp.MustCompile(`(?m)^pcnet32 `), time.Minute)
		m.eventually("ls /sys/class/net", regexp.MustCompile(`eth1`), time.Minute)
	})
	m.check("disk-links", func(m *machine) {
		m.eventually("ls -l /dev/disk/by-label/", regexp.MustCompile(`BERTHSTICK -> \.\./\.\./sd[a-z]`), time.Minute)
		m.sh("test -e /dev/disk/by-uuid/CAFE-1234")
		m.eventually("ls /dev/disk/by-path/", regexp.MustCompile(`usb-0:1:1\.0-scsi-0:0:0:0`), time.Minute)
	})
	persistence(m, "hostctl reboot", "hostctl poweroff")
	if t.Failed() {
		return
	}
	// A copy of the image, first on the bus (vda) but not booted: its
	// BERTH_A and BERTH_STATE are never taken for the boot disk's (vdb).
	t.Run("copy-of-image-ignored", func(t *testing.T) {
		disk.BootIndex = 1
		fake := qemu.Disk{Path: overlay(t, artifact(t, "berth.raw"), "raw"), Format: "qcow2", BootIndex: 2}
		cfg.Disks = []qemu.Disk{fake, disk, {Path: stick, If: "usb"}}
		m := boot(t, cfg)
		m.checkVerifiedRoot(regexp.MustCompile(`^vdb2$`))
		m.checkOSStatus(`medium +disk \(vdb\)`, `slot a +/dev/vdb2 +running +0\.1\.0`)
		if mounts := m.sh("grep ' /var ' /proc/mounts"); !strings.HasPrefix(mounts, "/dev/vdb4 /var ext4") {
			t.Errorf("/var: %q, want the state of the disk the firmware booted", mounts)
		}
		if out := m.sh("cat /var/lib/reboot-test"); !strings.HasPrefix(out, "berth-") {
			t.Errorf("/var/lib/reboot-test = %q: not the boot disk's state", out)
		}
		if out, code := m.shCode("grep vda /proc/mounts"); code == 0 {
			t.Errorf("the copy is mounted:\n%s", out)
		}
		if out := m.sh("od -An -tx1 -N16 /dev/vda4 | tr -d ' \\n'"); out != strings.Repeat("0", 32) {
			t.Errorf("the copy's BERTH_STATE was written: %s", out)
		}
	})
}

// grubBootsAtOnce checks GRUB's menu on a production disk: it has one
// entry, which can't be edited and has no command line beside it, so GRUB
// does not show it and boots that entry at once (timeout 0). No key is
// typed: GRUB reads none, and under BIOS what it leaves in the serial
// port would reach the console's shell. grub.cfg's lock, which guards the
// menus of more than one entry (debug_entries), is build/bootloader's test.
func grubBootsAtOnce(t *testing.T, vm *qemu.VM) {
	t.Helper()
	if _, _, err := vm.WaitFor(regexp.MustCompile(`Welcome to GRUB!`), 2*time.Minute); err != nil {
		t.Fatalf("GRUB did not start: %v", err)
	}
	m, _, err := vm.WaitFor(regexp.MustCompile(`(?s)^(.*?)Linux version \d`), time.Minute)
	if err != nil {
		t.Fatalf("GRUB did not start the kernel: %v", err)
	}
	for _, menu := range []string{"GNU GRUB", "executed automatically", "Press enter to boot"} {
		if strings.Contains(m[1], menu) {
			t.Errorf("GRUB showed its menu (%q) where there is one entry to boot:\n%s", menu, m[1])
			return
		}
	}
}

// checkBootPart checks that GRUB named the partition it was loaded from
// (the EFI partition) by its GUID, and that stage 1 took the root from
// that partition's disk.
func (m *machine) checkBootPart() {
	m.t.Helper()
	cl := m.sh("cat /proc/cmdline")
	if !regexp.MustCompile(`(^| )berth\.boot\.part=[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}( |$)`).MatchString(cl) {
		m.t.Errorf("kernel command line %q: no berth.boot.part=GUID from GRUB", cl)
	}
	if b := m.sh("cat /run/berth/boot.json"); !strings.Contains(b, `"disk":"vda"`) || !strings.Contains(b, `"root":"/dev/vda2"`) {
		m.t.Errorf("boot record %s: want the root from vda2", b)
	}
	m.checkVerifiedRoot(regexp.MustCompile(`^vda2$`))
}

// checkOSStatus checks that hostctl os status has a line matching each of
// lines.
func (m *machine) checkOSStatus(lines ...string) {
	m.t.Helper()
	out := m.sh("hostctl os status")
	for _, l := range lines {
		if !regexp.MustCompile(`(?m)^` + l + `$`).MatchString(out) {
			m.t.Errorf("hostctl os status has no line %q:\n%s", l, out)
		}
	}
}

// checkVerifiedRoot checks that / is the squashfs read through dm-verity
// (berth-root, read-only) over one device whose name matches over, opened
// with the berth.verity of the kernel command line.
func (m *machine) checkVerifiedRoot(over *regexp.Regexp) {
	m.t.Helper()
	if out := m.sh("grep ' / ' /proc/mounts"); !strings.HasPrefix(out, "/dev/dm-0 / squashfs ro") {
		m.t.Errorf("/ is %q, want the squashfs on /dev/dm-0 (dm-verity)", out)
	}
	name := strings.TrimSpace(m.sh("cat /sys/class/block/dm-0/dm/name /sys/class/block/dm-0/ro"))
	slaves := strings.TrimSpace(m.sh("ls /sys/class/block/dm-0/slaves"))
	if name != "berth-root\n1" || !over.MatchString(slaves) {
		m.t.Errorf("dm-0: name and ro %q, over %q; want berth-root, read-only, over %s", name, slaves, over)
	}
	cl := regexp.MustCompile(`berth\.verity=(\d+:[0-9a-f]{64})`).FindStringSubmatch(m.sh("cat /proc/cmdline"))
	if b := m.sh("cat /run/berth/boot.json"); cl == nil || !strings.Contains(b, `"verity":"`+cl[1]+`"`) {
		m.t.Errorf("boot record %s: want the verity of the command line %v", b, cl)
	}
}

// storedGUID is a GUID as a GPT stores it (the first three fields
// little-endian), in hex.
func storedGUID(g string) string {
	h := strings.ToLower(strings.ReplaceAll(g, "-", ""))
	swap := func(s string) string {
		var b strings.Builder
		for i := len(s); i > 0; i -= 2 {
			b.WriteString(s[i-2 : i])
		}
		return b.String()
	}
	return swap(h[0:8]) + swap(h[8:12]) + swap(h[12:16]) + h[16:]
}

// checkOwnDiskGUID checks that the GPT of disk no longer has the factory
// disk GUID: the first boot from a copy of the image gave it its own.
func (m *machine) checkOwnDiskGUID(disk string) {
	m.t.Helper()
	// The disk GUID is at byte 56 of the GPT header (LBA 1).
	got := strings.TrimSpace(m.sh("dd if=/dev/" + disk + " bs=512 skip=1 count=1 2>/dev/null | od -An -tx1 -j56 -N16 | tr -d ' \\n'"))
	if len(got) != 32 || got == storedGUID(layout.FactoryDiskGUID) {
		m.t.Errorf("disk GUID of %s on disk: %q; want one of its own, not the factory %s", disk, got, layout.FactoryDiskGUID)
	}
}

// persistence reboots with the command reboot, checks that /var/lib kept
// its file, then powers off with the command poweroff. The scenarios
// share out the ways a user has: hostctl (the host API); the console
// shell's reboot, poweroff and halt (busybox applets, which signal PID 1);
// shutdown and /usr/sbin/reboot, /usr/sbin/poweroff (services/shutdown by
// its four names, which asks PID 1 through the power socket).
func persistence(m *machine, reboot, poweroff string) {
	if m.check("reboot-keeps-state", func(m *machine) { m.rebootKeepsState(reboot) }) {
		m.check("poweroff", func(m *machine) { m.powerOffBy(poweroff) })
	}
}

// The raw disk under OVMF (GRUB from the EFI partition).
func rawUEFI(t *testing.T) {
	m := launch(t, qemu.Config{UEFI: true, Net: true, Disks: []qemu.Disk{{Path: overlay(t, artifact(t, "berth.raw"), "raw"), Format: "qcow2"}}}, qemu.Start)
	grubBootsAtOnce(t, m.VM)
	m.waitReady()
	m.check("host", (*machine).checkHost)
	m.check("efi", func(m *machine) { m.sh("test -d /sys/firmware/efi") })
	m.check("boot-part", (*machine).checkBootPart)
	persistence(m, "reboot", "poweroff")
}

func qcow2BIOS(t *testing.T) {
	m := boot(t, qemu.Config{Net: true, Disks: []qemu.Disk{{Path: overlay(t, artifact(t, "berth.qcow2"), "qcow2"), Format: "qcow2"}}})
	m.check("host", (*machine).checkHost)
	persistence(m, "shutdown -r now", "halt")
}

func qcow2UEFI(t *testing.T) {
	m := boot(t, qemu.Config{UEFI: true, Net: true, Disks: []qemu.Disk{{Path: overlay(t, artifact(t, "berth.qcow2"), "qcow2"), Format: "qcow2"}}})
	m.check("host", (*machine).checkHost)
	persistence(m, "/usr/sbin/reboot", "/usr/sbin/poweroff")
}

// bootMicrovm boots kernel (an artifact) and the initrd directly in a
// microvm of mem MiB (0: the default), with the raw disk and the NIC on
// virtio-mmio.
func bootMicrovm(t *testing.T, kernel string, mem int) *machine {
	khz := qemu.HostTSCKHz()
	if khz == 0 {
		t.Fatal("cannot read the host TSC frequency for tsc_early_khz")
	}
	return boot(t, qemu.Config{
		Machine: "microvm", Net: true, Memory: mem,
		Kernel: artifact(t, kernel), Initrd: artifact(t, "initrd.img"),
		Append: fmt.Sprintf("console=ttyS0 tsc_early_khz=%d panic=10", khz),
		Disks:  []qemu.Disk{{Path: overlay(t, artifact(t, "berth.raw"), "raw"), Format: "qcow2", If: "virtio-mmio"}},
	})
}

// microvmMemory is the Microvm scenario's RAM (MiB): Firecracker's default.
const microvmMemory = 128

// The Firecracker-style path: -M microvm, no firmware and no bootloader,
// the kernel and initrd given directly, the raw disk and the NIC on
// virtio-mmio, and the 128 MiB of Firecracker's standard microVM: the
// boot is ready (not degraded) with every service, and stage 1 turned the
// root disk's readahead off, without which such a boot reads its programs
// from the squashfs again and again (34 s to 128 s to ready, or a
// containerd not ready after two minutes).
func microvm(t *testing.T) {
	m := bootMicrovm(t, "vmlinuz", microvmMemory)
	m.check("host", (*machine).checkHost)
	m.check("small-memory", func(m *machine) {
		if !regexp.MustCompile(`berth stage1: memory \d+ MiB: no readahead on the root's block device \d+:\d+`).MatchString(m.Output()) {
			m.t.Errorf("stage 1 did not say it turned the root disk's readahead off in %d MiB", microvmMemory)
		}
		if out := strings.TrimSpace(m.sh("cat /sys/block/vda/queue/read_ahead_kb")); out != "0" {
			m.t.Errorf("root disk's read_ahead_kb in %d MiB: %q, want 0", microvmMemory, out)
		}
	})
	// The bzImage's own entry, not the PVH one (the PVH scenario's check
	// would fail here).
	m.check("bzimage-entry", func(m *machine) {
		if got := bootProtocol(m); got == pvhProtocol || got == "" {
			m.t.Errorf("boot protocol version %q: want the bzImage's, not the PVH entry's %s", got, pvhProtocol)
		}
	})
	m.check("poweroff", (*machine).poweroffExitsZero)
}

// The manifest lists every artifact with its size and sha256, and the
// versions of the parts.
func manifestLists(t *testing.T) {
	p := filepath.Join(filepath.Dir(artifact(t, "berth.iso")), "manifest.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"berth.iso"`, `"berth.raw"`, `"berth.qcow2"`, `"berth.vmdk"`, `"berth.vdi"`, `"berth.vhd"`, `"berth.vhdx"`, `"berth-vmware.ova"`, `"berth-virtualbox.ova"`, `"berth-gce.tar.gz"`, `"berth.ipxe"`, `"vmlinuz"`, `"vmlinux"`, `"initrd.img"`, `"rootfs.squashfs"`, `"kernel": "6.12`, `"containerd": "v2.`, `"runc": "v1.`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("manifest lacks %s:\n%s", want, b)
		}
	}
}
