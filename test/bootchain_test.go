//go:build qemu

package test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/qemu"
)

// bootChainBIOS and bootChainUEFI try the other slot with hostctl os
// rollback: a healthy slot is kept; a slot whose kernel panics is tried
// (GRUB counts the try before the kernel starts) and rejected, and the
// disk boots the good slot again; under BIOS, a slot that boots but fails
// berth.upgrade.health_check is rejected too, with PID 1's reason (issue
// 8). Slot B is made by the test, as a copy of slot A (its verified root
// and its boot files): hostctl os upgrade, which is to write it from a
// signed bundle, is not there yet.
func bootChainBIOS(t *testing.T) { bootChain(t, false) }
func bootChainUEFI(t *testing.T) { bootChain(t, true) }

func bootChain(t *testing.T, uefi bool) {
	st, err := os.Stat(artifact(t, "rootfs.squashfs"))
	if err != nil {
		t.Fatal(err)
	}
	mib := (st.Size() + 1<<20 - 1) >> 20
	m := boot(t, qemu.Config{UEFI: uefi, Net: true, Disks: []qemu.Disk{{Path: overlay(t, artifact(t, "berth.raw"), "raw"), Format: "qcow2"}}})
	m.checkOSStatus(`good slot +a`, `slot b +/dev/vda3 +empty`)
	if out, code := m.shCode("hostctl os rollback"); code == 0 || !strings.Contains(out, "slot b (/dev/vda3) holds no root") {
		t.Fatalf("rollback to an empty slot: exit %d\n%s", code, out)
	}
	// onEFI runs cmd with the EFI partition mounted on /tmp/efi.
	onEFI := func(m *machine, cmd string) {
		m.t.Helper()
		m.sh("mkdir -p /tmp/efi && mount /dev/vda1 /tmp/efi && " + cmd + " && umount /tmp/efi && sync")
	}
	m.sh(fmt.Sprintf("dd if=/dev/vda2 of=/dev/vda3 bs=1M count=%d 2>/dev/null", mib))
	onEFI(m, "cp -r /tmp/efi/berth/a /tmp/efi/berth/b")
	if out := m.sh("hostctl os rollback"); !strings.Contains(out, "slot b is tried at the next boot (3 tries)") {
		t.Errorf("hostctl os rollback: %s", out)
	}
	m.checkOSStatus(`trying +slot b \(3 tries left\)`)
	reboot := func(m *machine) {
		m.t.Helper()
		m.Send("hostctl reboot\n")
		if _, _, err := m.WaitFor(regexp.MustCompile(`berth: shutting down to reboot`), time.Minute); err != nil {
			m.t.Fatalf("hostctl reboot: %v", err)
		}
	}

	ok := m.check("healthy-slot-kept", func(m *machine) {
		reboot(m)
		m.waitReady()
		m.eventually("hostctl os status", regexp.MustCompile(`(?m)^good slot +b$`), 2*time.Minute)
		m.checkOSStatus(`root +/dev/vda3 \(slot b\)`, `slot a +/dev/vda2 +holds a root`, `slot b +/dev/vda3 +running`)
		m.checkVerifiedRoot(regexp.MustCompile(`^vda3$`))
		if out := m.sh("hostctl os status"); strings.Contains(out, "trying") || strings.Contains(out, "rejected") {
			m.t.Errorf("after slot b was kept:\n%s", out)
		}
	})
	if !ok {
		return
	}
	ok = m.check("panicking-kernel-rejected", func(m *machine) {
		// Slot A's initrd is garbage: its kernel panics (panic=10 reboots).
		onEFI(m, "cp /tmp/efi/berth/a/initrd.img /var/lib/initrd.good && head -c 1048576 /dev/urandom > /tmp/efi/berth/a/initrd.img")
		m.sh("hostctl os rollback --tries 1")
		reboot(m)
		if _, _, err := m.WaitFor(regexp.MustCompile(`Kernel panic`), 2*time.Minute); err != nil {
			m.t.Fatalf("slot a's kernel did not panic: %v", err)
		}
		m.waitReady()
		m.checkOSStatus(`root +/dev/vda3 \(slot b\)`, `good slot +b`,
			`rejected +slot a: its tries ran out before PID 1 said why \(a kernel or early boot failure\)`)
		onEFI(m, "cp /var/lib/initrd.good /tmp/efi/berth/a/initrd.img")
	})
	if !ok || uefi {
		return
	}
	m.check("unhealthy-slot-rejected", func(m *machine) {
		m.sh(`hostctl config set berth.upgrade.health_check '"exit 7"' && hostctl config set berth.upgrade.health_timeout 15s`)
		m.sh("hostctl os rollback --tries 1")
		reboot(m)
		if _, _, err := m.WaitFor(regexp.MustCompile(`berth: boot chain: slot a is not healthy 15s after boot: berth\.upgrade\.health_check \(exit 7\): exit status 7; rebooting`), 3*time.Minute); err != nil {
			m.t.Fatalf("slot a was not found unhealthy: %v", err)
		}
		m.waitReady()
		m.checkOSStatus(`root +/dev/vda3 \(slot b\)`, `good slot +b`, `rejected +slot a: berth\.upgrade\.health_check \(exit 7\): exit status 7`)
	})
}
