package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/installer"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/internal/grubenv"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/osbundle"
)

// upgradeFixture is an EFI partition as a disk has it, and a bundle whose
// boot loader is the disk's.
type upgradeFixture struct {
	efi, dev string
	key      ed25519.PrivateKey
	srcs     []osbundle.Source
	files    map[string][]byte
}

func newUpgradeFixture(t *testing.T) *upgradeFixture {
	t.Helper()
	dir := t.TempDir()
	f := &upgradeFixture{efi: filepath.Join(dir, "efi"), dev: filepath.Join(dir, "vda3"), files: map[string][]byte{}}
	_, f.key, _ = ed25519.GenerateKey(rand.Reader)
	bootCfg, _ := installer.SlotBootCfg("berth.verity=1:2 console=ttyS0")
	for _, name := range osbundle.Files {
		data := []byte("new " + name + "\n")
		if name == osbundle.BootCfg {
			data = bootCfg
		}
		if name == osbundle.Root {
			data = bytes.Repeat([]byte("root"), 300000)
		}
		f.files[name] = data
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o644)
		f.srcs = append(f.srcs, osbundle.Source{Name: name, Path: p})
	}
	at := func(p string) string { return filepath.Join(f.efi, p) }
	for p, data := range map[string][]byte{
		efiGrubEFI: f.files[osbundle.GrubEFI], installer.EFIShim: f.files[osbundle.Shim], efiGrubCfg: []byte("old grub.cfg\n"),
		installer.EFICoreImg: f.files[osbundle.CoreImg], installer.EFIBootImg: f.files[osbundle.BootImg],
		layout.SlotBootCfg("b"): []byte("stale\n"), layout.SlotKernel("b"): []byte("old kernel\n"),
		// What upgrades cut short by a power cut left.
		"/berth/b/.initrd.img.tmp123": []byte("half"), "/boot/grub/.grub.cfg.tmp9": []byte("half"),
		layout.GrubEnvPath: installer.InitialGrubEnv(),
	} {
		os.MkdirAll(filepath.Dir(at(p)), 0o755)
		os.WriteFile(at(p), data, 0o644)
	}
	os.WriteFile(f.dev, make([]byte, 2<<20), 0o644)
	return f
}

func (f *upgradeFixture) bundle(t *testing.T) []byte {
	var b bytes.Buffer
	if err := osbundle.Write(&b, osbundle.Manifest{Name: "berth", Version: "1.1", Arch: "x86_64"}, f.srcs, f.key, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (f *upgradeFixture) write(t *testing.T, bundle []byte, tries int) (string, error) {
	t.Helper()
	br, err := osbundle.Open(bytes.NewReader(bundle), f.key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	err = writeUpgrade(f.efi, br, "", f.dev, "b", tries, &progress)
	return progress.String(), err
}

func (f *upgradeFixture) read(t *testing.T, p string) string {
	b, _ := os.ReadFile(filepath.Join(f.efi, p))
	return string(b)
}

func TestWriteUpgrade(t *testing.T) {
	f := newUpgradeFixture(t)
	progress, err := f.write(t, f.bundle(t), 3)
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := os.ReadFile(f.dev)
	if !bytes.HasPrefix(dev, f.files[osbundle.Root]) {
		t.Error("the slot does not hold the bundle's root")
	}
	for p, want := range map[string]string{
		layout.SlotKernel("b"): "new vmlinuz\n", layout.SlotInitrd("b"): "new initrd.img\n",
		layout.SlotBootCfg("b"): string(f.files[osbundle.BootCfg]), layout.SlotVersion("b"): "1.1\n",
		efiGrubCfg: "new grub.cfg\n",
	} {
		if got := f.read(t, p); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{"/berth/b/.initrd.img.tmp123", "/boot/grub/.grub.cfg.tmp9"} {
		if _, err := os.Stat(filepath.Join(f.efi, p)); err == nil {
			t.Errorf("%s, left by an upgrade cut short, is still there", p)
		}
	}
	if !strings.Contains(progress, "boot loader: /boot/grub/grub.cfg updated") || strings.Contains(progress, "EFI updated") || strings.Contains(progress, "efi updated") || strings.Contains(progress, "BIOS") {
		t.Errorf("only grub.cfg differs, progress:\n%s", progress)
	}
	env, _ := grubenv.Read(filepath.Join(f.efi, layout.GrubEnvPath))
	if env[layout.EnvTry] != "b" || env[layout.EnvTries] != "3" || env[layout.EnvGood] != "a" {
		t.Errorf("environment block %v", env)
	}
}

// A file that fails its hash leaves the slot unbootable and untried, the
// boot loader and the running slot as they were.
func TestWriteUpgradeBadFile(t *testing.T) {
	f := newUpgradeFixture(t)
	// An earlier upgrade had slot b tried.
	env := grubenv.Env{layout.EnvGood: "a", layout.EnvTry: "b", layout.EnvTries: "2"}
	grubenv.Write(filepath.Join(f.efi, layout.GrubEnvPath), env)
	b := f.bundle(t)
	i := bytes.Index(b, []byte("new initrd.img\n"))
	b[i] = 'N'
	_, err := f.write(t, b, 3)
	if err == nil || !strings.Contains(err.Error(), "initrd.img: sha256") {
		t.Fatalf("a changed initrd: %v", err)
	}
	for _, p := range []string{layout.SlotBootCfg("b"), layout.SlotVersion("b"), layout.SlotInitrd("b")} {
		if _, err := os.Stat(filepath.Join(f.efi, p)); err == nil {
			t.Errorf("%s is there after a failed upgrade", p)
		}
	}
	if got := f.read(t, efiGrubCfg); got != "old grub.cfg\n" {
		t.Errorf("grub.cfg changed: %q", got)
	}
	env, _ = grubenv.Read(filepath.Join(f.efi, layout.GrubEnvPath))
	if env[layout.EnvTry] != "" || env[layout.EnvGood] != "a" {
		t.Errorf("environment block after a failed upgrade: %v", env)
	}
}

// An old rejection of the slot goes once the slot is written, even when
// the write fails: it was of another root, and hostctl os status must not
// take it for the new one's.
func TestWriteUpgradeClearsOldRejection(t *testing.T) {
	f := newUpgradeFixture(t)
	grubenv.Write(filepath.Join(f.efi, layout.GrubEnvPath), grubenv.Env{layout.EnvGood: "a", layout.EnvRejected: "b"})
	b := f.bundle(t)
	b[bytes.Index(b, []byte("new vmlinuz\n"))] = 'N'
	if _, err := f.write(t, b, 3); err == nil {
		t.Fatal("a changed kernel was written")
	}
	env, _ := grubenv.Read(filepath.Join(f.efi, layout.GrubEnvPath))
	if env[layout.EnvRejected] != "" || env[layout.EnvGood] != "a" {
		t.Errorf("environment block after a failed upgrade of a rejected slot: %v", env)
	}
}

// Staged: written, not tried.
func TestWriteUpgradeStaged(t *testing.T) {
	f := newUpgradeFixture(t)
	if _, err := f.write(t, f.bundle(t), 0); err != nil {
		t.Fatal(err)
	}
	env, _ := grubenv.Read(filepath.Join(f.efi, layout.GrubEnvPath))
	if env[layout.EnvTry] != "" || f.read(t, layout.SlotVersion("b")) != "1.1\n" {
		t.Errorf("staged: environment block %v, version %q", env, f.read(t, layout.SlotVersion("b")))
	}
}

func TestCheckBootCfg(t *testing.T) {
	good, _ := installer.SlotBootCfg("berth.verity=1:2 console=ttyS0")
	if err := checkBootCfg(good); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"set berth_args=\"x\"\nlinux /evil\n", "insmod x\n", "set berth_args=\"a\"b\"\n"} {
		if err := checkBootCfg([]byte(bad)); err == nil || !strings.Contains(err.Error(), "not one line setting berth_args") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// Refusals before anything is read or written.
func TestUpgradeRefusals(t *testing.T) {
	for _, tc := range []struct {
		boot  layout.Boot
		tries int
		want  string
	}{
		{layout.Boot{Medium: layout.MediumISO, Disk: "sr0"}, 0, "refused, nothing was written: this host did not boot from a Berth disk"},
		{layout.Boot{Medium: layout.MediumDisk, Disk: "vda", Slot: "a"}, 7, "refused, nothing was written: --tries 7: expected 1 to 3"},
	} {
		h := &host{stage1: tc.boot}
		_, err := h.Upgrade(context.Background(), api.UpgradeRequest{Tries: tc.tries}, strings.NewReader("junk"), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errkind.ErrInvalidConfig) {
			t.Errorf("%+v: %v, want %q", tc.boot, err, tc.want)
		}
	}
}

// The recorded result of an upgrade, as the boot chain now has it.
func TestUpgradeResult(t *testing.T) {
	for _, c := range []struct {
		recorded string
		bc       *api.BootChain
		want     string
	}{
		// Cut short before the commit: slot b boots nothing.
		{api.UpgradeIncomplete, &api.BootChain{Good: "a"}, api.UpgradeIncomplete},
		// Cut short after the commit, before the record: slot b is
		// tried, then kept or rejected (writeUpgrade cleared any older
		// rejection of it).
		{api.UpgradeIncomplete, &api.BootChain{Good: "a", Trying: "b"}, api.UpgradeTrying},
		{api.UpgradeIncomplete, &api.BootChain{Good: "b"}, api.UpgradeKept},
		{api.UpgradeIncomplete, &api.BootChain{Good: "a", Rejected: "b"}, api.UpgradeRejected},
		{api.UpgradeTrying, &api.BootChain{Good: "a", Trying: "b"}, api.UpgradeTrying},
		{api.UpgradeTrying, &api.BootChain{Good: "b"}, api.UpgradeKept},
		{api.UpgradeTrying, &api.BootChain{Good: "a", Rejected: "b"}, api.UpgradeRejected},
		{api.UpgradeStaged, &api.BootChain{Good: "a"}, api.UpgradeStaged},
		{api.UpgradeTrying, &api.BootChain{Error: "no environment block"}, api.UpgradeTrying},
		{api.UpgradeTrying, nil, api.UpgradeTrying},
	} {
		u := api.Upgrade{From: "0.1.0", To: "0.1.1", Slot: "b", Result: c.recorded}
		if got := upgradeResult(u, c.bc); got != c.want {
			t.Errorf("recorded %s, boot chain %+v: %s, want %s", c.recorded, c.bc, got, c.want)
		}
	}
}
