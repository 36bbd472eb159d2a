package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/cloud-config/apply"
	"github.com/berth-os/berth/installer"
)

// growWanted says whether the configuration lets the state partition grow:
// it does unless growpart.mode is off or resize_rootfs is false, as with
// cloud-init, whose default is to grow.
func growWanted(cfg cloudconfig.Config) bool {
	if cfg.ResizeRootfs != nil && !*cfg.ResizeRootfs {
		return false
	}
	if g := cfg.Growpart; g != nil && (g.Mode == "off" || g.Mode == "false") {
		return false
	}
	return true
}

// growState grows the state partition to the end of its disk and its
// filesystem with it, online. A disk image written to a bigger disk gets
// the room on its first boot.
func (h *host) growState(ctx context.Context, cfg cloudconfig.Config) error {
	if !h.state.Persistent || !growWanted(cfg) {
		return nil
	}
	r, err := installer.GrowPartition("/sys", "/dev", h.state.Dev)
	if err != nil {
		return fmt.Errorf("growpart: %w", err)
	}
	if !r.Grown {
		return nil
	}
	h.logf("growpart: %s grew from %d MiB to %d MiB", h.state.Dev, r.OldSize>>20, r.NewSize>>20)
	cmd := exec.CommandContext(ctx, "/usr/sbin/resize2fs", h.state.Dev)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin"}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := h.reaper.RunCmd(cmd); err != nil {
		return fmt.Errorf("growpart: resize2fs %s: %w", h.state.Dev, err)
	}
	var st unix.Statfs_t
	if unix.Statfs("/var", &st) == nil {
		h.logf("growpart: /var is now %d MiB", int64(st.Blocks)*st.Bsize>>20)
	}
	return nil
}

// swap makes and turns on the swap file that swap: asks for.
func (h *host) swap(cfg cloudconfig.Config) error {
	if cfg.Swap == nil {
		return nil
	}
	if !h.state.Persistent {
		return fmt.Errorf("swap: no state partition to keep a swap file on")
	}
	var si unix.Sysinfo_t
	var st unix.Statfs_t
	if err := unix.Sysinfo(&si); err != nil {
		return fmt.Errorf("swap: %w", err)
	}
	if err := unix.Statfs("/var", &st); err != nil {
		return fmt.Errorf("swap: %w", err)
	}
	name := cfg.Swap.Filename
	if name == "" {
		name = apply.DefaultSwapFile
	}
	free := int64(st.Bavail) * st.Bsize
	if fi, err := os.Stat(name); err == nil {
		free += fi.Size() // an existing file's room counts
	}
	size := apply.SwapSize(cfg.Swap, int64(si.Totalram)*int64(si.Unit), free)
	return h.applier().Swap(cfg.Swap, size)
}
