//go:build qemu

package test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/qemu"
)

// pxeFiles are the pxe output's files: the script and what it boots.
var pxeFiles = []string{"berth.ipxe", "vmlinuz", "initrd.img", "rootfs.squashfs"}

// servePXE serves the pxe output's files from 127.0.0.1 (10.0.2.2 to the
// guest), each from its artifact; it returns the port and the paths asked
// for, in order.
func servePXE(t *testing.T) (int, func() []string) {
	t.Helper()
	files := map[string]string{}
	for _, f := range pxeFiles {
		files["/berth/"+f] = artifact(t, f)
	}
	return serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		p, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, p)
	})
}

// PXE: no disk at all. SeaBIOS runs the NIC's iPXE ROM, QEMU's DHCP
// offers a chain script over TFTP, as a site's PXE server would, which
// sets base-url to the test's web server and chains berth.ipxe, the
// artifact itself. iPXE fetches the kernel and initrd; stage 1 takes a
// DHCP lease, downloads rootfs.squashfs and checks its sha256.
func pxe(t *testing.T) { pxeBoot(t, false) }

// PXEUEFI: the same under OVMF, where the NIC ROM's iPXE is a UEFI
// driver and boots the kernel through its EFI stub (initrd= on the
// command line names the initrd it loaded).
func pxeUEFI(t *testing.T) { pxeBoot(t, true) }

func pxeBoot(t *testing.T, uefi bool) {
	port, asked := servePXE(t)
	tftp := t.TempDir()
	chain := fmt.Sprintf("#!ipxe\nset base-url http://10.0.2.2:%d/berth/\nchain ${base-url}berth.ipxe\n", port)
	if err := os.WriteFile(filepath.Join(tftp, "boot.ipxe"), []byte(chain), 0o644); err != nil {
		t.Fatal(err)
	}
	m := boot(t, qemu.Config{UEFI: uefi, Net: true, NetBoot: true, TFTP: tftp, BootFile: "boot.ipxe"})
	if uefi {
		m.check("efi", func(m *machine) { m.sh("test -d /sys/firmware/efi") })
	}
	m.check("fetched", func(m *machine) {
		want := []string{"/berth/berth.ipxe", "/berth/vmlinuz", "/berth/initrd.img", "/berth/rootfs.squashfs"}
		if got := asked(); !slices.Equal(got, want) {
			m.t.Errorf("the web server was asked for %q, want %q once each, in that order", got, want)
		}
		// Its flags steer stage 1; PID 1 does not take them for
		// configuration keys (and leave the command line out).
		if strings.Contains(m.Output(), "kernel command line is invalid") {
			m.t.Errorf("PID 1 refused the kernel command line of the iPXE script")
		}
		b, err := os.ReadFile(artifact(t, "rootfs.squashfs"))
		if err != nil {
			m.t.Fatal(err)
		}
		fetched := regexp.MustCompile(`berth stage1: fetched http://10\.0\.2\.2:\d+/berth/rootfs\.squashfs: [0-9.]+ MiB in [0-9.]+s, sha256 ([0-9a-f]{64})`).FindStringSubmatch(m.Output())
		if want := fmt.Sprintf("%x", sha256.Sum256(b)); fetched == nil || fetched[1] != want {
			m.t.Errorf("stage 1 did not say that it fetched the root and checked it against rootfs.squashfs's sha256 %s (said: %q)", want, fetched)
		}
	})
	m.check("root", func(m *machine) {
		var boot struct{ Medium, Root string }
		out := m.sh("cat /run/berth/boot.json")
		if err := json.Unmarshal([]byte(out), &boot); err != nil {
			m.t.Fatalf("boot.json: %v\n%s", err, out)
		}
		if wantRoot := fmt.Sprintf("http://10.0.2.2:%d/berth/rootfs.squashfs", port); boot.Medium != "net" || boot.Root != wantRoot {
			m.t.Errorf("boot record %+v, want medium net and root %s", boot, wantRoot)
		}
		// / is the downloaded squashfs, through dm-verity over a loop
		// device backed by the file in the tmpfs stage 1 kept.
		m.checkVerifiedRoot(regexp.MustCompile(`^loop\d+$`))
		if out := m.sh("cat /sys/block/loop*/loop/backing_file"); !strings.Contains(out, "/run/berth/netroot/rootfs.squashfs") {
			m.t.Errorf("no loop device is backed by the downloaded root: %s", out)
		}
		if out := m.sh("grep ' /run/berth/netroot ' /proc/1/mounts"); !strings.HasPrefix(out, "tmpfs ") {
			m.t.Errorf("/run/berth/netroot is not stage 1's tmpfs: %s", out)
		}
	})
	// No disk: the state is a tmpfs, and the network service took eth0
	// over from stage 1 (the DHCP address, the lease in its log).
	m.check("state", func(m *machine) {
		if out := m.sh("grep ' /var ' /proc/mounts"); !strings.HasPrefix(out, "tmpfs ") {
			m.t.Errorf("/var is not a tmpfs with no disk: %s", out)
		}
	})
	m.check("host", (*machine).checkHost)
	m.check("poweroff", (*machine).poweroffExitsZero)
}

// A root whose sha256 is not the boot entry's is never mounted: stage 1
// says so, naming both digests, and stops (the default image allows no
// rescue shell there).
func pxeWrongRoot(t *testing.T) {
	port, asked := servePXE(t)
	zero := strings.Repeat("0", 64)
	vm := start(t, qemu.Config{
		Net:    true,
		Kernel: artifact(t, "vmlinuz"), Initrd: artifact(t, "initrd.img"),
		Append: fmt.Sprintf("console=ttyS0,115200 panic=10 berth.root=http://10.0.2.2:%d/berth/rootfs.squashfs berth.root.sha256=%s", port, zero),
	})
	re := regexp.MustCompile(`berth stage1: fetch http://10\.0\.2\.2:\d+/berth/rootfs\.squashfs: its sha256 is [0-9a-f]{64}, but berth\.root\.sha256 says ` + zero + `: not mounting it`)
	if _, _, err := vm.WaitFor(re, 2*time.Minute); err != nil {
		t.Fatalf("stage 1 did not refuse the root: %v", err)
	}
	if _, _, err := vm.WaitFor(regexp.MustCompile(`berth stage1: rescue shell unavailable`), time.Minute); err != nil {
		t.Errorf("stage 1 did not stop after refusing the root: %v", err)
	}
	// Refused at once, not fetched again and again.
	if got := asked(); !slices.Equal(got, []string{"/berth/rootfs.squashfs"}) {
		t.Errorf("the web server was asked for %q, want the root once", got)
	}
	if strings.Contains(vm.Output(), "berth: ready") {
		t.Error("the host came up on a root it should have refused")
	}
}
