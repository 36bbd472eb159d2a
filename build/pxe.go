package build

import (
	"context"
	"os"
	"path/filepath"
	"strconv"

	"github.com/berth-os/berth/build/bootloader"
	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/internal/layout"
)

// pxeMenu is the iPXE script's menu: the kernel and initrd beside it, and
// the root squashfs beside it too, which stage 1 downloads and checks
// against rootSHA256 before it mounts it.
func (j *job) pxeMenu(rootSHA256 string) bootloader.Menu {
	base := bootloader.IPXEBase
	cmdline := layout.FlagRoot + "=" + base + filepath.Base(j.rootfs) + " " + layout.FlagRootSHA256 + "=" + rootSHA256 + " " + j.cmdline()
	return bootloader.Menu{Timeout: 1,
		Entries: bootloader.NewMenu(base+filepath.Base(j.kernel.Vmlinuz), base+filepath.Base(j.initrd), cmdline, "", "", j.spec.DebugEntries)}
}

// writePXE writes the network boot's iPXE script. The pxe output brings
// the kernel, initrd and squashfs outputs with it: the script boots them
// from the folder it is served from.
func writePXE(_ context.Context, j *job) ([]string, error) {
	sum, err := cachedSHA(j.rootfs)
	if err != nil {
		return nil, err
	}
	m := media{Stage: "pxe", Version: 1, Title: "pxe (iPXE script)", File: "boot.ipxe"}
	k := cache.NewKey(m.Stage, m.Version).String("rootfs", sum).String("cmdline", j.spec.Cmdline).
		String("kernel", filepath.Base(j.kernel.Vmlinuz)).String("initrd", filepath.Base(j.initrd)).
		String("debug_entries", strconv.FormatBool(j.spec.DebugEntries))
	p, err := j.makeMedia(m, k, func(_, file string) error {
		return os.WriteFile(file, []byte(j.pxeMenu(sum).IPXEScript()), 0o644)
	})
	if err != nil {
		return nil, err
	}
	return []string{p}, nil
}
