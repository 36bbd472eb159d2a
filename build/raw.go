package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-os/berth/build/bootloader"
	"github.com/berth-os/berth/installer"
)

var rawTools = bootloader.Tools

// rawMenu is the disk's boot menu (syslinux and GRUB): slot A's entries,
// then slot B's, which GRUB shows only once slot B has a kernel.
func (j *job) rawMenu() bootloader.Menu {
	entries := bootloader.NewMenu("/berth/a/vmlinuz", "/berth/a/initrd.img", "berth.slot=a "+j.spec.Cmdline, "", "", j.spec.DebugEntries)
	for _, e := range bootloader.NewMenu("/berth/b/vmlinuz", "/berth/b/initrd.img", "berth.slot=b "+j.spec.Cmdline, "slot-b-", " slot B", j.spec.DebugEntries) {
		e.IfExists = true
		entries = append(entries, e)
	}
	return bootloader.Menu{Timeout: 1, Marker: j.marker(), Entries: entries}
}

// writeRaw makes the GPT disk: EFI (GRUB for UEFI, syslinux for BIOS, the
// kernel and initrd of slot A), BERTH_A (the squashfs), BERTH_B, BERTH_STATE.
// It is written with the installer's code, which `hostctl install` uses.
func writeRaw(ctx context.Context, j *job) ([]string, error) {
	boot, err := j.boot(ctx)
	if err != nil {
		return nil, err
	}
	m := media{Stage: "raw", Version: 1, Title: "raw disk (GPT, BIOS+UEFI)", File: "disk.raw"}
	raw, err := j.makeMedia(m, j.mediaKey(m, boot), func(out, file string) error {
		l := installer.Layout{Size: int64(j.spec.Disk.Size), EFISize: int64(j.spec.Disk.EFISize), SlotSize: int64(j.spec.Disk.SlotSize), Seed: j.buildID}
		plan, err := l.Plan()
		if err != nil {
			return fmt.Errorf("plan partitions: %w", err)
		}
		efiPart := plan[0]
		menu := j.rawMenu()
		efi := filepath.Join(out, "bootx64.efi")
		if err := bootloader.GrubEFI(ctx, filepath.Join(boot, "usr/lib/grub/x86_64-efi"), j.marker(), efi); err != nil {
			return err
		}
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
			{"/syslinux/syslinux.cfg", menu.SyslinuxConfig()},
			{j.marker(), j.buildID + "\n"},
		} {
			if err := fat.CopyData(ctx, []byte(f[1]), f[0]); err != nil {
				return err
			}
		}
		if err := fat.InstallSyslinux(ctx, filepath.Join(boot, "usr/bin/syslinux"), "/syslinux"); err != nil {
			return err
		}
		if _, err := installer.WriteImage(file, l, installer.Content{
			BootCode: filepath.Join(boot, "usr/lib/syslinux/mbr/gptmbr.bin"),
			EFI:      fat.Path,
			RootA:    j.rootfs,
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
