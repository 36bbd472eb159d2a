package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/cloud-config/apply"
	"github.com/berth-os/berth/init/growpart"
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
	name := filepath.Base(h.state.Dev)
	sys := filepath.Join("/sys/class/block", name)
	part, err := readInt(filepath.Join(sys, "partition"))
	if err != nil {
		return fmt.Errorf("growpart: %s is not a partition: %w", h.state.Dev, err)
	}
	// The parent of the partition's sysfs folder is its disk.
	real, err := filepath.EvalSymlinks(sys)
	if err != nil {
		return fmt.Errorf("growpart: %w", err)
	}
	disk := filepath.Base(filepath.Dir(real))
	sector, err := readInt(filepath.Join("/sys/block", disk, "queue/logical_block_size"))
	if err != nil {
		return fmt.Errorf("growpart: sector size of %s: %w", disk, err)
	}
	f, err := os.OpenFile("/dev/"+disk, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("growpart: %w", err)
	}
	defer f.Close()
	r, err := growpart.Grow(f, sector, part)
	if err != nil {
		return fmt.Errorf("growpart: %s: %w", disk, err)
	}
	if !r.Grown {
		return nil
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("growpart: sync %s: %w", disk, err)
	}
	// The partition is in use: tell the kernel its new size alone
	// (re-reading the whole table is refused while mounted).
	if err := resizePartition(f, part, r.Start, r.NewSize); err != nil {
		return fmt.Errorf("growpart: tell the kernel %s%d grew: %w", disk, part, err)
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

// resizePartition is the BLKPG_RESIZE_PARTITION ioctl.
func resizePartition(disk *os.File, part int, start, length int64) error {
	p := unix.BlkpgPartition{Start: start, Length: length, Pno: int32(part)}
	arg := unix.BlkpgIoctlArg{Op: unix.BLKPG_RESIZE_PARTITION, Datalen: int32(unsafe.Sizeof(p)), Data: (*byte)(unsafe.Pointer(&p))}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, disk.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(&arg)))
	if errno != 0 {
		return errno
	}
	return nil
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
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

func (o *osHost) Swapon(path string) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall(unix.SYS_SWAPON, uintptr(unsafe.Pointer(p)), 0, 0)
	if errno == unix.EBUSY {
		return nil // on already
	}
	if errno != 0 {
		return errno
	}
	return nil
}
