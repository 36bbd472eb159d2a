//go:build qemu

package test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/build/secureboot"
	"github.com/berth-os/berth/installer"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/qemu"
)

// The EFI images on a Berth disk: shim, GRUB and slot A's unified kernel
// image.
var efiImages = []string{installer.EFIShim, installer.EFIGrub, layout.SlotUKI("a")}

// snakeoilFiles are Debian's OVMF test key, which the Secure Boot variable
// store's db holds, and its certificate. Its PEM is encrypted with the
// password "snakeoil": the key file is written out in the clear, once, in
// the asset cache (so that the variant signed with it stays cached).
func snakeoilFiles(t *testing.T) (key, cert string) {
	t.Helper()
	key = filepath.Join(assetCache.Root, "keys", "snakeoil.key")
	if _, err := os.Stat(key); err == nil {
		return key, qemu.SnakeoilCert
	}
	if err := os.MkdirAll(filepath.Dir(key), 0o700); err != nil {
		t.Fatal(err)
	}
	tmp := key + ".tmp"
	if out, err := exec.Command("openssl", "pkey", "-in", qemu.SnakeoilKey, "-passin", "pass:snakeoil", "-out", tmp).CombinedOutput(); err != nil {
		t.Fatalf("openssl pkey: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, key); err != nil {
		t.Fatal(err)
	}
	return key, qemu.SnakeoilCert
}

func snakeoil(t *testing.T) secureboot.Key {
	t.Helper()
	key, cert := snakeoilFiles(t)
	k, _, err := secureboot.LoadKey(key, cert, false)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sbNextOverlay is the next version signed for Secure Boot with the
// snakeoil key: its bundle upgrades a disk booted with Secure Boot on,
// and its ISO installs one.
func sbNextOverlay(t *testing.T) string {
	t.Helper()
	key, cert := snakeoilFiles(t)
	return fmt.Sprintf("version: 0.1.1-sb\noutputs: [bundle, iso]\nsecure_boot_key: %s\nsecure_boot_cert: %s\n", key, cert)
}

// withEFIImages is a copy of the raw disk whose EFI images edit has
// changed, written back into its EFI partition with mtools.
func withEFIImages(t *testing.T, edit func(path string, img []byte) []byte) string {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.raw")
	if err := runCmd("cp", "--sparse=always", artifact(t, "berth.raw"), img); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	off, _ := rawPartition(t, f, layout.PartEFI)
	f.Close()
	fat := fmt.Sprintf("%s@@%d", img, off)
	for _, p := range efiImages {
		local := filepath.Join(dir, filepath.Base(p))
		if err := runCmd("mcopy", "-n", "-i", fat, "::"+p, local); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(local)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(local, edit(p, b), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := runCmd("mcopy", "-o", "-i", fat, local, "::"+p); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// secureBoot boots the raw disk under OVMF with Secure Boot on and
// Debian's snakeoil key in its db, as a user boots a release build
// signed with their own key enrolled:
//   - signed with the key in db, the firmware starts shim, shim GRUB, and
//     GRUB (through shim's check) the slot's UKI, whose stub boots its
//     own signed command line (GRUB's is ignored); stage 1 finds the
//     slot and the disk from what the stub recorded; upgraded with a
//     bundle signed with the same key, slot B boots the same way;
//   - the disk as built (signed with the builder's key, not in db) is
//     refused by the firmware;
//   - with shim and GRUB signed and the UKI unsigned, shim's check fails
//     in GRUB, and nothing else starts a kernel.
func secureBoot(t *testing.T) {
	key := snakeoil(t)
	resign := func(_ string, img []byte) []byte {
		b, err := secureboot.Sign(img, key.Signer, key.Cert)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	next := variant(t, "sb-next", sbNextOverlay(t))["berth.bundle"]
	port, _ := serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/next.bundle" {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, next)
	})
	t.Run("signed", func(t *testing.T) {
		m := boot(t, qemu.Config{UEFI: true, SecureBoot: true, Net: true, Disks: []qemu.Disk{{Path: withEFIImages(t, resign)}}})
		m.check("secure-boot-on", func(m *machine) {
			if !strings.Contains(m.Output(), "secureboot: Secure boot enabled") {
				m.t.Error("the kernel did not log \"secureboot: Secure boot enabled\"")
			}
		})
		m.check("signed-cmdline", func(m *machine) {
			// The UKI's own command line: GRUB passed berth.slot and
			// berth.boot.part, and the stub dropped them.
			cl := m.sh("cat /proc/cmdline")
			if strings.Contains(cl, "berth.slot=") || strings.Contains(cl, layout.FlagBootPart+"=") || !strings.Contains(cl, "berth.verity=") {
				m.t.Errorf("kernel command line %q: want the UKI's (berth.verity, no berth.slot or %s)", cl, layout.FlagBootPart)
			}
			for _, re := range []string{
				`berth stage1: berth\.slot=a from the image the firmware loaded \(\\berth\\a\\berth\.efi\)`,
				`berth stage1: berth\.boot\.part=[0-9a-f-]{36} from the partition the firmware loaded it from`,
			} {
				if !regexp.MustCompile(re).MatchString(m.Output()) {
					m.t.Errorf("no %q on the console", re)
				}
			}
			if b := m.sh("cat /run/berth/boot.json"); !regexp.MustCompile(`"boot_part":"[0-9a-f-]{36}"`).MatchString(b) || !strings.Contains(b, `"disk":"vda"`) || !strings.Contains(b, `"slot":"a"`) {
				m.t.Errorf("boot record %s: want slot a of vda, found by its EFI partition's GUID", b)
			}
			m.checkVerifiedRoot(regexp.MustCompile(`^vda2$`))
		})
		// The same UKI in slot B: the upgraded slot boots under Secure
		// Boot, and stage 1 takes slot b from the image's path.
		m.check("upgraded-slot-b", func(m *machine) {
			out := m.sh(fmt.Sprintf("hostctl os upgrade --image http://10.0.2.2:%d/next.bundle", port))
			if !strings.Contains(out, "0.1.1-sb is in slot b, tried at the next boot") {
				m.t.Fatalf("hostctl os upgrade:\n%s", out)
			}
			m.Send("hostctl reboot\n")
			re := regexp.MustCompile(`berth stage1: berth\.slot=b from the image the firmware loaded \(\\berth\\b\\berth\.efi\)`)
			if _, _, err := m.WaitFor(re, 3*time.Minute); err != nil {
				m.t.Fatalf("no %q on the console: %v", re, err)
			}
			m.waitReady()
			m.checkOSStatus(`root +/dev/vda3 \(slot b\)`, `version +0\.1\.1-sb`)
		})
	})
	t.Run("other-key", func(t *testing.T) {
		refused(t, qemu.Disk{Path: overlay(t, artifact(t, "berth.raw"), "raw"), Format: "qcow2"}, otherKey)
	})
	t.Run("unsigned-uki", func(t *testing.T) {
		img := withEFIImages(t, func(p string, img []byte) []byte {
			if p == layout.SlotUKI("a") {
				b, err := secureboot.Unsigned(img)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			return resign(p, img)
		})
		refused(t, qemu.Disk{Path: img}, regexp.MustCompile(`error: bad shim signature`))
	})
}

// otherKey is OVMF's refusal of an image signed with a key its db lacks.
var otherKey = regexp.MustCompile(`(?i)access denied|security violation`)

// refused boots disk under OVMF with Secure Boot on and waits for the
// firmware's refusal, want: OVMF says so on the console and moves on to
// the next boot option; no kernel starts.
func refused(t *testing.T, disk qemu.Disk, want *regexp.Regexp) {
	t.Helper()
	vm := start(t, qemu.Config{UEFI: true, SecureBoot: true, Disks: []qemu.Disk{disk}})
	if _, _, err := vm.WaitFor(want, 3*time.Minute); err != nil {
		t.Fatalf("no %q on the console: %v", want, err)
	}
	if strings.Contains(vm.Output(), "berth stage1") || strings.Contains(vm.Output(), "Linux version") {
		t.Error("a kernel started")
	}
}

// secureBootISO installs from the ISO with Secure Boot on, as a user
// whose machine enforces it does:
//   - the ISO signed with the enrolled key boots live: shim and GRUB from
//     its El Torito image, then the install kit's UKI from the ISO 9660
//     volume, whose signed command line names no medium; stage 1 takes
//     berth.boot=iso from the image's path;
//   - berth.install in its user-data installs onto a blank disk, which
//     then boots alone under Secure Boot with the user-data applied;
//   - the ISO as built (the builder's key, not in db) is refused.
func secureBootISO(t *testing.T) {
	iso := variant(t, "sb-next", sbNextOverlay(t))["berth.iso"]
	target := filepath.Join(t.TempDir(), "target.qcow2")
	if err := runCmd("qemu-img", "create", "-q", "-f", "qcow2", target, "2G"); err != nil {
		t.Fatal(err)
	}
	ok := t.Run("live-install", func(t *testing.T) {
		userData := "#cloud-config\nhostname: sb-installed\nberth:\n  install:\n    device: /dev/vda\n"
		m := boot(t, qemu.Config{UEFI: true, SecureBoot: true, Net: true, FwCfg: map[string]string{"opt/berth/user-data": userData}, Disks: []qemu.Disk{
			{Path: iso, If: "cdrom", ReadOnly: true},
			{Path: target, Format: "qcow2"},
		}})
		for _, re := range []*regexp.Regexp{
			regexp.MustCompile(`secureboot: Secure boot enabled`),
			regexp.MustCompile(`berth stage1: berth\.boot=iso from the image the firmware loaded \(\\berth\\disk\\berth\.efi\)`),
		} {
			if !re.MatchString(m.Output()) {
				t.Errorf("no %q on the console", re)
			}
		}
		if _, _, err := m.WaitFor(regexp.MustCompile(`berth: install: done; powering off`), 3*time.Minute); err != nil {
			t.Fatalf("the unattended install did not finish: %v", err)
		}
		if err := m.Wait(3 * time.Minute); err != nil {
			t.Fatalf("after the unattended install: %v (want QEMU to exit with status 0)", err)
		}
	})
	if ok {
		t.Run("installed-disk", func(t *testing.T) {
			m := boot(t, qemu.Config{UEFI: true, SecureBoot: true, Net: true, Disks: []qemu.Disk{{Path: target, Format: "qcow2"}}})
			if !strings.Contains(m.Output(), "secureboot: Secure boot enabled") {
				t.Error(`the kernel did not log "secureboot: Secure boot enabled"`)
			}
			if got := strings.TrimSpace(m.sh("hostname")); got != "sb-installed" {
				t.Errorf("hostname %q, want sb-installed from the user-data the install copied", got)
			}
			m.checkOSStatus(`medium +disk \(vda\)`, `root +/dev/vda2 \(slot a\)`, `version +0\.1\.1-sb`)
			m.checkVerifiedRoot(regexp.MustCompile(`^vda2$`))
		})
	}
	t.Run("other-key", func(t *testing.T) {
		refused(t, qemu.Disk{Path: artifact(t, "berth.iso"), If: "cdrom", ReadOnly: true}, otherKey)
	})
}
