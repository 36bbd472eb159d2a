package datasource

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-os/berth/internal/blockdev"
)

// ErrIgnored means a source was there and was not used, by the rule of
// precedence (Precedence.Seed): a seed volume that anyone could have
// plugged into an installed host.
var ErrIgnored = errors.New("ignored")

// Precedence is what the rule of datasource precedence knows of a host.
//
// The rule: a seed volume (nocloud's cidata, configdrive's config-2) on a
// fixed disk is used as always. One on a device anyone can plug in or
// insert (USB, removable media, CD/DVD) is used only
//   - when berth.datasources names its source (kernel command line, local
//     config, or the last boot's configuration), or
//   - when the host is not installed: its first boot, a live ISO, a /var
//     on tmpfs (how an installation is seeded), or
//   - on a virtual machine, for a drive not on a USB bus: whoever attaches
//     a VM's drives owns its hypervisor (as with QEMU's fw_cfg), and a
//     hypervisor's cloud-init CD (Proxmox, libvirt) keeps working.
//
// So a stray or hostile USB stick labelled cidata cannot replace an
// installed host's configuration (add users, keys or a runcmd).
type Precedence struct {
	// Installed: booted from its disk, whose state partition holds the
	// configuration of an earlier boot.
	Installed bool
	// Virtual: a virtual machine.
	Virtual bool
}

// Seed says whether a seed volume attached as a is used, and when not, why.
// listed says berth.datasources names its source.
func (p Precedence) Seed(a blockdev.Attachment, listed bool) (bool, string) {
	switch {
	case listed, !a.Removable && !a.USB, !p.Installed:
		return true, ""
	case p.Virtual && !a.USB:
		return true, ""
	}
	what := "removable"
	if a.USB {
		what = "on USB"
	}
	return false, fmt.Sprintf("it is %s and this host is installed (booted from its disk, with an earlier boot's configuration): a seed volume anyone can plug in is used only when berth.datasources names its source", what)
}

// Virtual says whether this machine is a virtual one: the CPU's
// hypervisor flag (x86), or a hypervisor in sysfs (Xen). cpuinfo and
// sysfs are /proc/cpuinfo and /sys on a host.
func Virtual(cpuinfo, sysfs string) bool {
	if b, err := os.ReadFile(cpuinfo); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			if strings.TrimSpace(k) == "flags" {
				for _, f := range strings.Fields(v) {
					if f == "hypervisor" {
						return true
					}
				}
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(sysfs, "hypervisor/type"))
	return err == nil && strings.TrimSpace(string(b)) != ""
}
