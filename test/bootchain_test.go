//go:build qemu

package test

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"debug/pe"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/berth-os/berth/build/image"
	"github.com/berth-os/berth/build/ocibundle"
	"github.com/berth-os/berth/build/secureboot"
	"github.com/berth-os/berth/internal/osbundle"
	"github.com/berth-os/berth/internal/qemu"
	"github.com/berth-os/berth/test/registry"
	"github.com/berth-os/berth/test/sched"
)

// nextOverlay is the next version's overlay: the upgrade bundle of the
// default image with another version, which rebuilds its root, and
// another Secure Boot key, which signs its shim, GRUB and UKI: the
// upgrade installs a changed boot loader for UEFI.
func nextOverlay(t *testing.T) string {
	t.Helper()
	key := filepath.Join(assetCache.Root, "keys", "next-secureboot.key")
	cert := strings.TrimSuffix(key, ".key") + ".pem"
	if _, _, err := secureboot.LoadKey(key, cert, true); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("version: 0.1.1-next\noutputs: [bundle]\nsecure_boot_key: %s\nsecure_boot_cert: %s\n", key, cert)
}

// netFailOverlay is a later version, 0.1.3-netfail, built from a source
// tree in which the network service exits at once (breakNetwork): a
// release whose network service fails.
const netFailOverlay = "version: 0.1.3-netfail\noutputs: [bundle]\n"

// breakNetwork patches the network service of the source tree at root to
// fail as it starts, as a regression would.
func breakNetwork(t *testing.T, root string) {
	t.Helper()
	p := filepath.Join(root, "services", "network", "main.go")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	const main = "func Main() {\n"
	if !bytes.Contains(b, []byte(main)) {
		t.Fatalf("%s has no %q to patch", p, main)
	}
	b = bytes.Replace(b, []byte(main), []byte(main+"\tfmt.Fprintln(os.Stderr, \"berth-network: this release's network service is broken\")\n\tos.Exit(1)\n"), 1)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func netFailBundle(t *testing.T) string {
	t.Helper()
	return patchedVariant(t, "netfail", netFailOverlay, breakNetwork)["berth.bundle"]
}

// bootChainBIOS and bootChainUEFI upgrade a disk with hostctl os upgrade
// (issue 8), from a signed bundle of the next version, served over HTTP
// (BIOS) or pushed to a registry with berth push's code and pulled through
// a mirror, the newest version of berth.upgrade.repository, after hostctl
// os list offers it (UEFI). Bundles unsigned or
// signed by another key are refused and write nothing. The upgraded slot
// is tried, kept once healthy, and keeps the state. Under BIOS, hostctl
// os rollback then tries the old slot while berth.upgrade.health_check
// fails: it is rejected with PID 1's reason. Last, an upgrade to a bundle
// whose kernel panics (its initrd, and under UEFI its UKI's, is garbage;
// GRUB counts the try before the kernel starts) is
// rejected, and the disk boots the good slot again. Under UEFI, before
// that, an upgrade to a release whose network service fails is tried,
// found unhealthy by PID 1, and rejected with the service's name. The upgrade keeps the
// state: a file, the ssh host key, a config change and a user's container.
func bootChainBIOS(t *testing.T) { bootChain(t, false) }
func bootChainUEFI(t *testing.T) { bootChain(t, true) }

func bootChain(t *testing.T, uefi bool) {
	next := variant(t, "next", nextOverlay(t))["berth.bundle"]
	var netFail string
	if uefi {
		netFail = netFailBundle(t)
	}
	const sleeperRef = "docker.io/berth/sleeper:1"
	sleeper := ociArchive(t, sleeperRef, buildSleeper(t))
	port, _ := serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/next.bundle":
			http.ServeFile(w, r, next)
		case "/netfail.bundle":
			http.ServeFile(w, r, netFail)
		case "/sleeper.tar":
			w.Write(sleeper)
		case "/unsigned.bundle":
			// The host hangs up once it has refused the bundle.
			rewriteBundle(w, next, nil, "", nil)
		case "/other-key.bundle":
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			rewriteBundle(w, next, other, "", nil)
		case "/panics.bundle":
			// Signed with the builder's key, as the images were; its
			// initrd is garbage, so its kernel panics.
			garbage := bytes.Repeat([]byte("garbage!"), 1<<17)
			rewriteBundle(w, next, builderKey(t), "0.1.2-panics", map[string][]byte{osbundle.Initrd: garbage, osbundle.UKI: withInitrd(t, next, garbage)})
		default:
			http.NotFound(w, r)
		}
	})
	url := fmt.Sprintf("http://10.0.2.2:%d/", port)
	m := boot(t, qemu.Config{UEFI: uefi, Net: true, Disks: []qemu.Disk{{Path: overlay(t, artifact(t, "berth.raw"), "raw"), Format: "qcow2"}}})
	m.checkOSStatus(`good slot +a`, `slot b +/dev/vda3 +empty`)
	if out, code := m.shCode("hostctl os rollback"); code == 0 || !strings.Contains(out, "slot b (/dev/vda3) holds no root") {
		t.Fatalf("rollback to an empty slot: exit %d\n%s", code, out)
	}
	refused := m.check("bad-bundles-refused", func(m *machine) {
		before := m.sh("head -c 16M /dev/vda3 | sha256sum | cut -d' ' -f1")
		for name, want := range map[string]string{
			"unsigned":  "refused, nothing was written: the bundle is not signed: it has no bundle.sig",
			"other-key": "refused, nothing was written: the bundle is signed by another key",
		} {
			out, code := m.shCode("hostctl os upgrade --image " + url + name + ".bundle")
			if code == 0 || !strings.Contains(out, want) {
				m.t.Errorf("%s bundle: exit %d, want %q:\n%s", name, code, want, out)
			}
		}
		if after := m.sh("head -c 16M /dev/vda3 | sha256sum | cut -d' ' -f1"); after != before {
			m.t.Errorf("a refused bundle changed slot b: sha256 %s, then %s", before, after)
		}
		m.checkOSStatus(`good slot +a`, `slot b +/dev/vda3 +empty`)
	})
	if !refused {
		return
	}
	// State the upgrade must keep: a file, the ssh host key, a config
	// change and a user's container.
	m.sh("echo kept > /var/lib/upgrade-mark")
	hostKey := m.sh("cat /var/lib/berth/ssh/ssh_host_ed25519_key.pub")
	m.sh("hostctl config set hostname berth-upgraded")
	m.sh("wget -q -O /var/tmp/sleeper.tar " + url + "sleeper.tar && ctr image import /var/tmp/sleeper.tar && rm /var/tmp/sleeper.tar")
	m.sh("mkdir -p /home/ctr-test && ctr run -d --mount type=bind,src=/home/ctr-test,dst=/data,options=rbind:rw " + sleeperRef + " sleeper /app /data/pid")
	m.taskPID("sleeper")
	// Under BIOS the bundle comes over HTTP; under UEFI from a registry,
	// as berth push left it there, through a mirror of registry.lan:
	// berth.upgrade.repository names it, and hostctl os upgrade takes its
	// newest version.
	upgrade := "hostctl os upgrade --image " + url + "next.bundle"
	if uefi {
		srv, err := registry.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		ref, err := name.ParseReference(srv.Addr+"/berth/os:0.1.1-next", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ocibundle.Push(sched.Ctx(t), next, ref); err != nil {
			t.Fatal(err)
		}
		m.sh(fmt.Sprintf(`printf 'berth:\n  registry_mirrors:\n    registry.lan: [%q]\n  upgrade:\n    repository: registry.lan/berth/os\n' > /var/tmp/mirror.yaml && hostctl config merge -i /var/tmp/mirror.yaml`, srv.GuestURL()))
		if out := m.sh("hostctl os list"); strings.TrimSpace(out) != "0.1.1-next" {
			t.Errorf("hostctl os list: %q", out)
		}
		upgrade = "hostctl os upgrade"
	}
	out := m.sh(upgrade)
	if uefi && !strings.Contains(out, "registry.lan/berth/os:0.1.1-next is the newest version above the running 0.1.0") {
		t.Errorf("hostctl os upgrade did not take the repository's newest version:\n%s", out)
	}
	// The next version's shim and GRUB are signed with another key: the
	// upgrade installs them, and the next boots go through them.
	for _, want := range []string{"bundle berth 0.1.1-next: signed with key", "/dev/vda3: root written and synced",
		"boot loader: /EFI/BOOT/grubx64.efi updated", "boot loader: /EFI/BOOT/BOOTX64.EFI updated", "0.1.1-next is in slot b, tried at the next boot (3 tries)"} {
		if !strings.Contains(out, want) {
			t.Errorf("hostctl os upgrade: no %q:\n%s", want, out)
		}
	}
	m.checkOSStatus(`trying +slot b \(3 tries left\)`, `slot b +/dev/vda3 +holds a root +0\.1\.1-next`,
		`last upgrade +0\.1\.0 -> 0\.1\.1-next in slot b, .*: trying`)
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
		m.checkOSStatus(`version +0\.1\.1-next`, `root +/dev/vda3 \(slot b\)`, `slot a +/dev/vda2 +holds a root +0\.1\.0`,
			`slot b +/dev/vda3 +running +0\.1\.1-next`, `last upgrade +0\.1\.0 -> 0\.1\.1-next in slot b, .*: kept`)
		if got := strings.TrimSpace(m.sh("cat /var/lib/upgrade-mark")); got != "kept" {
			m.t.Errorf("state after the upgrade: %q", got)
		}
		if got := m.sh("cat /var/lib/berth/ssh/ssh_host_ed25519_key.pub"); got != hostKey {
			m.t.Errorf("ssh host key after the upgrade: %q, was %q", got, hostKey)
		}
		if got := strings.TrimSpace(m.sh("hostname")); got != "berth-upgraded" {
			m.t.Errorf("hostname after the upgrade: %q, want berth-upgraded (hostctl config set before it)", got)
		}
		// The user's image and container record are kept; the container
		// starts again on the new slot and writes through its bind.
		if out := m.sh("ctr containers ls -q"); !strings.Contains(out, "sleeper") {
			m.t.Errorf("after the upgrade ctr containers ls:\n%s\nwant the container sleeper", out)
		} else {
			m.sh("rm -f /home/ctr-test/pid; ctr task rm sleeper 2>/dev/null; ctr task start -d sleeper")
			m.taskPID("sleeper")
			m.eventually("cat /home/ctr-test/pid", regexp.MustCompile(`^1\s*$`), time.Minute)
		}
		m.checkVerifiedRoot(regexp.MustCompile(`^vda3$`))
		if out := m.sh("hostctl os status"); strings.Contains(out, "trying") || strings.Contains(out, "rejected") {
			m.t.Errorf("after slot b was kept:\n%s", out)
		}
	})
	if !ok {
		return
	}
	if !uefi {
		ok = m.check("unhealthy-slot-rejected", func(m *machine) {
			m.sh(`hostctl config set berth.upgrade.health_check '"exit 7"' && hostctl config set berth.upgrade.health_timeout 15s`)
			m.sh("hostctl os rollback --tries 1")
			reboot(m)
			if _, _, err := m.WaitFor(regexp.MustCompile(`berth: boot chain: slot a is not healthy 15s after boot: berth\.upgrade\.health_check \(exit 7\): exit status 7; rebooting`), 3*time.Minute); err != nil {
				m.t.Fatalf("slot a was not found unhealthy: %v", err)
			}
			m.waitReady()
			m.checkOSStatus(`root +/dev/vda3 \(slot b\)`, `good slot +b`, `rejected +slot a: berth\.upgrade\.health_check \(exit 7\): exit status 7`)
		})
		if !ok {
			return
		}
	}
	if uefi {
		ok = m.check("failing-network-upgrade-rejected", func(m *machine) {
			m.sh("hostctl config set berth.upgrade.health_timeout 20s")
			out := m.sh("hostctl os upgrade --tries 1 --image " + url + "netfail.bundle")
			if !strings.Contains(out, "0.1.3-netfail is in slot a, tried at the next boot (1 tries)") {
				m.t.Fatalf("upgrade to a release whose network fails: %s", out)
			}
			reboot(m)
			if _, _, err := m.WaitFor(regexp.MustCompile(`berth: boot chain: slot a is not healthy 20s after boot: service network is [^;]+; rebooting`), 3*time.Minute); err != nil {
				m.t.Fatalf("slot a was not found unhealthy: %v", err)
			}
			m.waitReady()
			// The reason is the service's state at the deadline: between
			// two of its restarts, "restarting: exited with status 1 ...",
			// or "starting" during one.
			m.checkOSStatus(`root +/dev/vda3 \(slot b\)`, `good slot +b`, `rejected +slot a: service network is .+`,
				`last upgrade +0\.1\.1-next -> 0\.1\.3-netfail in slot a, .*: rejected`)
		})
		if !ok {
			return
		}
	}
	m.check("panicking-upgrade-rejected", func(m *machine) {
		out := m.sh("hostctl os upgrade --tries 1 --image " + url + "panics.bundle")
		if !strings.Contains(out, "0.1.2-panics is in slot a, tried at the next boot (1 tries)") {
			m.t.Fatalf("upgrade to a bundle that panics: %s", out)
		}
		reboot(m)
		if _, _, err := m.WaitFor(regexp.MustCompile(`Kernel panic`), 2*time.Minute); err != nil {
			m.t.Fatalf("slot a's kernel did not panic: %v", err)
		}
		m.waitReady()
		m.checkOSStatus(`root +/dev/vda3 \(slot b\)`, `good slot +b`, `version +0\.1\.1-next`,
			`rejected +slot a: its tries ran out before PID 1 said why \(a kernel or early boot failure\)`,
			`last upgrade +0\.1\.1-next -> 0\.1\.2-panics in slot a, .*: rejected`)
	})
}

// withInitrd is the unified kernel image of the bundle at path with
// another initrd (unsigned: the suite boots UEFI without Secure Boot but
// in the SecureBoot scenario).
func withInitrd(t *testing.T, path string, initrd []byte) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no %s: %v", path, osbundle.UKI, err)
		}
		if h.Name == osbundle.UKI {
			break
		}
	}
	uki, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	img, err := pe.NewFile(bytes.NewReader(uki))
	if err != nil {
		t.Fatal(err)
	}
	var secs []secureboot.Section
	for _, name := range []string{".osrel", ".cmdline", ".initrd", ".linux"} {
		s := img.Section(name)
		if s == nil {
			t.Fatalf("the bundle's UKI has no %s section", name)
		}
		data, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		data = data[:min(len(data), int(s.VirtualSize))] // without the file alignment's padding
		if name == ".initrd" {
			data = initrd
		}
		secs = append(secs, secureboot.Section{Name: name, Data: data})
	}
	stub, err := os.ReadFile("/usr/lib/systemd/boot/efi/linuxx64.efi.stub")
	if err != nil {
		t.Fatal(err)
	}
	out, err := secureboot.UKI(stub, secs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// builderKey is the key the build signed the images with (the builder's
// own: image.DefaultSigningKey).
func builderKey(t *testing.T) ed25519.PrivateKey {
	p, err := image.DefaultSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := osbundle.LoadKey(p, false)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// rewriteBundle writes the bundle at path to w with the files of replace
// in place of its own and, when version is not "", that version; the
// manifest is signed with key, or not at all (nil), and names the key.
func rewriteBundle(w io.Writer, path string, key ed25519.PrivateKey, version string, replace map[string][]byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	tw := tar.NewWriter(w)
	var manifest []byte
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		data, replaced := replace[h.Name]
		switch h.Name {
		case osbundle.ManifestName:
			var m osbundle.Manifest
			if err := json.NewDecoder(tr).Decode(&m); err != nil {
				return err
			}
			if key != nil {
				m.Key = osbundle.KeyID(key.Public().(ed25519.PublicKey))
			}
			if version != "" {
				m.Version = version
			}
			for i, file := range m.Files {
				if b, ok := replace[file.Name]; ok {
					sum := sha256.Sum256(b)
					m.Files[i].Size, m.Files[i].SHA256 = int64(len(b)), hex.EncodeToString(sum[:])
				}
			}
			data, _ = json.Marshal(m)
			manifest, replaced = data, true
		case osbundle.SignatureName:
			if key == nil {
				continue
			}
			data, replaced = []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(key, manifest))+"\n"), true
		}
		if replaced {
			h.Size = int64(len(data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if replaced {
			_, err = tw.Write(data)
		} else {
			_, err = io.Copy(tw, tr)
		}
		if err != nil {
			return err
		}
	}
}
