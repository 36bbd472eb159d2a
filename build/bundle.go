package build

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"time"

	"github.com/berth-os/berth/internal/osbundle"
)

// writeBundle makes the upgrade bundle (package bundle): the slot's root
// with its hash tree, kernel, initrd and boot.cfg, and the disk's boot
// loader, as berth.raw has them, signed with the spec's key. hostctl os
// upgrade writes it into a disk's other slot.
func writeBundle(ctx context.Context, j *job) ([]string, error) {
	boot, err := j.boot(ctx)
	if err != nil {
		return nil, err
	}
	m := media{Stage: "bundle", Version: 3, Title: "upgrade bundle (signed)", File: "berth.bundle"}
	key := j.mediaKey(m, boot).String("grub.cfg", j.rawMenu().GrubConfig()).String("boot.cfg", j.cmdline()).
		String("version", j.spec.Version).String("key", osbundle.KeyID(j.signKey.Public().(ed25519.PublicKey)))
	file, err := j.makeMedia(m, key, func(out, file string) error {
		db, err := j.diskBoot(ctx, boot, out)
		if err != nil {
			return err
		}
		defer db.remove()
		var srcs []osbundle.Source
		for _, s := range [][2]string{
			{osbundle.Root, j.rootfs}, {osbundle.Kernel, j.kernel.Vmlinuz}, {osbundle.Initrd, j.initrd}, {osbundle.UKI, db.uki}, {osbundle.BootCfg, db.bootCfg},
			{osbundle.Shim, db.shim}, {osbundle.GrubEFI, db.efi}, {osbundle.GrubCfg, db.grubCfg}, {osbundle.CoreImg, db.core}, {osbundle.BootImg, db.bootImg},
		} {
			src := osbundle.Source{Name: s[0], Path: s[1]}
			if s[1] == j.rootfs || s[1] == j.kernel.Vmlinuz || s[1] == j.initrd {
				if src.SHA256, err = cachedSHA(s[1]); err != nil {
					return err
				}
			}
			srcs = append(srcs, src)
		}
		f, err := os.Create(file)
		if err != nil {
			return err
		}
		man := osbundle.Manifest{Name: j.spec.Name, Version: j.spec.Version, Arch: "x86_64", Build: j.buildID}
		err = osbundle.Write(f, man, srcs, j.signKey, time.Unix(j.epoch, 0).UTC())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("upgrade bundle: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []string{file}, nil
}
