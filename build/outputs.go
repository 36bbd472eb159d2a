package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/berth-os/berth/build/bootloader"
	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/hosttool"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/installer"
	"github.com/berth-os/berth/internal/layout"
	"golang.org/x/sys/unix"
)

// writer makes one output format from the build's parts.
type writer struct {
	Output string
	// Write returns the files it made (in a cache stage).
	Write func(ctx context.Context, c *cache.Cache, rep progress.Reporter, p *parts) ([]string, error)
	// Name is the artifact name of a file it made.
	Name func(spec, file string) string
}

func fixedName(_, file string) string { return filepath.Base(file) }

func specName(ext string) func(string, string) string {
	return func(spec, _ string) string { return spec + "." + ext }
}

// writers is the table of output formats, in the order they are written.
var writers = []writer{
	{Output: "kernel", Name: fixedName, Write: func(_ context.Context, _ *cache.Cache, _ progress.Reporter, p *parts) ([]string, error) {
		return []string{p.kernel.Vmlinuz}, nil
	}},
	{Output: "initrd", Name: fixedName, Write: func(_ context.Context, _ *cache.Cache, _ progress.Reporter, p *parts) ([]string, error) {
		return []string{p.initrd}, nil
	}},
	{Output: "squashfs", Name: fixedName, Write: func(_ context.Context, _ *cache.Cache, _ progress.Reporter, p *parts) ([]string, error) {
		return []string{p.squashfs}, nil
	}},
	{Output: "iso", Name: specName("iso"), Write: writeISO},
	{Output: "raw", Name: specName("raw"), Write: writeRaw},
	{Output: "qcow2", Name: specName("qcow2"), Write: writeQcow2},
}

// partsKey hashes what every media output depends on.
func partsKey(stage string, version int, p *parts) *cache.Hasher {
	return cache.NewKey(stage, version).String("build", p.buildID).String("boot", filepath.Base(p.boot)).
		String("cmdline", p.spec.Cmdline).String("epoch", strconv.FormatInt(p.epoch, 10)).
		String("disk", fmt.Sprintf("%+v", p.spec.Disk))
}

func (p *parts) marker() string { return "/berth/" + p.buildID + ".id" }

func stageFile(c *cache.Cache, rep progress.Reporter, title, stage string, k *cache.Hasher, name string, build func(out, file string) error) (string, error) {
	key, err := k.Key()
	if err != nil {
		return "", err
	}
	dir, _, err := c.Reported(rep, title, 0, stage, key, "built", func(out string, _ progress.Task) error {
		file := filepath.Join(out, name)
		if err := build(out, file); err != nil {
			return err
		}
		_, err := cachedSHA(file)
		return err
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

// writeISO makes a hybrid ISO: isolinux for BIOS (from CD, or from a disk
// through the isohybrid MBR) and GRUB for UEFI (El Torito EFI image, and a
// GPT entry for it when written to a disk).
func writeISO(ctx context.Context, c *cache.Cache, rep progress.Reporter, p *parts) ([]string, error) {
	iso, err := stageFile(c, rep, "iso (hybrid, BIOS+UEFI)", "iso", partsKey("iso", 1, p), "image.iso", func(out, file string) error {
		tools, err := hosttool.Need("xorriso")
		if err != nil {
			return err
		}
		stg := filepath.Join(out, "staging")
		defer cache.RemoveAll(stg)
		menu := bootloader.Menu{Timeout: 1, Marker: p.marker(),
			Entries: bootloader.NewMenu("/boot/vmlinuz", "/boot/initrd.img", "berth.boot=iso "+p.spec.Cmdline, "", "")}
		files := map[string]string{
			"boot/vmlinuz":          p.kernel.Vmlinuz,
			"boot/initrd.img":       p.initrd,
			layout.ISORoot:          p.squashfs,
			"isolinux/isolinux.bin": filepath.Join(p.boot, "usr/lib/ISOLINUX/isolinux.bin"),
			"isolinux/ldlinux.c32":  filepath.Join(p.boot, "usr/lib/syslinux/modules/bios/ldlinux.c32"),
		}
		for dst, src := range files {
			if err := linkOrCopy(src, filepath.Join(stg, dst)); err != nil {
				return err
			}
		}
		data := map[string]string{
			"isolinux/isolinux.cfg": menu.SyslinuxConfig(),
			"boot/grub/grub.cfg":    menu.GrubConfig(),
			p.marker()[1:]:          p.buildID + "\n",
		}
		for dst, s := range data {
			if err := writeFile(filepath.Join(stg, dst), []byte(s)); err != nil {
				return err
			}
		}
		// The El Torito EFI image: a small FAT with GRUB.
		efi := filepath.Join(out, "bootx64.efi")
		if err := bootloader.GrubEFI(ctx, filepath.Join(p.boot, "usr/lib/grub/x86_64-efi"), p.marker(), efi); err != nil {
			return err
		}
		st, err := os.Stat(efi)
		if err != nil {
			return err
		}
		// GRUB and a quarter of slack, in whole MiB.
		size := (st.Size()*5/4 + 256<<10 + 1<<20 - 1) / (1 << 20) * (1 << 20)
		fat, err := bootloader.NewFAT(ctx, filepath.Join(stg, "boot/efiboot.img"), size, "BERTH_EFI", 0, p.epoch)
		if err != nil {
			return err
		}
		if err := fat.Copy(ctx, efi, "/EFI/BOOT/BOOTX64.EFI"); err != nil {
			return err
		}
		// ISO 9660 records each file's time: make them all the epoch.
		if err := setTimes(stg, p.epoch); err != nil {
			return err
		}
		epoch := strconv.FormatInt(p.epoch, 10)
		cmd := exec.CommandContext(ctx, tools["xorriso"], "-as", "mkisofs",
			"-o", file, "-V", layout.ISOLabel, "-J", "-joliet-long", "-r",
			"-isohybrid-mbr", filepath.Join(p.boot, "usr/lib/ISOLINUX/isohdpfx.bin"),
			"-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
			"-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
			"-eltorito-alt-boot", "-e", "boot/efiboot.img", "-no-emul-boot", "-isohybrid-gpt-basdat",
			stg)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+epoch)
		if o, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("xorriso: %w\n%s", err, o)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []string{iso}, nil
}

// writeRaw makes the GPT disk: EFI (GRUB for UEFI, syslinux for BIOS, the
// kernel and initrd of slot A), BERTH_A (the squashfs), BERTH_B, BERTH_STATE.
func writeRaw(ctx context.Context, c *cache.Cache, rep progress.Reporter, p *parts) ([]string, error) {
	raw, err := stageFile(c, rep, "raw disk (GPT, BIOS+UEFI)", "raw", partsKey("raw", 1, p), "disk.raw", func(out, file string) error {
		l := installer.Layout{Size: int64(p.spec.Disk.Size), EFISize: int64(p.spec.Disk.EFISize), SlotSize: int64(p.spec.Disk.SlotSize), Seed: p.buildID}
		plan, err := l.Plan()
		if err != nil {
			return err
		}
		efiPart := plan[0]
		entries := bootloader.NewMenu("/berth/a/vmlinuz", "/berth/a/initrd.img", "berth.slot=a "+p.spec.Cmdline, "", "")
		for _, e := range bootloader.NewMenu("/berth/b/vmlinuz", "/berth/b/initrd.img", "berth.slot=b "+p.spec.Cmdline, "slot-b-", " slot B") {
			e.IfExists = true
			entries = append(entries, e)
		}
		menu := bootloader.Menu{Timeout: 1, Marker: p.marker(), Entries: entries}
		efi := filepath.Join(out, "bootx64.efi")
		if err := bootloader.GrubEFI(ctx, filepath.Join(p.boot, "usr/lib/grub/x86_64-efi"), p.marker(), efi); err != nil {
			return err
		}
		fat, err := bootloader.NewFAT(ctx, filepath.Join(out, "efi.img"), efiPart.Size, "EFI", efiPart.Start/512, p.epoch)
		if err != nil {
			return err
		}
		defer os.Remove(fat.Path)
		for _, f := range [][2]string{
			{efi, "/EFI/BOOT/BOOTX64.EFI"},
			{p.kernel.Vmlinuz, "/berth/a/vmlinuz"},
			{p.initrd, "/berth/a/initrd.img"},
		} {
			if err := fat.Copy(ctx, f[0], f[1]); err != nil {
				return err
			}
		}
		// In a fixed order: FAT places files in the order they come.
		for _, f := range [][2]string{
			{"/boot/grub/grub.cfg", menu.GrubConfig()},
			{"/syslinux/syslinux.cfg", menu.SyslinuxConfig()},
			{p.marker(), p.buildID + "\n"},
		} {
			if err := fat.CopyData(ctx, []byte(f[1]), f[0]); err != nil {
				return err
			}
		}
		if err := fat.InstallSyslinux(ctx, filepath.Join(p.boot, "usr/bin/syslinux"), "/syslinux"); err != nil {
			return err
		}
		_, err = installer.WriteImage(file, l, installer.Content{
			BootCode: filepath.Join(p.boot, "usr/lib/syslinux/mbr/gptmbr.bin"),
			EFI:      fat.Path,
			RootA:    p.squashfs,
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return []string{raw}, nil
}

// writeQcow2 converts the raw disk with qemu-img.
func writeQcow2(ctx context.Context, c *cache.Cache, rep progress.Reporter, p *parts) ([]string, error) {
	raws, err := writeRaw(ctx, c, rep, p)
	if err != nil {
		return nil, err
	}
	q, err := stageFile(c, rep, "qcow2", "qcow2", partsKey("qcow2", 1, p).String("raw", filepath.Dir(raws[0])), "disk.qcow2", func(out, file string) error {
		tools, err := hosttool.Need("qemu-img")
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, tools["qemu-img"], "convert", "-q", "-f", "raw", "-O", "qcow2", "-c", "-o", "compat=1.1", raws[0], file)
		if o, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("qemu-img convert: %w\n%s", err, o)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []string{q}, nil
}

// setTimes sets the mtime and atime of everything under dir to epoch.
func setTimes(dir string, epoch int64) error {
	t := time.Unix(epoch, 0)
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		return os.Chtimes(p, t, t)
	})
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func linkOrCopy(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	os.Remove(dst)
	if os.Link(src, dst) == nil {
		return nil
	}
	return sparseCopy(src, dst)
}

// sparseCopy copies src to dst through a temp file, skipping holes, so a
// 2 GiB raw image with 100 MiB of data costs 100 MiB of writes.
func sparseCopy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := out.Truncate(st.Size()); err != nil {
		out.Close()
		return err
	}
	var off int64
	for off < st.Size() {
		data, err := unix.Seek(int(in.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			return err
		}
		hole, err := unix.Seek(int(in.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return err
		}
		if _, err := in.Seek(data, io.SeekStart); err != nil {
			return err
		}
		if _, err := out.Seek(data, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.CopyN(out, in, hole-data); err != nil {
			return err
		}
		off = hole
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
