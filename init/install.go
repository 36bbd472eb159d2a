package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/cloud-config/datasource"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/installer"
	"github.com/berth-os/berth/internal/blockdev"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/verity"
)

// The host installs itself onto a disk (hostctl install).
var _ api.InstallHost = (*host)(nil)

// The host's mkfs tools, and their environment.
const (
	mke2fs  = "/usr/sbin/mke2fs"
	mkfsFat = "/usr/sbin/mkfs.fat"
)

var mkfsEnv = []string{"MKE2FS_CONFIG=" + layout.EtcTemplate + "/mke2fs.conf", "PATH=/usr/sbin:/usr/bin"}

// Install writes the running system onto req.Device with the installer:
// the kit (boot files and root) comes from the boot medium. The
// cloud-config is validated before anything is written.
func (h *host) Install(ctx context.Context, req api.InstallRequest, progress io.Writer) (api.InstallResult, error) {
	if !h.installing.TryLock() {
		return api.InstallResult{}, errors.New("install: another install is running")
	}
	defer h.installing.Unlock()
	var ud []byte
	if req.CloudConfig != "" {
		if _, err := cloudconfig.Parse("install cloud-config", []byte(req.CloudConfig)); err != nil {
			return api.InstallResult{}, api.BadRequest(fmt.Errorf("install: the cloud-config is not valid, nothing was written:\n%w", err))
		}
		ud = []byte(req.CloudConfig)
	}
	if err := installer.CheckAppend(req.Append); err != nil {
		return api.InstallResult{}, api.BadRequest(fmt.Errorf("install: %w", err))
	}
	dev, err := installTarget("/dev", req.Device)
	if err != nil {
		return api.InstallResult{}, api.BadRequest(fmt.Errorf("install: %w", err))
	}
	if h.stage1.Disk != "" && filepath.Base(dev) == h.stage1.Disk {
		return api.InstallResult{}, api.BadRequest(fmt.Errorf("install: %s is the disk this host booted from", dev))
	}
	kit, done, err := h.installKit()
	if err != nil {
		return api.InstallResult{}, fmt.Errorf("install: %w", err)
	}
	defer done()
	o := installer.Options{
		Device: dev, Sysfs: "/sys",
		UserData: ud, UserDataPath: datasource.StateUserData,
		Append: req.Append, Wipe: req.Wipe, DryRun: req.DryRun,
		Run: h.reaper.RunCmd, MkfsFat: mkfsFat, Mke2fs: mke2fs, MkfsEnv: mkfsEnv,
		MountDir: filepath.Join(layout.RunDir, "install"),
		Progress: progress,
	}
	if !req.DryRun {
		h.logf("install: writing %s (wipe %v)", dev, req.Wipe)
	}
	plan, err := installer.Install(ctx, kit, o)
	if errors.Is(err, installer.ErrNotBlank) {
		err = api.BadRequest(err)
	}
	if err != nil {
		if !req.DryRun {
			h.logf("install: %v", err)
		}
		return api.InstallResult{}, err
	}
	if !req.DryRun {
		h.logf("install: %s is installed", dev)
	}
	return api.InstallResult{Plan: plan.String(), Written: !req.DryRun}, nil
}

// installTarget resolves the device an install names (a /dev path, or a
// link to one such as /dev/disk/by-id/...) to a node directly in devDir.
func installTarget(devDir, name string) (string, error) {
	if !strings.HasPrefix(name, "/") {
		name = filepath.Join(devDir, name)
	}
	real, err := filepath.EvalSymlinks(name)
	if err != nil {
		return "", fmt.Errorf("device %s: %w", name, err)
	}
	if filepath.Dir(real) != filepath.Clean(devDir) {
		return "", fmt.Errorf("device %s: not a disk under %s", name, devDir)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", err
	}
	if st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
		return "", fmt.Errorf("device %s: not a block device", name)
	}
	return real, nil
}

// installKit is what an install copies, from the medium this host
// booted: the ISO's kit, or the boot disk's EFI partition (mounted
// read-only until done) and running root slot.
func (h *host) installKit() (installer.Kit, func(), error) {
	nothing := func() {}
	switch h.stage1.Medium {
	case layout.MediumISO:
		k, err := installer.ReadKit(layout.Media)
		return k, nothing, err
	case layout.MediumDisk:
		return diskKit("/sys", "/dev", filepath.Join(layout.RunDir, "install-source"), h.stage1)
	}
	return installer.Kit{}, nothing, fmt.Errorf("this host booted from %s; an install copies the system from the ISO or a Berth disk", h.stage1.Medium)
}

// diskKit is the kit of a host booted from disk b.Disk: its EFI partition,
// mounted read-only on dir, and the verified part of its root slot.
func diskKit(sysfs, dev, dir string, b layout.Boot) (installer.Kit, func(), error) {
	nothing := func() {}
	if b.Verity == "" {
		return installer.Kit{}, nothing, errors.New("the running root is not verified (no berth.verity): an install copies a verified root")
	}
	vp, err := verity.Parse(b.Verity)
	if err != nil {
		return installer.Kit{}, nothing, err
	}
	rootSize := int64(vp.DataBlocks+verity.TreeBlocks(vp.DataBlocks)) * verity.BlockSize
	devs, err := blockdev.List(sysfs, dev)
	if err != nil {
		return installer.Kit{}, nothing, err
	}
	efi, ok := blockdev.OnDisk(devs, layout.PartEFI, b.Disk)
	if !ok {
		return installer.Kit{}, nothing, fmt.Errorf("the boot disk %s has no %s partition", b.Disk, layout.PartEFI)
	}
	efiSize, err := partSize(sysfs, efi.Name)
	if err != nil {
		return installer.Kit{}, nothing, err
	}
	slotSize, err := partSize(sysfs, filepath.Base(b.Root))
	if err != nil {
		return installer.Kit{}, nothing, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return installer.Kit{}, nothing, err
	}
	if err := unix.Mount(efi.Dev, dir, "vfat", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return installer.Kit{}, nothing, fmt.Errorf("mount %s: %w", efi.Dev, err)
	}
	done := func() { unix.Unmount(dir, 0) }
	k, err := installer.DiskKit(dir, b.Slot, b.Root, rootSize, efiSize, slotSize)
	if err != nil {
		done()
		return installer.Kit{}, nothing, err
	}
	return k, done, nil
}

// partSize is a block device's size in bytes, from sysfs.
func partSize(sysfs, name string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(sysfs, "class/block", name, "size"))
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", name, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", name, err)
	}
	return n * 512, nil
}

// installUnattended runs berth.install on a host booted from the ISO: the
// new disk gets the user-data this boot used, and then the host powers
// off, reboots or stays up (berth.install.then). It says whether the host
// is going down. A host booted from a disk never installs: the same
// user-data is on the disk it installed.
func (h *host) installUnattended(ctx context.Context, in cloudconfig.Install) bool {
	if in.Device == "" {
		return false
	}
	if h.stage1.Medium != layout.MediumISO {
		h.logf("install: berth.install ignored: this host booted from %s, not the ISO", h.stage1.Medium)
		return false
	}
	var ud string
	if h.cfg.ds != nil {
		ud = string(h.cfg.ds.UserData)
	}
	h.alertf("install: berth.install: installing onto %s", in.Device)
	progress := io.MultiWriter(h.cons, h.initLog)
	if _, err := h.Install(ctx, api.InstallRequest{Device: in.Device, CloudConfig: ud, Append: in.Append, Wipe: in.Wipe}, progress); err != nil {
		h.alertf("install: berth.install failed: %v", err)
		return false
	}
	switch in.Then {
	case "", "poweroff":
		h.alertf("install: done; powering off (berth.install.then)")
		h.Shutdown(false)
	case "reboot":
		h.alertf("install: done; rebooting (berth.install.then)")
		h.Shutdown(true)
	default:
		h.alertf("install: done")
		return false
	}
	return true
}
