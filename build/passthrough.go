package build

import (
	"context"
	"os"
	"path/filepath"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/kernel"
)

// The kernel, the initrd and the root squashfs are artifacts as the
// stages made them.

func writeKernel(_ context.Context, j *job) ([]string, error)   { return []string{j.kernel.Vmlinuz}, nil }
func writeInitrd(_ context.Context, j *job) ([]string, error)   { return []string{j.initrd}, nil }
func writeSquashfs(_ context.Context, j *job) ([]string, error) { return []string{j.rootfs}, nil }

// writeVmlinux extracts the uncompressed kernel ELF from vmlinuz, for
// Xen PVH, Firecracker and QEMU's PVH loader, which boot it through its
// PVH entry note.
func writeVmlinux(_ context.Context, j *job) ([]string, error) {
	m := media{Stage: "vmlinux", Version: 1, Title: "vmlinux (PVH)", File: "vmlinux"}
	k := cache.NewKey(m.Stage, m.Version).String("vmlinuz", filepath.Base(filepath.Dir(j.kernel.Vmlinuz)))
	p, err := j.makeMedia(m, k, func(_, file string) error {
		bz, err := os.ReadFile(j.kernel.Vmlinuz)
		if err != nil {
			return err
		}
		elf, err := kernel.Vmlinux(bz)
		if err != nil {
			return err
		}
		return os.WriteFile(file, elf, 0o644)
	})
	if err != nil {
		return nil, err
	}
	return []string{p}, nil
}
