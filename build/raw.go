package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-os/berth/build/bootloader"
	"github.com/berth-os/berth/build/secureboot"
	"github.com/berth-os/berth/installer"
	"github.com/berth-os/berth/internal/layout"
)

var rawTools = bootloader.Tools

// rawGrubPrefix is where the disk's GRUB, BIOS or UEFI, finds grub.cfg: the
// EFI partition (number 1) of the disk GRUB itself was loaded from.
const rawGrubPrefix = "(,gpt1)/boot/grub"

// rawPrelude names the partition GRUB came from by its GUID, which every
// entry passes on to stage 1 (layout.FlagBootPart); reads the kernel
// arguments `hostctl install --append` gave (installer.AppendPath); and
// picks the slot to boot from the environment block (layout.GrubEnvPath):
// the good one, or the one being tried while its tries last. Each try is
// counted before the kernel starts, so a kernel that panics uses one up
// too; out of tries, the slot is recorded as rejected and the good one
// boots. The slot's boot.cfg gives its root's arguments (berth_args).
// load_env takes only the boot chain's variables from the block.
var rawPrelude = strings.NewReplacer(
	"GOOD", layout.EnvGood, "TRIES", layout.EnvTries, "TRY", layout.EnvTry, "REJECTED", layout.EnvRejected,
	"ENV", layout.GrubEnvPath, "APPEND", installer.AppendPath,
).Replace(`probe --set=berth_boot_part --part-uuid $root
set berth_append=""
if [ -f APPEND ]; then source APPEND; fi
set GOOD=a
set TRY=""
set TRIES=""
if [ -f ENV ]; then load_env -f ENV GOOD TRY TRIES; fi
set berth_slot="$GOOD"
if [ -n "$TRY" ]; then
  if [ "$TRIES" = 3 ]; then set TRIES=2; set berth_slot="$TRY"
  elif [ "$TRIES" = 2 ]; then set TRIES=1; set berth_slot="$TRY"
  elif [ "$TRIES" = 1 ]; then set TRIES=0; set berth_slot="$TRY"
  else set REJECTED="$TRY"; set TRY=""; set TRIES=""; fi
  save_env -f ENV TRY TRIES REJECTED
fi
if [ "$berth_slot" != b ]; then set berth_slot=a; fi
set berth_args=""
source /berth/$berth_slot/boot.cfg
`)

// rawMenu is the disk's boot menu: its entries boot the slot the prelude
// picked, with that slot's root arguments.
func (j *job) rawMenu() bootloader.Menu {
	flags := "berth.slot=${berth_slot} " + layout.FlagBootPart + "=${berth_boot_part} ${berth_args} ${berth_append}"
	entries := bootloader.NewMenu(layout.SlotKernel("${berth_slot}"), layout.SlotInitrd("${berth_slot}"), flags, "", "", j.spec.DebugEntries)
	for i := range entries {
		entries[i].UKI = layout.SlotUKI("${berth_slot}")
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
	m := media{Stage: "raw", Version: 9, Title: "raw disk (GPT, BIOS+UEFI)", File: "disk.raw"}
	// The menu is in the key: a change to how it is written makes a new disk.
	raw, err := j.makeMedia(m, j.mediaKey(m, boot).String("grub.cfg", j.rawMenu().GrubConfig()).String("boot.cfg", j.cmdline()), func(out, file string) error {
		l := installer.Layout{Size: int64(j.spec.Disk.Size), EFISize: int64(j.spec.Disk.EFISize), SlotSize: int64(j.spec.Disk.SlotSize), Seed: j.buildID}
		plan, err := l.Plan()
		if err != nil {
			return fmt.Errorf("plan partitions: %w", err)
		}
		efiPart, _ := installer.ByName(plan, layout.PartEFI)
		db, err := j.diskBoot(ctx, boot, out)
		if err != nil {
			return err
		}
		defer db.remove()
		fat, err := bootloader.NewFAT(ctx, filepath.Join(out, "efi.img"), bootloader.FATOptions{
			Size: efiPart.Size, Label: "EFI", Hidden: efiPart.Start / 512, Epoch: j.epoch})
		if err != nil {
			return err
		}
		defer os.Remove(fat.Path)
		// In a fixed order: FAT places files in the order they come.
		for _, f := range installer.EFIFiles(db.files(j.kernel.Vmlinuz, j.initrd, db.marker, j.marker())) {
			if err := fat.Copy(ctx, f.Src, f.Dst); err != nil {
				return err
			}
		}
		if err := fat.CopyData(ctx, installer.InitialGrubEnv(), layout.GrubEnvPath); err != nil {
			return err
		}
		if _, err := installer.WriteImage(file, l, installer.Content{
			BootImg: db.bootImg,
			CoreImg: db.core,
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

// ukiStub is systemd-stub in the boot set (Debian's systemd-boot-efi).
const ukiStub = "usr/lib/systemd/boot/efi/linuxx64.efi.stub"

// writeUKI writes the slots' unified kernel image to dst, signed: the
// stub with the build's kernel, initrd and command line (the root's
// berth.verity and the spec's cmdline). It names no slot and no disk:
// stage 1 takes those from what the stub records of where it was loaded
// (LoaderImageIdentifier, LoaderDevicePartUUID), so one image serves
// both slots of every disk.
func (j *job) writeUKI(boot, dst string) error {
	stub, err := os.ReadFile(filepath.Join(boot, ukiStub))
	if err != nil {
		return fmt.Errorf("UKI: %w", err)
	}
	kernel, err := os.ReadFile(j.kernel.Vmlinuz)
	if err != nil {
		return fmt.Errorf("UKI: %w", err)
	}
	initrd, err := os.ReadFile(j.initrd)
	if err != nil {
		return fmt.Errorf("UKI: %w", err)
	}
	osrel := fmt.Sprintf("NAME=Berth\nID=berth\nVERSION_ID=%s\nPRETTY_NAME=\"Berth %s (%s)\"\n", j.spec.Version, j.spec.Version, j.spec.Name)
	img, err := secureboot.UKI(stub, []secureboot.Section{
		{Name: ".osrel", Data: []byte(osrel)},
		{Name: ".cmdline", Data: []byte(j.cmdline())},
		{Name: ".initrd", Data: initrd},
		{Name: ".linux", Data: kernel},
	})
	if err != nil {
		return err
	}
	if img, err = secureboot.Sign(img, j.sbKey.Signer, j.sbKey.Cert); err != nil {
		return fmt.Errorf("UKI: %w", err)
	}
	return writeFile(dst, img)
}

// shimImage is shim in the boot set (Debian's shim-unsigned).
const shimImage = "usr/lib/shim/shimx64.efi"

// grubSBAT is the SBAT data of the disk's GRUB, which shim checks against
// its revocations: the same as Debian's signed GRUB of the same source
// version (grub-efi-amd64-bin in images/packages.lock; TestGrubSBAT
// holds them together), whose security fixes it has.
const grubSBAT = `sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md
grub,5,Free Software Foundation,grub,2.06,https://www.gnu.org/software/grub/
grub.debian,5,Debian,grub2,2.06-13+deb12u2,https://tracker.debian.org/pkg/grub2
grub.debian12,1,Debian,grub2,2.06-13+deb12u2,https://tracker.debian.org/pkg/grub2
grub.berth,1,Berth,grub2,2.06-13+deb12u2,https://github.com/berth-os/berth
`

// writeShim writes shim to dst, trusting only the firmware's db (and the
// MOK list), signed: the first EFI image a disk boots, which starts GRUB.
func (j *job) writeShim(boot, dst string) error {
	img, err := os.ReadFile(filepath.Join(boot, shimImage))
	if err != nil {
		return fmt.Errorf("shim: %w", err)
	}
	if img, err = secureboot.WithoutVendorCert(img); err != nil {
		return err
	}
	if img, err = secureboot.Sign(img, j.sbKey.Signer, j.sbKey.Cert); err != nil {
		return fmt.Errorf("shim: %w", err)
	}
	return writeFile(dst, img)
}

// signEFI signs the EFI image at path in place with the build's Secure
// Boot key.
func (j *job) signEFI(path string) error {
	img, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if img, err = secureboot.Sign(img, j.sbKey.Signer, j.sbKey.Cert); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return writeFile(path, img)
}

// diskBootFiles are the files that make a disk boot, besides the kernel,
// initrd and root: GRUB for UEFI and for BIOS (with the disk's prefix),
// GRUB's MBR code, the disk's grub.cfg and the build's marker.
type diskBootFiles struct {
	shim, efi, uki, core, bootImg, grubCfg, bootCfg, version, marker string
}

// diskBoot writes the disk's boot files into out (the raw disk's, and the
// ISO's install kit).
func (j *job) diskBoot(ctx context.Context, boot, out string) (diskBootFiles, error) {
	db := diskBootFiles{
		shim: filepath.Join(out, "disk-shimx64.efi"), efi: filepath.Join(out, "disk-grubx64.efi"), uki: filepath.Join(out, "disk-berth.efi"), core: filepath.Join(out, "disk-core.img"),
		bootImg: filepath.Join(boot, "usr/lib/grub/i386-pc/boot.img"),
		grubCfg: filepath.Join(out, "disk-grub.cfg"), bootCfg: filepath.Join(out, "disk-boot.cfg"),
		version: filepath.Join(out, "disk-version"), marker: filepath.Join(out, "disk-marker"),
	}
	bootCfg, err := installer.SlotBootCfg(j.cmdline())
	if err != nil {
		return db, err
	}
	for _, g := range []bootloader.GrubImage{
		{Format: "x86_64-efi", Out: db.efi, Chainload: true, SBAT: grubSBAT},
		{Format: "i386-pc", Out: db.core},
	} {
		g.ModDir, g.Prefix = filepath.Join(boot, "usr/lib/grub", g.Format), rawGrubPrefix
		if err := bootloader.Grub(ctx, g); err != nil {
			db.remove()
			return db, err
		}
	}
	if err := j.signEFI(db.efi); err != nil {
		db.remove()
		return db, err
	}
	if err := j.writeShim(boot, db.shim); err != nil {
		db.remove()
		return db, err
	}
	if err := j.writeUKI(boot, db.uki); err != nil {
		db.remove()
		return db, err
	}
	for _, f := range [][2]string{{db.grubCfg, j.rawMenu().GrubConfig()}, {db.bootCfg, string(bootCfg)}, {db.version, j.spec.Version + "\n"}, {db.marker, j.buildID + "\n"}} {
		if err := writeFile(f[0], []byte(f[1])); err != nil {
			db.remove()
			return db, err
		}
	}
	return db, nil
}

// files are the disk's boot files with this kernel, initrd and marker.
func (db diskBootFiles) files(kernel, initrd, marker, markerDst string) installer.BootFiles {
	return installer.BootFiles{Shim: db.shim, GrubEFI: db.efi, UKI: db.uki, Kernel: kernel, Initrd: initrd, BootCfg: db.bootCfg, Version: db.version, GrubCfg: db.grubCfg,
		BootImg: db.bootImg, CoreImg: db.core, Marker: marker, MarkerDst: markerDst}
}

func (db diskBootFiles) remove() {
	for _, p := range []string{db.shim, db.efi, db.uki, db.core, db.grubCfg, db.bootCfg, db.version, db.marker} {
		os.Remove(p)
	}
}
