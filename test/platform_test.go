//go:build qemu

package test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	// extra are more QEMU arguments: the platform's DMI tables.
	extra []string
}

// bootPlatform boots p's disk image (through a copy-on-write overlay) on
// p's controller and NIC, and checks that the root and
// the state partition come from that disk through that controller's
// driver, that eth0 is p's NIC with its DHCP lease, and that the host is
// ready.
func bootPlatform(t *testing.T, p platform) *machine {
	disk := qemu.Disk{Path: overlay(t, artifact(t, p.artifact), p.format), Format: "qcow2", If: p.disk}
	m := boot(t, qemu.Config{Machine: p.machine, UEFI: p.uefi, Net: true, NIC: p.nic, Disks: []qemu.Disk{disk}, Extra: p.extra})
	m.check("host", (*machine).checkHost)
	m.check("devices", func(m *machine) {
		// The root is read through dm-verity: its device is the one under it.
		root := "/dev/" + strings.TrimSpace(m.sh(`ls /sys/class/block/dm-0/slaves`))
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

// driverOf is a shell function: the driver of the controller that a block
// device (/dev/sda4) hangs from, found by walking up its sysfs path to a
// virtio device (virtio_scsi, virtio_blk) or else a PCI device.
const driverOf = `driver_of() { p=$(readlink -f /sys/class/block/${1#/dev/}); while [ "$p" != / ]; do case ${p##*/} in virtio[0-9]*|0000:*) basename $(readlink $p/driver); return;; esac; p=${p%/*}; done; echo none; }`

// VMware under SeaBIOS: the streamOptimized VMDK on a paravirtual SCSI
// controller with a vmxnet3 NIC, and VMware's DMI tables. A VMware VM's
// UEFI boot can't be emulated here: Debian's OVMF has no driver for pvscsi
// nor for the LSI Logic SAS controller (with the disk on mptsas1068 its
// boot manager starts the UEFI shell), and the kernel's mptsas driver
// finds no disk on QEMU's mptsas1068 even when OVMF or SeaBIOS loads the
// kernel itself: it reads the SAS topology and never scans the end device
// (QEMU 7.2's mptsas_* trace shows no command from Linux). The LSI SAS
// driver is covered by kernel/required.txt only.
func vmware(t *testing.T) {
	m := bootPlatform(t, platform{artifact: "berth.vmdk", format: "vmdk", disk: "pvscsi", nic: "vmxnet3", machine: "pc",
		diskDriver: "vmw_pvscsi", nicDriver: "vmxnet3",
		extra: []string{"-smbios", "type=1,manufacturer=VMware,, Inc.,product=VMware7,,1"}})
	// The DMI tables name VMware, so boot reads guestinfo through the
	// backdoor. QEMU's vmport answers only the kernel: from a process,
	// the IN faults. It faults in PID 1's helper, which says so, and boot
	// goes on without the source, PID 1 alive.
	m.check("guestinfo", func(m *machine) {
		out, _ := m.shCode("hostctl config status")
		if !regexp.MustCompile(`datasource\s+vmware\s+not used: not present`).MatchString(out) {
			m.t.Errorf("hostctl config status does not show vmware tried and not present:\n%s", out)
		}
		if log := m.sh("hostctl logs init | grep 'datasource vmware'"); !strings.Contains(log, "no VMware backdoor: the backdoor call faulted") {
			m.t.Errorf("the init log does not say the backdoor faulted in the helper:\n%s", log)
		}
	})
	m.check("poweroff", (*machine).poweroffExitsZero)
}

// VirtualBox: the VDI on an AHCI (SATA) controller with an e1000 NIC, its
// defaults, under SeaBIOS.
func virtualBox(t *testing.T) {
	m := bootPlatform(t, platform{artifact: "berth.vdi", format: "vdi", disk: "ahci", nic: "e1000", machine: "pc",
		diskDriver: "ahci", nicDriver: "e1000"})
	m.check("poweroff", (*machine).poweroffExitsZero)
}

// An NVMe disk under UEFI, as AWS's Nitro instances have, from the VHDX
// (Hyper-V's format), with an e1000e NIC.
func nvmeUEFI(t *testing.T) {
	m := bootPlatform(t, platform{artifact: "berth.vhdx", format: "vhdx", disk: "nvme", nic: "e1000e", uefi: true,
		diskDriver: "nvme", nicDriver: "e1000e"})
	m.check("efi", func(m *machine) { m.sh("test -d /sys/firmware/efi") })
	m.check("poweroff", (*machine).poweroffExitsZero)
}

// The artifacts themselves, booting nothing: the manifest, and the disk
// formats against the raw disk.
func artifactChecks(t *testing.T) {
	t.Run("manifest", manifestLists)
	t.Run("disk-formats", diskFormats)
	t.Run("ova", ovaChecks)
}

// Each OVA holds its descriptor (well-formed for xmllint, naming its
// hypervisor's controller and NIC), a manifest whose SHA-256 sums match,
// and berth.vmdk's bytes, which the VMware scenario boots.
func ovaChecks(t *testing.T) {
	vmdk, err := os.ReadFile(artifact(t, "berth.vmdk"))
	if err != nil {
		t.Fatal(err)
	}
	for ova, devices := range map[string][]string{
		"berth-vmware.ova":     {"<rasd:ResourceSubType>VirtualSCSI<", "<rasd:ResourceSubType>VmxNet3<"},
		"berth-virtualbox.ova": {"<rasd:ResourceSubType>AHCI<", "<rasd:ResourceSubType>E1000<"},
	} {
		t.Run(ova, func(t *testing.T) {
			names, members := readTar(t, artifact(t, ova))
			if len(names) != 3 || !strings.HasSuffix(names[0], ".ovf") || !strings.HasSuffix(names[1], ".mf") || !strings.HasSuffix(names[2], ".vmdk") {
				t.Fatalf("members %v, want the descriptor, the manifest and the disk, in that order", names)
			}
			ovf := filepath.Join(t.TempDir(), names[0])
			if err := os.WriteFile(ovf, members[names[0]], 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("xmllint", "--noout", ovf).CombinedOutput(); err != nil {
				t.Errorf("xmllint %s: %v\n%s", names[0], err, out)
			}
			desc := string(members[names[0]])
			for _, want := range append(devices, "<References>", "<DiskSection>", "<NetworkSection>", "<VirtualSystem ", "<OperatingSystemSection ", "<VirtualHardwareSection>",
				fmt.Sprintf(`ovf:href="%s" ovf:id="file1" ovf:size="%d"`, names[2], len(vmdk))) {
				if !strings.Contains(desc, want) {
					t.Errorf("%s lacks %s", names[0], want)
				}
			}
			for _, n := range []string{names[0], names[2]} {
				sum := sha256.Sum256(members[n])
				if line := fmt.Sprintf("SHA256(%s)= %x\n", n, sum); !strings.Contains(string(members[names[1]]), line) {
					t.Errorf("the manifest lacks %q:\n%s", line, members[names[1]])
				}
			}
			if !bytes.Equal(members[names[2]], vmdk) {
				t.Error("the OVA's disk is not berth.vmdk")
			}
		})
	}
}

// GCE: the raw disk (what berth-gce.tar.gz holds) on virtio-scsi under
// UEFI, with virtio-net (gVNIC, GCE's other NIC, is built in but not
// emulated by QEMU).
func gce(t *testing.T) {
	m := bootPlatform(t, platform{artifact: "berth.raw", format: "raw", disk: "virtio-scsi", nic: "virtio-net-pci", uefi: true,
		diskDriver: "virtio_scsi", nicDriver: "virtio_net"})
	m.check("poweroff", (*machine).poweroffExitsZero)
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
		{"berth.vmdk", "vmdk"}, {"berth.vdi", "vdi"}, {"berth.vhd", "vpc"}, {"berth.vhdx", "vhdx"},
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
	// GCE's tar.gz holds disk.raw alone, berth.raw's bytes.
	t.Run("gce", func(t *testing.T) {
		tr := openTarGz(t, artifact(t, "berth-gce.tar.gz"))
		h, err := tr.Next()
		if err != nil || h.Name != "disk.raw" || h.Size != st.Size() {
			t.Fatalf("first member %+v, %v; want disk.raw of %d bytes", h, err, st.Size())
		}
		r, err := os.Open(raw)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := sameBytes(tr, r); err != nil {
			t.Errorf("disk.raw against berth.raw: %v", err)
		}
		if _, err := tr.Next(); err != io.EOF {
			t.Errorf("a member after disk.raw (%v)", err)
		}
	})
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

// readTar reads a tar file's members, and their names in order.
func readTar(t *testing.T, path string) ([]string, map[string][]byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	members := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, members
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, h.Name, err)
		}
		names = append(names, h.Name)
		members[h.Name] = b
	}
}

// sameBytes compares two streams to their ends.
func sameBytes(a, b io.Reader) error {
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); ; off += int64(len(ba)) {
		na, ea := io.ReadFull(a, ba)
		nb, eb := io.ReadFull(b, bb)
		if !bytes.Equal(ba[:na], bb[:nb]) {
			return fmt.Errorf("they differ in the MiB at %d", off)
		}
		if ea != nil || eb != nil {
			if (ea == nil) != (eb == nil) {
				return fmt.Errorf("one ends at %d, the other does not", off+int64(min(na, nb)))
			}
			return nil
		}
	}
}

// pvhProtocol is the boot protocol version that the kernel's PVH entry
// code writes into the boot parameters it builds (2.12); a bzImage loaded
// by QEMU keeps its own header's (2.15 for 6.12).
const pvhProtocol = "020c"

// bootProtocol is boot_params.hdr.version (offset 0x206) as the booted
// kernel keeps it.
func bootProtocol(m *machine) string {
	return strings.TrimSpace(m.sh("od -An -tx2 -j 518 -N2 /sys/kernel/boot_params/data"))
}

// The PVH entry point, the path of Xen PVH guests and Firecracker: QEMU
// loads the uncompressed vmlinux as an ELF, which it boots only through
// the kernel's PVH note (it refuses an ELF kernel without one).
func pvh(t *testing.T) {
	m := bootMicrovm(t, "vmlinux", 0)
	m.check("host", (*machine).checkHost)
	m.check("pvh-entry", func(m *machine) {
		if got := bootProtocol(m); got != pvhProtocol {
			m.t.Errorf("boot protocol version %s, want %s: the kernel did not come in through its PVH entry", got, pvhProtocol)
		}
	})
	m.check("poweroff", (*machine).poweroffExitsZero)
}
