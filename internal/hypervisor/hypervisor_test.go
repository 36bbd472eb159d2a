package hypervisor

import (
	"os"
	"path/filepath"
	"testing"
)

// What each hypervisor's firmware reports, as seen on it.
func TestDetect(t *testing.T) {
	for _, c := range []struct {
		vendor, product, hvType string
		want, agent             string
	}{
		{"QEMU", "Standard PC (Q35 + ICH9, 2009)", "", KVM, "qemu-guest-agent"},
		{"OpenStack Foundation", "OpenStack Nova", "", KVM, "qemu-guest-agent"},
		{"VMware, Inc.", "VMware7,1", "", VMware, "open-vm-tools"},
		{"Microsoft Corporation", "Virtual Machine", "", HyperV, "hyperv-daemons"},
		{"innotek GmbH", "VirtualBox", "", VirtualBox, ""},
		{"Xen", "HVM domU", "xen", Xen, ""},
		{"", "", "xen", Xen, ""}, // PVH: no DMI
		{"Microsoft Corporation", "Surface Laptop 5", "", None, ""},
		{"Dell Inc.", "PowerEdge R650", "", None, ""},
		{"", "", "", None, ""},
	} {
		root := t.TempDir()
		for p, v := range map[string]string{"sys/class/dmi/id/sys_vendor": c.vendor, "sys/class/dmi/id/product_name": c.product, "sys/hypervisor/type": c.hvType} {
			if v == "" {
				continue
			}
			os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
			os.WriteFile(filepath.Join(root, p), []byte(v+"\n"), 0o644)
		}
		if got := Detect(root); got != c.want || Agent(got) != c.agent {
			t.Errorf("%q/%q/%q: %q with agent %q, want %q with %q", c.vendor, c.product, c.hvType, got, Agent(got), c.want, c.agent)
		}
	}
}
