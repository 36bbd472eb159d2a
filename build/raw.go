package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-os/berth/build/bootloader"
	"github.com/berth-os/berth/installer"
	"github.com/berth-os/berth/internal/layout"
)

var rawTools = bootloader.Tools

// rawGrubPrefix is where the disk's GRUB, BIOS or UEFI, finds grub.cfg: the
// EFI partition (number 1) of the disk GRUB itself was loaded from.
const rawGrubPrefix = "(,gpt1)/boot/grub"

// rawPrelude names the partition GRUB came from by its GUID, which every
// entry passes on to stage 1 (layout.FlagBootPart).
const rawPrelude = "probe --set=berth_boot_part --part-uuid $root\n"

// rawMenu is the disk's boot menu: slot A's entries, then slot B's, which
// GRUB shows only once slot B has a kernel.
func (j *job) rawMenu() bootloader.Menu {
	flags := layout.FlagBootPart + "=${berth_boot_part} " + j.cmdline()
	entries := bootloader.NewMenu("/berth/a/vmlinuz", "/berth/a/initrd.img", "berth.slot=a "+flags, "", "", j.spec.DebugEntries)
	for _, e := range bootloader.NewMenu("/berth/b/vmlinuz", "/berth/b/initrd.img", "berth.slot=b "+flags, "slot-b-", " slot B", j.spec.DebugEntries) {
		e.IfExists = true
		entries = append(entries, e)
	}
	return bootloader.Menu{Timeout: 1, Marker: j.marker(), Entries: entries, GrubPrelude: rawPrelude}
}

// writeRaw makes the GPT disk: BIOS (GRUB's core image for BIOS), EFI
// (GRUB for UEFI, grub.cfg, the kernel and initrd of slot A), BERTH_A (the
// squashfs), BERTH_B, BERTH_STATE. It is written with the installer's
// code, which `hostctl install` uses.
func writeRaw(ctx context.Context, j *job) ([]string, error) {
	boot, err := j.boot(ctx)
	if err != nil {
		return nil, err
	}
	m := media{Stage: "raw", Version: 3, Title: "raw disk (GPT, BIOS+UEFI)", File: "disk.raw"}
	// The menu is in the key: a change to how it is written makes a new disk.
	raw, err := j.makeMedia(m, j.mediaKey(m, boot).String("grub.cfg", j.rawMenu().GrubConfig()), func(out, file string) error {
		l := installer.Layout{Size: int64(j.spec.Disk.Size), EFISize: int64(j.spec.Disk.EFISize), SlotSize: int64(j.spec.Disk.SlotSize), Seed: j.buildID}
		plan, err := l.Plan()
		if err != nil {
			return fmt.Errorf("plan partitions: %w", err)
		}
		efiPart, _ := installer.ByName(plan, layout.PartEFI)
		menu := j.rawMenu()
		efi, core := filepath.Join(out, "bootx64.efi"), filepath.Join(out, "core.img")
		for _, g := range []bootloader.GrubImage{
			{Format: "x86_64-efi", Out: efi},
			{Format: "i386-pc", Out: core},
		} {
			g.ModDir, g.Prefix = filepath.Join(boot, "usr/lib/grub", g.Format), rawGrubPrefix
			if err := bootloader.Grub(ctx, g); err != nil {
				return err
			}
		}
		defer os.Remove(core)
		fat, err := bootloader.NewFAT(ctx, filepath.Join(out, "efi.img"), bootloader.FATOptions{
			Size: efiPart.Size, Label: "EFI", Hidden: efiPart.Start / 512, Epoch: j.epoch})
		if err != nil {
			return err
		}
		defer os.Remove(fat.Path)
		for _, f := range [][2]string{
			{efi, "/EFI/BOOT/BOOTX64.EFI"},
			{j.kernel.Vmlinuz, "/berth/a/vmlinuz"},
			{j.initrd, "/berth/a/initrd.img"},
		} {
			if err := fat.Copy(ctx, f[0], f[1]); err != nil {
				return err
			}
		}
		// In a fixed order: FAT places files in the order they come.
		for _, f := range [][2]string{
			{"/boot/grub/grub.cfg", menu.GrubConfig()},
			{j.marker(), j.buildID + "\n"},
		} {
			if err := fat.CopyData(ctx, []byte(f[1]), f[0]); err != nil {
				return err
			}
		}
		if _, err := installer.WriteImage(file, l, installer.Content{
			BootImg: filepath.Join(boot, "usr/lib/grub/i386-pc/boot.img"),
			CoreImg: core,
			EFI:     fat.Path,
			RootA:   j.rootfs,
		}); err != nil {
			return fmt.Errorf("write disk image: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []string{raw}, nil
}
