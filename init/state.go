package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/berth-os/berth/init/cmdline"
	"github.com/berth-os/berth/installer"
	"github.com/berth-os/berth/internal/blockdev"
	"github.com/berth-os/berth/internal/layout"
	"golang.org/x/sys/unix"
)

// stateFlags are berth.state.* from the kernel command line: the state
// partition is mounted before any other configuration is read.
type stateFlags struct {
	dev        string        // a blockdev spec
	autoformat bool          // format the device when it is blank
	wait       time.Duration // how long to wait for the device to appear
}

// defaultStateDev is the state partition of a Berth disk.
const defaultStateDev = "PARTLABEL=" + layout.PartState

func stateFlagsOf(f cmdline.Flags) stateFlags {
	sf := stateFlags{dev: defaultStateDev, autoformat: true}
	if v := f.Get("berth.state.dev"); v != "" {
		sf.dev = v
	}
	if v, err := strconv.ParseBool(f.Get("berth.state.autoformat")); err == nil {
		sf.autoformat = v
	}
	if v, err := strconv.ParseBool(f.Get("berth.state.wait")); err == nil && v {
		sf.wait = 30 * time.Second
	}
	return sf
}

// stateInfo says where /var lives.
type stateInfo struct {
	Dev        string
	FSType     string
	Persistent bool
	Formatted  bool
}

// readBoot reads stage 1's record of this boot. Without one (PID 1 started
// some other way) no disk is preferred; a broken one is reported.
func (h *host) readBoot() layout.Boot {
	b, err := layout.ReadBoot(layout.BootPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		h.alertf("boot record: %v", err)
	}
	return b
}

// findState waits up to sf.wait for the device sf.dev names. The default,
// BERTH_STATE, is taken only from the boot disk when the root came from a
// disk: another disk's (a USB stick's, a copy's) never takes over. A
// partition name given on the command line prefers the boot disk. ok is
// false when there is none.
func findState(sysfs, dev string, sf stateFlags, boot layout.Boot) (d blockdev.Device, ok bool, err error) {
	spec, err := blockdev.ParseSpec(sf.dev)
	if err != nil {
		return d, false, fmt.Errorf("berth.state.dev: %w", err)
	}
	onlyBootDisk := sf.dev == defaultStateDev && boot.Medium == layout.MediumDisk && boot.Disk != ""
	for deadline := time.Now().Add(sf.wait); ; time.Sleep(250 * time.Millisecond) {
		devs, err := blockdev.List(sysfs, dev)
		if err != nil {
			return d, false, err
		}
		if onlyBootDisk {
			d, ok = blockdev.OnDisk(devs, layout.PartState, boot.Disk)
		} else {
			d, ok = blockdev.Find(devs, spec, boot.Disk)
		}
		if ok || !time.Now().Before(deadline) {
			return d, ok, nil
		}
	}
}

// setupState finds BERTH_STATE (preferring the boot disk), formats it when
// it holds no filesystem at all, and mounts it on /var. Anything else (no
// partition, a foreign filesystem, a failed mount) gives a tmpfs /var and an
// error saying why; a partition with data on it is never formatted.
func setupState(h *host) (stateInfo, error) {
	tmpfs := func(err error) (stateInfo, error) {
		if merr := unix.Mount("tmpfs", "/var", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); merr != nil {
			return stateInfo{}, errors.Join(err, fmt.Errorf("mount tmpfs on /var: %w", merr))
		}
		return stateInfo{FSType: "tmpfs"}, err
	}
	sf := stateFlagsOf(h.flags)
	began := time.Now()
	d, ok, err := findState("/sys", "/dev", sf, h.stage1)
	h.debugf("state: looked for %s in %.3fs", sf.dev, time.Since(began).Seconds())
	switch {
	case err != nil:
		return tmpfs(err)
	case !ok && sf.dev != defaultStateDev:
		return tmpfs(fmt.Errorf("berth.state.dev=%s: %w", sf.dev, blockdev.ErrNoDevice))
	case !ok:
		return tmpfs(nil)
	}
	st := stateInfo{Dev: d.Dev}
	fstype, err := blockdev.ProbeFile(d.Dev)
	switch {
	case errors.Is(err, blockdev.ErrNoFilesystem) && !sf.autoformat:
		return tmpfs(fmt.Errorf("%s is blank and berth.state.autoformat=false: not formatting it", d.Dev))
	case errors.Is(err, blockdev.ErrNoFilesystem):
		h.logf("state: %s is blank; formatting it ext4", d.Dev)
		cmd := installer.StateMkfs(mke2fs, mkfsEnv, d.Dev)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		began := time.Now()
		if err := h.reaper.RunCmd(cmd); err != nil {
			return tmpfs(fmt.Errorf("format %s: %w", d.Dev, err))
		}
		h.debugf("state: mke2fs %s in %.3fs", d.Dev, time.Since(began).Seconds())
		st.Formatted, fstype = true, "ext4"
	case err != nil:
		return tmpfs(fmt.Errorf("probe %s: %w", d.Dev, err))
	case fstype != "ext4":
		return tmpfs(fmt.Errorf("%s (%s) holds %s, not ext4; leaving it alone", d.Dev, sf.dev, fstype))
	}
	st.FSType = fstype
	began = time.Now()
	defer func() { h.debugf("state: mounted %s in %.3fs", d.Dev, time.Since(began).Seconds()) }()
	if err := unix.Mount(d.Dev, "/var", "ext4", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_RELATIME, ""); err != nil {
		// A dirty filesystem: repair what e2fsck can repair safely, then retry.
		fsck := exec.Command("/usr/sbin/e2fsck", "-p", d.Dev)
		fsck.Stdout, fsck.Stderr = os.Stderr, os.Stderr
		if ferr := h.reaper.RunCmd(fsck); ferr != nil {
			h.logf("state: %v", ferr)
		}
		if err2 := unix.Mount(d.Dev, "/var", "ext4", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_RELATIME, ""); err2 != nil {
			return tmpfs(fmt.Errorf("mount %s on /var: %w", d.Dev, err2))
		}
	}
	st.Persistent = true
	return st, nil
}

// stateDirs are the folders that live on the state partition.
var stateDirs = []struct {
	path string
	mode os.FileMode
}{
	{"/var/lib/berth", 0o755}, {layout.ContainerdDir, 0o711}, {layout.SystemContainerdRoot, 0o700}, {layout.UserContainerdRoot, 0o700}, {"/var/log", 0o755},
	{"/var/home", 0o755}, {"/var/root", 0o700}, {"/var/opt", 0o755}, {"/var/tmp", 0o1777}, {"/var/cache", 0o755},
}

// layoutState makes the folders that live on the state partition and binds
// /home, /root and /opt to them.
func layoutState() error {
	var errs []error
	for _, d := range stateDirs {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return fmt.Errorf("state layout: %w", err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			errs = append(errs, fmt.Errorf("state layout: %w", err))
		}
	}
	for _, l := range [][2]string{{"../run", "/var/run"}, {"../run/lock", "/var/lock"}} {
		if err := os.Symlink(l[0], l[1]); err != nil && !errors.Is(err, fs.ErrExist) {
			errs = append(errs, fmt.Errorf("state layout: %w", err))
		}
	}
	for _, b := range [][2]string{{"/var/home", "/home"}, {"/var/root", "/root"}, {"/var/opt", "/opt"}} {
		if err := unix.Mount(b[0], b[1], "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", b[0], b[1], err)
		}
	}
	return errors.Join(errs...)
}
