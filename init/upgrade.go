package main

// hostctl os upgrade: PID 1 writes a signed bundle (package osbundle) into
// the boot disk's other slot. The order makes a power cut at any point
// leave a disk that boots: the other slot's boot.cfg goes first (so
// nothing tries a half-written slot), then its root, kernel and initrd,
// the disk's boot loader when the bundle's differs, the slot's boot.cfg
// and version, and last the environment block's berth_try, the commit
// point. The bundle's signature is checked, with the key the running
// (verified) root carries, before anything is written; each file's
// sha256 as it arrives.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/installer"
	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/berth-os/berth/internal/blockdev"
	"github.com/berth-os/berth/internal/grubenv"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/osbundle"
)

// upgradeRecordPath keeps the last upgrade, on the state partition.
const upgradeRecordPath = layout.StateDir + "/os/upgrade.json"

// Where the disk's GRUB files are on its EFI partition.
const (
	efiGrubEFI = installer.EFIGrub
	efiGrubCfg = "/boot/grub/grub.cfg"
)

// upgradeTries is how many boots an upgraded slot gets to become healthy,
// unless hostctl os upgrade --tries says.
const upgradeTries = 3

func otherSlot(slot string) string {
	if slot == "b" {
		return "a"
	}
	return "b"
}

// Upgrade writes the bundle read from body into the other slot of the
// boot disk, and has it tried at the next boot unless req.Stage.
func (h *host) Upgrade(ctx context.Context, req api.UpgradeRequest, body io.Reader, progress io.Writer) (api.UpgradeResult, error) {
	if !h.installing.TryLock() {
		return api.UpgradeResult{}, errors.New("upgrade: an install or upgrade is running")
	}
	defer h.installing.Unlock()
	refuse := func(err error) (api.UpgradeResult, error) {
		return api.UpgradeResult{}, api.BadRequest(fmt.Errorf("upgrade: refused, nothing was written: %w", err))
	}
	if h.stage1.Medium != layout.MediumDisk || h.stage1.Disk == "" {
		return refuse(errNotDisk)
	}
	tries := req.Tries
	if tries == 0 {
		tries = upgradeTries
	}
	if tries < 1 || tries > 3 {
		return refuse(fmt.Errorf("--tries %d: expected 1 to 3", tries))
	}
	if req.Stage {
		tries = 0
	}
	if req.Ref != "" {
		rc, desc, err := h.imageOptions().FetchArtifact(ctx, req.Ref, osbundle.ArtifactType, osbundle.LayerType)
		if err != nil {
			return api.UpgradeResult{}, fmt.Errorf("upgrade: nothing was written: %w", err)
		}
		defer rc.Close()
		fmt.Fprintf(progress, "pulling %s (%s, %d MiB)\n", req.Ref, desc.Digest, desc.Size>>20)
		body = rc
	}
	slot := h.stage1.Slot
	other := otherSlot(slot)
	env, err := h.bootEnv()
	if err != nil {
		return api.UpgradeResult{}, fmt.Errorf("upgrade: %w", err)
	}
	if env[layout.EnvTry] == slot {
		return refuse(fmt.Errorf("slot %s, the running one, is still being tried, and slot %s is the good one: upgrade once slot %s is kept (hostctl os status: good slot %s)", slot, other, slot, slot))
	}
	if env[layout.EnvGood] == other {
		return refuse(fmt.Errorf("slot %s is the good one, though slot %s runs: roll back to it, or have slot %s kept, first", other, slot, slot))
	}
	pemKey, err := os.ReadFile(layout.UpgradeKeyPath)
	if err != nil {
		return refuse(fmt.Errorf("this image carries no upgrade key: %w", err))
	}
	pub, err := osbundle.ParsePublicKey(pemKey)
	if err != nil {
		return refuse(fmt.Errorf("%s: %w", layout.UpgradeKeyPath, err))
	}
	br, err := osbundle.Open(body, pub)
	if err != nil {
		return refuse(err)
	}
	m := br.Manifest
	if m.Arch != "x86_64" {
		return refuse(fmt.Errorf("the bundle is for %s, this host is x86_64", m.Arch))
	}
	devs, err := blockdev.List("/sys", "/dev")
	if err != nil {
		return api.UpgradeResult{}, err
	}
	part, ok := blockdev.OnDisk(devs, layout.SlotPart(other), h.stage1.Disk)
	if !ok {
		return refuse(fmt.Errorf("the boot disk has no %s", layout.SlotPart(other)))
	}
	slotBytes, err := partSize("/sys", part.Name)
	if err != nil {
		return api.UpgradeResult{}, fmt.Errorf("upgrade: %w", err)
	}
	root, _ := m.File(osbundle.Root)
	if root.Size > slotBytes {
		return refuse(fmt.Errorf("the bundle's root is %d MiB; slot %s (%s) holds %d MiB", root.Size>>20, other, part.Dev, slotBytes>>20))
	}
	fmt.Fprintf(progress, "bundle %s %s: signed with key %s, verified\n", m.Name, m.Version, m.Key)
	h.logf("upgrade: writing %s %s (key %s) into slot %s (%s)", m.Name, m.Version, m.Key, other, part.Dev)
	// Recorded first: an upgrade cut short says so.
	rec := api.Upgrade{From: h.info.Versions.Berth, To: m.Version, Slot: other, At: time.Now().UTC(), Result: api.UpgradeIncomplete}
	h.recordUpgrade(rec)
	err = h.withEFI(true, func(efi string) error {
		return writeUpgrade(efi, br, h.stage1.Disk, part.Dev, other, tries, progress)
	})
	if err != nil {
		h.logf("upgrade: %v", err)
		return api.UpgradeResult{}, fmt.Errorf("upgrade: %w (slot %s is not bootable until an upgrade completes; slot %s is untouched)", err, other, slot)
	}
	var res api.UpgradeResult
	if req.Stage {
		rec.Result = api.UpgradeStaged
		res.Message = fmt.Sprintf("%s is staged in slot %s; hostctl os upgrade --activate has it tried at the next boot", m.Version, other)
	} else {
		rec.Result = api.UpgradeTrying
		res.Message = fmt.Sprintf("%s is in slot %s, tried at the next boot (%d tries) and kept once healthy; reboot to start", m.Version, other, tries)
	}
	res.Upgrade = rec
	h.recordUpgrade(rec)
	// A new slot: what a try of the old one recorded is stale.
	if t, err := readTrial(); err == nil && t.Slot == other {
		os.Remove(trialPath)
	}
	h.logf("upgrade: %s", res.Message)
	return res, nil
}

// recordUpgrade keeps rec as the last upgrade, on the state partition.
func (h *host) recordUpgrade(rec api.Upgrade) {
	b, err := json.Marshal(rec)
	if err == nil {
		if err = os.MkdirAll(filepath.Dir(upgradeRecordPath), 0o755); err == nil {
			err = atomicfile.Write(upgradeRecordPath, b, 0o644)
		}
	}
	if err != nil {
		h.logf("upgrade: record: %v", err)
	}
}

// Versions lists the tags of a repository of bundles, through the
// registry settings image pulls use (mirrors, credentials, proxy).
func (h *host) Versions(ctx context.Context, repo string) ([]string, error) {
	tags, err := h.imageOptions().Tags(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("os list: %w", err)
	}
	return tags, nil
}

// writeUpgrade writes bundle br into slot (its root on dev) and the EFI
// partition mounted at efi, both on disk (a name in /sys/class/block), in
// the order that keeps the disk bootable, and has the slot tried tries
// times (0: not at all, staged).
func writeUpgrade(efi string, br *osbundle.Reader, disk, dev, slot string, tries int, progress io.Writer) error {
	at := func(p string) string { return filepath.Join(efi, filepath.FromSlash(p)) }
	envPath := at(layout.GrubEnvPath)
	// Nothing boots the slot while it is written: no try of it, and no
	// boot.cfg, which hostctl os rollback wants too. An old rejection of
	// it goes too: it was of another root.
	env, err := grubenv.Read(envPath)
	if err != nil {
		return err
	}
	if env[layout.EnvTry] == slot || env[layout.EnvRejected] == slot {
		if env[layout.EnvTry] == slot {
			delete(env, layout.EnvTry)
			delete(env, layout.EnvTries)
		}
		if env[layout.EnvRejected] == slot {
			delete(env, layout.EnvRejected)
		}
		if err := grubenv.Write(envPath, env); err != nil {
			return err
		}
	}
	for _, p := range []string{layout.SlotBootCfg(slot), layout.SlotVersion(slot)} {
		if err := os.Remove(at(p)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.MkdirAll(at("/berth/"+slot), 0o755); err != nil {
		return err
	}
	if err := atomicfile.SyncDir(at("/berth/" + slot)); err != nil {
		return err
	}
	// The rest of the slot's folder goes too (its old kernel and initrd),
	// and what an upgrade cut short left behind (atomicfile's temp files
	// of the slot and of the boot loader), which would fill the partition.
	if err := removeAll(at("/berth/"+slot), func(string) bool { return true }); err != nil {
		return err
	}
	for _, d := range []string{path.Dir(efiGrubEFI), path.Dir(efiGrubCfg), path.Dir(installer.EFICoreImg)} {
		if err := removeAll(at(d), isTemp); err != nil {
			return err
		}
	}
	small := map[string][]byte{}
	for {
		f, r, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		switch f.Name {
		case osbundle.Root:
			err = writeSlot(dev, r, f.Size, progress)
		case osbundle.Kernel, osbundle.Initrd, osbundle.UKI:
			dst := map[string]string{osbundle.Kernel: layout.SlotKernel(slot), osbundle.Initrd: layout.SlotInitrd(slot), osbundle.UKI: layout.SlotUKI(slot)}[f.Name]
			err = atomicfile.WriteFrom(at(dst), 0o644, func(w io.Writer) error {
				_, err := io.Copy(w, r)
				return err
			})
			fmt.Fprintf(progress, "%s: written (%d KiB)\n", dst, f.Size>>10)
		default:
			small[f.Name], err = io.ReadAll(r)
		}
		if err != nil {
			return err
		}
	}
	if err := updateBootloader(efi, disk, small, progress); err != nil {
		return err
	}
	if err := checkBootCfg(small[osbundle.BootCfg]); err != nil {
		return err
	}
	if err := atomicfile.Write(at(layout.SlotVersion(slot)), []byte(br.Manifest.Version+"\n"), 0o644); err != nil {
		return err
	}
	if err := atomicfile.Write(at(layout.SlotBootCfg(slot)), small[osbundle.BootCfg], 0o644); err != nil {
		return err
	}
	if tries == 0 {
		return nil
	}
	// The commit point.
	env, err = grubenv.Read(envPath)
	if err != nil {
		return err
	}
	env[layout.EnvTry] = slot
	env[layout.EnvTries] = strconv.Itoa(tries)
	if env[layout.EnvRejected] == slot {
		delete(env, layout.EnvRejected)
	}
	return grubenv.Write(envPath, env)
}

// isTemp says whether a file name is one of atomicfile's temp files.
func isTemp(name string) bool { return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp") }

// removeAll removes the files of dir whose names match, and syncs dir.
func removeAll(dir string, match func(name string) bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Type().IsRegular() && match(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return atomicfile.SyncDir(dir)
}

// checkBootCfg checks that a bundle's boot.cfg is one that
// installer.SlotBootCfg writes: one line setting berth_args, which GRUB
// sources.
func checkBootCfg(b []byte) error {
	args, ok := strings.CutPrefix(string(b), `set berth_args="`)
	args, ok2 := strings.CutSuffix(args, "\"\n")
	if ok && ok2 {
		if want, err := installer.SlotBootCfg(args); err == nil && bytes.Equal(want, b) {
			return nil
		}
	}
	return fmt.Errorf("the bundle's boot.cfg is not one line setting berth_args: %.200q", b)
}

// writeSlot copies a slot's root (size bytes from r) onto dev, which
// nothing may hold open (O_EXCL), and syncs it.
func writeSlot(dev string, r io.Reader, size int64, progress io.Writer) error {
	f, err := os.OpenFile(dev, os.O_WRONLY|os.O_EXCL, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(progress, "%s: writing the root (%d MiB)\n", dev, size>>20)
	buf := make([]byte, 1<<20)
	var done int64
	next := size / 4
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return fmt.Errorf("%s: %w", dev, err)
			}
			done += int64(n)
			if done >= next && done < size {
				fmt.Fprintf(progress, "%s: %d%%\n", dev, done*100/size)
				next += size / 4
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", dev, err)
	}
	fmt.Fprintf(progress, "%s: root written and synced\n", dev)
	return f.Close()
}

// updateBootloader installs the bundle's boot loader where it differs
// from the disk's: GRUB and shim for UEFI and grub.cfg each by a rename, GRUB's
// BIOS code through the two halves of the BIOS boot partition
// (installer.UpdateBIOSBoot), and the EFI partition's copy of it, which
// hostctl install reads.
func updateBootloader(efi, disk string, files map[string][]byte, progress io.Writer) error {
	at := func(p string) string { return filepath.Join(efi, filepath.FromSlash(p)) }
	// GRUB before shim: each is signed with the same key, so either old
	// one starts either new one.
	for _, f := range []struct{ name, dst string }{{osbundle.GrubEFI, efiGrubEFI}, {osbundle.Shim, installer.EFIShim}, {osbundle.GrubCfg, efiGrubCfg}} {
		if old, err := os.ReadFile(at(f.dst)); err == nil && bytes.Equal(old, files[f.name]) {
			continue
		}
		if err := atomicfile.Write(at(f.dst), files[f.name], 0o644); err != nil {
			return err
		}
		fmt.Fprintf(progress, "boot loader: %s updated\n", f.dst)
	}
	oldCore, _ := os.ReadFile(at(installer.EFICoreImg))
	oldBoot, _ := os.ReadFile(at(installer.EFIBootImg))
	if bytes.Equal(oldCore, files[osbundle.CoreImg]) && bytes.Equal(oldBoot, files[osbundle.BootImg]) {
		return nil
	}
	if err := updateBIOSBoot(disk, files[osbundle.BootImg], files[osbundle.CoreImg]); err != nil {
		return err
	}
	for _, f := range []struct{ name, dst string }{{osbundle.CoreImg, installer.EFICoreImg}, {osbundle.BootImg, installer.EFIBootImg}} {
		if err := atomicfile.Write(at(f.dst), files[f.name], 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(progress, "boot loader: GRUB's BIOS code updated\n")
	return nil
}

// updateBIOSBoot writes GRUB's BIOS code into the BIOS boot partition of
// disk, the boot disk.
func updateBIOSBoot(disk string, bootImg, core []byte) error {
	devs, err := blockdev.List("/sys", "/dev")
	if err != nil {
		return err
	}
	bios, ok := blockdev.OnDisk(devs, layout.PartBIOS, disk)
	if disk == "" || !ok {
		return fmt.Errorf("boot loader: the boot disk has no %s partition", layout.PartBIOS)
	}
	start, err := sysAttr(bios.Name, "start")
	if err != nil {
		return err
	}
	size, err := partSize("/sys", bios.Name)
	if err != nil {
		return err
	}
	f, err := os.OpenFile("/dev/"+disk, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := installer.UpdateBIOSBoot(f, bootImg, core, start*512, size); err != nil {
		return err
	}
	return f.Close()
}

// sysAttr reads a number from /sys/class/block/NAME/ATTR.
func sysAttr(name, attr string) (int64, error) {
	b, err := os.ReadFile(filepath.Join("/sys/class/block", name, attr))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// lastUpgrade is the recorded last upgrade, with its result as the boot
// chain now says; nil when there was none.
func lastUpgrade(bc *api.BootChain) *api.Upgrade {
	b, err := os.ReadFile(upgradeRecordPath)
	if err != nil {
		return nil
	}
	var u api.Upgrade
	if json.Unmarshal(b, &u) != nil {
		return nil
	}
	u.Result = upgradeResult(u, bc)
	return &u
}

// upgradeResult is the result of upgrade u as the boot chain bc now says.
// An upgrade recorded as incomplete may have been cut short after its
// commit (before the record), so the boot chain has the last word:
// writeUpgrade clears an old rejection of the slot before it writes.
func upgradeResult(u api.Upgrade, bc *api.BootChain) string {
	switch {
	case bc == nil || bc.Error != "":
	case bc.Trying == u.Slot:
		return api.UpgradeTrying
	case bc.Rejected == u.Slot:
		return api.UpgradeRejected
	case bc.Good == u.Slot:
		return api.UpgradeKept
	}
	return u.Result
}
