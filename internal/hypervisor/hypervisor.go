// Package hypervisor tells which hypervisor a host runs on, from what the
// firmware and the kernel say (DMI, /sys/hypervisor), as RancherOS did,
// and which of the catalogue's guest agents belongs to it.
package hypervisor

import (
	"os"
	"path/filepath"
	"strings"
)

// Kinds.
const (
	None       = ""
	KVM        = "kvm" // QEMU, with KVM or not: Proxmox, OpenStack, libvirt
	VMware     = "vmware"
	HyperV     = "hyperv"
	Xen        = "xen"
	VirtualBox = "virtualbox"
)

// Detect reads sysfs under root ("/" on a host) and returns the
// hypervisor's kind, None on bare metal or one it does not know.
func Detect(root string) string {
	read := func(p string) string {
		b, _ := os.ReadFile(filepath.Join(root, p))
		return strings.TrimSpace(string(b))
	}
	vendor, product := read("sys/class/dmi/id/sys_vendor"), read("sys/class/dmi/id/product_name")
	switch {
	case vendor == "QEMU", strings.Contains(product, "KVM"), vendor == "OpenStack Foundation", vendor == "Red Hat" && strings.Contains(product, "KVM"):
		return KVM
	case strings.HasPrefix(vendor, "VMware"):
		return VMware
	case vendor == "Microsoft Corporation" && product == "Virtual Machine":
		return HyperV
	case product == "VirtualBox":
		return VirtualBox
	case vendor == "Xen" || read("sys/hypervisor/type") == "xen":
		return Xen
	}
	return None
}

// Agent is the catalogue entry of kind's guest agent, "" for none.
func Agent(kind string) string {
	return map[string]string{KVM: "qemu-guest-agent", VMware: "open-vm-tools", HyperV: "hyperv-daemons"}[kind]
}
