//go:build qemu

package test

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/qemu"
)

// platform is a hypervisor's devices as QEMU emulates them, with the disk
// format that hypervisor imports (issue 12).
type platform struct {
	artifact string // berth.vmdk
	format   string // QEMU's name of it: vmdk, vdi, vpc
	disk     string // qemu.Disk.If: pvscsi, ahci, nvme
	nic      string // QEMU's NIC model
	uefi     bool
	machine  string
	// The kernel drivers of the boot disk's controller and of the NIC.
	diskDriver, nicDriver string
}

// bootPlatform boots p's disk image (through a copy-on-write overlay) on
// p's controller and NIC, and checks that the root and
// the state partition come from that disk through that controller's
// driver, that eth0 is p's NIC with its DHCP lease, and that the host is
// ready.
func bootPlatform(t *testing.T, p platform) *machine {
	disk := qemu.Disk{Path: overlay(t, artifact(t, p.artifact), p.format), Format: "qcow2", If: p.disk}
	m := boot(t, qemu.Config{Machine: p.machine, UEFI: p.uefi, Net: true, NIC: p.nic, Disks: []qemu.Disk{disk}})
	m.check("host", (*machine).checkHost)
	m.check("devices", func(m *machine) {
		root := strings.TrimSpace(m.sh(`awk '$2 == "/" && $3 == "squashfs" {print $1}' /proc/mounts`))
		state := strings.TrimSpace(m.sh(`awk '$2 == "/var" && $3 == "ext4" {print $1}' /proc/mounts`))
		if root == "" || state == "" {
			m.t.Fatalf("root %q, state %q: want the squashfs root and the ext4 state partition mounted", root, state)
		}
		for _, dev := range []string{root, state} {
			if got := strings.TrimSpace(m.sh(driverOf + "; driver_of " + dev)); got != p.diskDriver {
				m.t.Errorf("%s is on a controller driven by %q, want %s", dev, got, p.diskDriver)
			}
		}
		if got := strings.TrimSpace(m.sh("basename $(readlink /sys/class/net/eth0/device/driver)")); got != p.nicDriver {
			m.t.Errorf("eth0's driver is %q, want %s", got, p.nicDriver)
		}
	})
	return m
}

// driverOf is a shell function: the driver of the PCI device that a block
// device (/dev/sda4) hangs from, found by walking up its sysfs path.
const driverOf = `driver_of() { p=$(readlink -f /sys/class/block/${1#/dev/}); while [ "$p" != / ]; do case ${p##*/} in 0000:*) basename $(readlink $p/driver); return;; esac; p=${p%/*}; done; echo none; }`

// VMware under SeaBIOS: the streamOptimized VMDK on a paravirtual SCSI
// controller with a vmxnet3 NIC. Debian's OVMF has no driver for
// pvscsi (nor for the LSI Logic SAS controller), so a VMware VM's UEFI
// boot can't be emulated here.
func vmware(t *testing.T) {
	m := bootPlatform(t, platform{artifact: "berth.vmdk", format: "vmdk", disk: "pvscsi", nic: "vmxnet3", machine: "pc",
		diskDriver: "vmw_pvscsi", nicDriver: "vmxnet3"})
	m.check("poweroff", (*machine).poweroffExitsZero)
}

// VirtualBox: the VDI on an AHCI (SATA) controller with an e1000 NIC, its
// defaults, under SeaBIOS.
func virtualBox(t *testing.T) {
	m := bootPlatform(t, platform{artifact: "berth.vdi", format: "vdi", disk: "ahci", nic: "e1000", machine: "pc",
		diskDriver: "ahci", nicDriver: "e1000"})
	m.check("poweroff", (*machine).poweroffExitsZero)
}

// An NVMe disk under UEFI, as AWS's Nitro instances have, from the fixed
// VHD (Azure's and Hyper-V's format), with an e1000e NIC.
func nvmeUEFI(t *testing.T) {
	m := bootPlatform(t, platform{artifact: "berth.vhd", format: "vpc", disk: "nvme", nic: "e1000e", uefi: true,
		diskDriver: "nvme", nicDriver: "e1000e"})
	m.check("efi", func(m *machine) { m.sh("test -d /sys/firmware/efi") })
	m.check("poweroff", (*machine).poweroffExitsZero)
}

// The artifacts themselves, booting nothing: the manifest, and the disk
// formats against the raw disk.
func artifactChecks(t *testing.T) {
	t.Run("manifest", manifestLists)
	t.Run("disk-formats", diskFormats)
}

// Each hypervisor format holds berth.raw's bytes exactly, passes
// qemu-img check where it has one, and has the size its hypervisor wants.
func diskFormats(t *testing.T) {
	raw := artifact(t, "berth.raw")
	st, err := os.Stat(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ artifact, format string }{
		{"berth.vmdk", "vmdk"}, {"berth.vdi", "vdi"}, {"berth.vhd", "vpc"},
	} {
		t.Run(f.format, func(t *testing.T) {
			p := artifact(t, f.artifact)
			if f.format != "vpc" { // QEMU's vpc driver has no check
				if out, err := exec.Command("qemu-img", "check", "-f", f.format, p).CombinedOutput(); err != nil {
					t.Errorf("qemu-img check %s: %v\n%s", f.artifact, err, out)
				}
			}
			out, err := exec.Command("qemu-img", "info", "-f", f.format, p).CombinedOutput()
			if want := fmt.Sprintf("virtual size: %d GiB (%d bytes)", st.Size()>>30, st.Size()); err != nil || !strings.Contains(string(out), want) {
				t.Errorf("qemu-img info %s: %v, want %q in\n%s", f.artifact, err, want, out)
			}
			// Every byte the guest reads, against the raw disk's.
			if out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", f.format, raw, p).CombinedOutput(); err != nil {
				t.Errorf("qemu-img compare berth.raw %s: %v\n%s", f.artifact, err, out)
			}
		})
	}
	// A fixed VHD is the raw disk and a 512-byte footer, a whole number of
	// MiB before it, as Azure requires.
	t.Run("vhd-fixed", func(t *testing.T) {
		f, err := os.Open(artifact(t, "berth.vhd"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		footer := make([]byte, 512)
		fi, _ := f.Stat()
		if _, err := f.ReadAt(footer, fi.Size()-512); err != nil {
			t.Fatal(err)
		}
		if fi.Size() != st.Size()+512 || (fi.Size()-512)%(1<<20) != 0 {
			t.Errorf("berth.vhd is %d bytes, want berth.raw's %d (a multiple of 1 MiB) and 512", fi.Size(), st.Size())
		}
		if string(footer[:8]) != "conectix" || binary.BigEndian.Uint32(footer[60:]) != 2 || binary.BigEndian.Uint64(footer[48:]) != uint64(st.Size()) {
			t.Errorf("berth.vhd's footer is not a fixed disk of %d bytes: % x", st.Size(), footer[:64])
		}
	})
}
