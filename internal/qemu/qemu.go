// Package qemu starts QEMU machines for Berth images and drives them over
// the serial console: `berth run`, the boot tests and the benchmarks all use
// it. QEMU runs under TCG here (no -enable-kvm: nested KVM hangs), unless
// KVM is asked for.
package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Disk is one drive.
type Disk struct {
	Path   string
	Format string // raw, qcow2
	// If is how it attaches: virtio (PCI), virtio-mmio (microvm), ide,
	// cdrom (an IDE/SATA CD-ROM), usb (usb-storage on an xHCI bus), and
	// the platforms' controllers: ahci (VirtualBox's SATA), nvme (AWS's
	// Nitro), pvscsi (VMware's paravirtual SCSI), lsisas (VMware's LSI
	// Logic SAS, mptsas1068), virtio-scsi (GCE's). Each controller holds
	// one disk.
	If       string
	ReadOnly bool
	// Snapshot discards writes when QEMU exits.
	Snapshot bool
	// BootIndex is its place in the firmware's boot order; 0 is its place
	// in Config.Disks.
	BootIndex int
}

// TCGCPU is the CPU model of a machine under TCG: qemu64, AMD's vendor and
// its x86-64 baseline, with what any x86 server since 2010 (Westmere) has
// and TCG does in one step where programs would otherwise loop:
//   - RDRAND: without it the kernel's random pool is not ready when init
//     starts and what needs it waits (mke2fs's UUID took 4.2 s of a first
//     boot, 0.2 s with it);
//   - SSSE3, SSE4.1, SSE4.2, POPCNT (x86-64-v2): SSE4.2's CRC32 for ext4's
//     metadata checksums (crc32c-intel) and string searches;
//   - AES and PCLMULQDQ: CRC-32 by carry-less multiplication, which Go's
//     hash/crc32 runs over every byte that gzip unpacks (image pulls).
//
// Measured by six scenarios run twice, one run after the other, 2 cores:
// their processor time was 12m39s with this model, 15m9s with qemu64 and
// RDRAND only (Docker 202 s against 266, ConsoleSwitch 80 against 89,
// UserServices 63 against 73; Install the same). Not AVX or AVX2 (as
// "max" has): programs pick them, and TCG emulates each such instruction
// in a helper call; in one run with "max" Docker took 226 s, not 170. Not
// a named Intel model: the kernel then isolates its page tables against
// Meltdown, a switch of page tables at every system call.
//
// And without qemu64's SVM: a guest under TCG runs no guests of its own,
// as a cloud VM without nested virtualisation (most of them) does not,
// and the kernel's KVM (built in for Kata and nested VMs) set itself up
// for it at every boot, 176 ms of the 3.1 s to /init (initcall_debug).
const TCGCPU = "qemu64,-svm,+rdrand,+ssse3,+sse4.1,+sse4.2,+popcnt,+aes,+pclmulqdq"

// Config describes a machine.
type Config struct {
	Machine string // q35 (default), pc, microvm
	Memory  int    // MiB
	CPUs    int
	// CPU is the CPU model: TCGCPU under TCG by default, "host" under KVM.
	CPU  string
	UEFI bool // OVMF instead of SeaBIOS
	// SecureBoot (with UEFI) is OVMF's Secure Boot build, with SMM, and
	// a variable store whose PK, KEK and db hold Debian's snakeoil test
	// key (SnakeoilKey): it runs only EFI images that key signed.
	SecureBoot bool
	VarsFile   string // writable copy of OVMF_VARS for UEFI; made when empty
	Kernel     string // direct kernel boot
	Initrd     string
	Append     string
	Disks      []Disk
	// Net adds a user-mode NIC (10.0.2.15 by DHCP) with these host
	// forwards, e.g. "tcp:127.0.0.1:2222-:22".
	Net     bool
	HostFwd []string
	NIC     string // NIC model; virtio-net-pci by default
	// NetBoot boots from the NIC (its iPXE option ROM, which is left
	// out otherwise): QEMU's DHCP offers BootFile from the TFTP folder.
	NetBoot  bool
	TFTP     string
	BootFile string
	// FwCfg entries: name (e.g. opt/berth/cmdline) → contents.
	FwCfg map[string]string
	// Extra raw arguments.
	Extra []string
	// QMP is a unix socket path for the QMP monitor ("" for none).
	QMP string
	// KVM uses hardware acceleration; off by default (TCG).
	KVM bool
	// Interactive multiplexes the QEMU monitor on the terminal (Ctrl-A X quits).
	Interactive bool
	// Binary overrides qemu-system-x86_64.
	Binary string
	// Incoming resumes the machine that VM.Save wrote to this file instead
	// of booting it. The rest of the Config must describe the same devices.
	Incoming string
	// ColdReset makes a reset of the machine (the guest's reboot, a
	// panic's restart) end this QEMU and start a new one with the same
	// devices, disks and UEFI variables, which boots (it never resumes
	// Incoming again). Under TCG a warm reset leaves the translated code
	// of the system that ran before behind, and the next boot writes over
	// it slowly: on a 2-core machine GRUB's load and the kernel's
	// decompression took 8.7 s after a warm reset against 3.2 s in a new
	// QEMU, and the whole reboot to ready 24 s against 17. It needs QMP
	// (a second monitor, QMP+"-events", tells a reset from a power-off)
	// and is not done with OwnThread, whose thread the restart can't use.
	ColdReset bool
	// OwnThread starts QEMU from the calling goroutine's thread rather
	// than from the thread Start keeps for it: for a caller that entered
	// a namespace on its (locked) thread. QEMU gets SIGKILL when that
	// thread ends, so the caller keeps it until QEMU has exited.
	OwnThread bool
}

// OVMF firmware files on Debian 12.
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	// Secure Boot: the firmware, and variables with Secure Boot on and
	// the snakeoil key enrolled.
	OVMFSecureCode = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	OVMFSnakeoil   = "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd"
	// The snakeoil key (its PEM encrypted with the password "snakeoil")
	// and certificate, for signing test images.
	SnakeoilKey  = "/usr/share/ovmf/PkKek-1-snakeoil.key"
	SnakeoilCert = "/usr/share/ovmf/PkKek-1-snakeoil.pem"
)

// Args builds QEMU's argument list. workDir holds files QEMU needs beside
// the images (fw_cfg contents, the OVMF variable store).
func (c Config) Args(workDir string) ([]string, error) {
	machine := c.Machine
	if machine == "" {
		machine = "q35"
	}
	mem := c.Memory
	if mem == 0 {
		mem = 512
	}
	cpus := c.CPUs
	if cpus == 0 {
		cpus = 1
	}
	args := []string{"-nodefaults", "-no-user-config", "-display", "none", "-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus)}
	serial := "stdio"
	if c.Interactive {
		serial = "mon:stdio"
	}
	accel, cpu := "tcg", TCGCPU
	if c.KVM {
		accel, cpu = "kvm", "host"
	}
	if c.CPU != "" {
		cpu = c.CPU
	}
	args = append(args, "-cpu", cpu)
	switch machine {
	case "microvm":
		args = append(args, "-M", "microvm,acpi=on,pit=off,pic=off,rtc=on,accel="+accel, "-serial", serial)
	default:
		m := machine + ",accel=" + accel
		if c.SecureBoot {
			m += ",smm=on"
		}
		args = append(args, "-M", m, "-serial", serial, "-vga", "std")
	}
	if c.SecureBoot && !c.UEFI {
		return nil, fmt.Errorf("qemu: Secure Boot needs UEFI")
	}
	if c.UEFI {
		code, template := OVMFCode, OVMFVars
		if c.SecureBoot {
			code, template = OVMFSecureCode, OVMFSnakeoil
			// The variable store is written only from SMM.
			args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on")
		}
		vars := c.VarsFile
		if vars == "" {
			vars = varsFile(workDir)
			b, err := os.ReadFile(template)
			if err != nil {
				return nil, fmt.Errorf("UEFI firmware: %w (install the ovmf package)", err)
			}
			if err := os.WriteFile(vars, b, 0o644); err != nil {
				return nil, err
			}
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	}
	if c.Kernel != "" {
		args = append(args, "-kernel", c.Kernel)
		if c.Initrd != "" {
			args = append(args, "-initrd", c.Initrd)
		}
		if c.Append != "" {
			args = append(args, "-append", c.Append)
		}
	}
	usb := false
	for i, d := range c.Disks {
		id := fmt.Sprintf("disk%d", i)
		format := d.Format
		if format == "" {
			format = "raw"
		}
		drive := fmt.Sprintf("if=none,id=%s,format=%s,file=%s", id, format, d.Path)
		if d.ReadOnly {
			drive += ",readonly=on"
		}
		if d.Snapshot {
			drive += ",snapshot=on"
		}
		args = append(args, "-drive", drive)
		// Firmware boots the disks in the order given, unless told otherwise.
		boot := fmt.Sprintf(",bootindex=%d", i+1)
		if d.BootIndex > 0 {
			boot = fmt.Sprintf(",bootindex=%d", d.BootIndex)
		}
		switch d.If {
		case "", "virtio":
			args = append(args, "-device", "virtio-blk-pci,drive="+id+boot)
		case "virtio-mmio":
			args = append(args, "-device", "virtio-blk-device,drive="+id)
		case "ide":
			args = append(args, "-device", "ide-hd,drive="+id+boot)
		case "cdrom":
			args = append(args, "-device", "ide-cd,drive="+id+boot)
		case "ahci":
			args = append(args, "-device", "ahci,id=ahci"+strconv.Itoa(i), "-device", fmt.Sprintf("ide-hd,bus=ahci%d.0,drive=%s%s", i, id, boot))
		case "nvme":
			args = append(args, "-device", fmt.Sprintf("nvme,serial=berth%d,drive=%s%s", i, id, boot))
		case "pvscsi", "lsisas", "virtio-scsi":
			ctl := map[string]string{"pvscsi": "pvscsi", "lsisas": "mptsas1068", "virtio-scsi": "virtio-scsi-pci"}[d.If]
			args = append(args, "-device", fmt.Sprintf("%s,id=scsi%d", ctl, i), "-device", fmt.Sprintf("scsi-hd,bus=scsi%d.0,drive=%s%s", i, id, boot))
		case "usb":
			if !usb {
				args = append(args, "-device", "qemu-xhci,id=xhci")
				usb = true
			}
			args = append(args, "-device", "usb-storage,bus=xhci.0,drive="+id+boot)
		default:
			return nil, fmt.Errorf("disk %s: unknown interface %q", d.Path, d.If)
		}
	}
	if c.Net {
		netdev := "user,id=net0"
		for _, f := range c.HostFwd {
			netdev += ",hostfwd=" + f
		}
		if c.TFTP != "" {
			netdev += ",tftp=" + c.TFTP
		}
		if c.BootFile != "" {
			netdev += ",bootfile=" + c.BootFile
		}
		nic := c.NIC
		if nic == "" {
			nic = "virtio-net-pci"
			if machine == "microvm" {
				nic = "virtio-net-device"
			}
		}
		// romfile= keeps OVMF from trying to netboot the NIC for minutes.
		dev := nic + ",netdev=net0"
		switch {
		case c.NetBoot:
			dev += ",bootindex=0"
		case strings.HasSuffix(nic, "-pci") || nic == "e1000" || nic == "e1000e" || nic == "vmxnet3":
			dev += ",romfile="
		}
		args = append(args, "-netdev", netdev, "-device", dev)
	}
	names := make([]string, 0, len(c.FwCfg))
	for n := range c.FwCfg {
		names = append(names, n)
	}
	for i, n := range sortStrings(names) {
		p := filepath.Join(workDir, fmt.Sprintf("fwcfg%d", i))
		if err := os.WriteFile(p, []byte(c.FwCfg[n]), 0o644); err != nil {
			return nil, err
		}
		args = append(args, "-fw_cfg", "name="+n+",file="+p)
	}
	if c.Incoming != "" {
		args = append(args, "-incoming", "exec:cat "+shellQuote(c.Incoming))
	}
	if c.QMP != "" {
		args = append(args, "-qmp", "unix:"+c.QMP+",server=on,wait=off")
	}
	return append(args, c.Extra...), nil
}

// varsFile is where a machine without Config.VarsFile keeps its UEFI
// variable store: a copy of the firmware's template, made at each start.
func varsFile(workDir string) string { return filepath.Join(workDir, "OVMF_VARS.fd") }

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// Binary finds qemu-system-x86_64.
func Binary() (string, error) {
	p, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return "", fmt.Errorf("qemu-system-x86_64 not found: install it with `sudo apt-get install qemu-system-x86` or run `make deps`")
	}
	return p, nil
}

// HostTSCKHz reads the host's TSC frequency for tsc_early_khz= (microvm
// under TCG hangs at TSC calibration without it about one boot in eight).
func HostTSCKHz() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "cpu MHz") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err == nil {
					return int(f * 1000)
				}
			}
		}
	}
	return 0
}
