package build

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/berth-os/berth/build/bootloader"
	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/hosttool"
	"github.com/berth-os/berth/build/tree"
	"github.com/berth-os/berth/installer"
	"github.com/berth-os/berth/internal/layout"
)

var isoTools = append([]string{"xorriso"}, bootloader.Tools...)

// isoUKI is the install kit's unified kernel image on the ISO: GRUB for
// UEFI boots the live system from it too, so that the ISO boots under
// Secure Boot. Its own command line lacks berth.boot=iso, which stage 1
// then takes from the image's path (init/stage1/loader.go).
const isoUKI = "/" + installer.KitDir + "/berth.efi"

// The ISO's kernel and initrd, for isolinux: their directory entries point
// into isoUKI's sections (isoShare).
const (
	isoKernel = "boot/vmlinuz"
	isoInitrd = "boot/initrd.img"
)

// isoMenu is the ISO's boot menu (isolinux and GRUB).
func (j *job) isoMenu() bootloader.Menu {
	entries := bootloader.NewMenu("/"+isoKernel, "/"+isoInitrd, "berth.boot=iso "+j.cmdline(), "", "", j.spec.DebugEntries)
	for i := range entries {
		entries[i].UKI = isoUKI
	}
	return bootloader.Menu{Timeout: 1, Marker: j.marker(), Entries: entries}
}

// writeISO makes a hybrid ISO: isolinux for BIOS (from CD, or from a disk
// through the isohybrid MBR) and, for UEFI, shim and GRUB in the El Torito
// EFI image (and a GPT entry for it when written to a disk). They are the
// disk's shim and a GRUB like the disk's, signed with the build's Secure
// Boot key, and GRUB chainloads the install kit's UKI (isoUKI): the ISO
// boots with Secure Boot on, as the disk it installs does.
func writeISO(ctx context.Context, j *job) ([]string, error) {
	boot, err := j.boot(ctx)
	if err != nil {
		return nil, err
	}
	m := media{Stage: "iso", Version: 9, Title: "iso (hybrid, BIOS+UEFI)", File: "image.iso"}
	kit, err := j.installKit()
	if err != nil {
		return nil, err
	}
	// The menus are in the key: a change to how they are written makes
	// new media.
	k := j.mediaKey(m, boot).String("grub.cfg", j.isoMenu().GrubConfig()).String("isolinux.cfg", j.isoMenu().SyslinuxConfig()).
		String("disk-grub.cfg", j.rawMenu().GrubConfig()).String("disk.json", string(kit))
	iso, err := j.makeMedia(m, k, func(out, file string) error {
		tools, err := hosttool.Need("xorriso")
		if err != nil {
			return err
		}
		stg := filepath.Join(out, "staging")
		defer cache.RemoveAll(stg)
		menu := j.isoMenu()
		files := map[string]string{
			layout.ISORoot:          j.rootfs,
			"isolinux/isolinux.bin": filepath.Join(boot, "usr/lib/ISOLINUX/isolinux.bin"),
			"isolinux/ldlinux.c32":  filepath.Join(boot, "usr/lib/syslinux/modules/bios/ldlinux.c32"),
		}
		// The install kit: what hostctl install writes besides the
		// kernel, initrd and root (installer.Kit).
		db, err := j.diskBoot(ctx, boot, out)
		if err != nil {
			return err
		}
		defer db.remove()
		for dst, src := range map[string]string{"boot.img": db.bootImg, "core.img": db.core, "shimx64.efi": db.shim, "grubx64.efi": db.efi, "berth.efi": db.uki, "grub.cfg": db.grubCfg, "boot.cfg": db.bootCfg, "version": db.version} {
			files[installer.KitDir+"/"+dst] = src
		}
		for _, dst := range sortedKeys(files) {
			if err := tree.LinkOrCopy(files[dst], filepath.Join(stg, dst)); err != nil {
				return fmt.Errorf("stage %s: %w", dst, err)
			}
		}
		shares, err := ukiShares(db.uki, map[string]string{isoKernel: j.kernel.Vmlinuz, isoInitrd: j.initrd})
		if err != nil {
			return err
		}
		data := map[string]string{
			isoKernel:               "", // placeholders: shareISOExtents
			isoInitrd:               "",
			"isolinux/isolinux.cfg": menu.SyslinuxConfig(),
			"boot/grub/grub.cfg":    menu.GrubConfig(),
			j.marker()[1:]:          j.buildID + "\n",
			installer.KitManifest:   string(kit),
		}
		for _, dst := range sortedKeys(data) {
			if err := writeFile(filepath.Join(stg, dst), []byte(data[dst])); err != nil {
				return fmt.Errorf("stage %s: %w", dst, err)
			}
		}
		// The El Torito EFI image: a small FAT with shim and GRUB, which
		// finds the ISO by the build's marker.
		efi := filepath.Join(out, "grubx64.efi")
		if err := bootloader.Grub(ctx, bootloader.GrubImage{Format: "x86_64-efi", ModDir: filepath.Join(boot, "usr/lib/grub/x86_64-efi"), Marker: j.marker(), Chainload: true, SBAT: grubSBAT, Out: efi}); err != nil {
			return err
		}
		defer os.Remove(efi)
		if err := j.signEFI(efi); err != nil {
			return err
		}
		var size int64
		for _, f := range []string{db.shim, efi} {
			st, err := os.Stat(f)
			if err != nil {
				return fmt.Errorf("EFI image: %w", err)
			}
			size += st.Size()
		}
		// Both and a quarter of slack, in whole MiB.
		size = (size*5/4 + 256<<10 + 1<<20 - 1) / (1 << 20) * (1 << 20)
		fat, err := bootloader.NewFAT(ctx, filepath.Join(stg, "boot/efiboot.img"), bootloader.FATOptions{Size: size, Label: "BERTH_EFI", Epoch: j.epoch})
		if err != nil {
			return err
		}
		for _, f := range [][2]string{{db.shim, installer.EFIShim}, {efi, installer.EFIGrub}} {
			if err := fat.Copy(ctx, f[0], f[1]); err != nil {
				return err
			}
		}
		// ISO 9660 records each file's time: make them all the epoch.
		if err := setTimes(stg, j.epoch); err != nil {
			return err
		}
		cmd := hosttool.Command(ctx, []string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(j.epoch, 10)}, tools["xorriso"], "-as", "mkisofs",
			"-o", file, "-V", layout.ISOLabel, "-J", "-joliet-long", "-r",
			"-isohybrid-mbr", filepath.Join(boot, "usr/lib/ISOLINUX/isohdpfx.bin"),
			"-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
			"-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
			"-eltorito-alt-boot", "-e", "boot/efiboot.img", "-no-emul-boot", "-isohybrid-gpt-basdat",
			stg)
		if o, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("xorriso: %w\n%s", err, o)
		}
		return shareISOExtents(file, shares)
	})
	if err != nil {
		return nil, err
	}
	return []string{iso}, nil
}

// installKit is the ISO's install manifest (installer.KitManifest): the
// disk's partition sizes, and where on the ISO each file of the disk is.
func (j *job) installKit() ([]byte, error) {
	d := installer.KitDir + "/"
	kit := installer.Kit{
		EFISize: int64(j.spec.Disk.EFISize), SlotSize: int64(j.spec.Disk.SlotSize),
		BootImg: d + "boot.img", CoreImg: d + "core.img", Root: layout.ISORoot,
		EFI: installer.EFIFiles(diskBootFiles{shim: d + "shimx64.efi", efi: d + "grubx64.efi", uki: d + "berth.efi", core: d + "core.img", bootImg: d + "boot.img", grubCfg: d + "grub.cfg", bootCfg: d + "boot.cfg", version: d + "version"}.
			files(isoKernel, isoInitrd, j.marker()[1:], j.marker())),
	}
	b, err := json.MarshalIndent(kit, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("install kit: %w", err)
	}
	return append(b, '\n'), nil
}
