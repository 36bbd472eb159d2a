package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/berth-os/berth/init/cmdline"
	"github.com/berth-os/berth/init/mounts"
	"golang.org/x/sys/unix"
)

// StatePartName is the GPT name of the state partition.
const StatePartName = "BERTH_STATE"

// stateFlags are berth.state.* from the kernel command line: the state
// partition is mounted before any other configuration is read.
type stateFlags struct {
	dev        string        // a mounts.Find spec
	autoformat bool          // format the device when it is blank
	wait       time.Duration // how long to wait for the device to appear
}

func stateFlagsOf(f cmdline.Flags) stateFlags {
	sf := stateFlags{dev: "PARTLABEL=" + StatePartName, autoformat: true}
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

// bootInfo is what stage 1 leaves in /run/berth/boot.json.
type bootInfo struct {
	Medium string `json:"medium"` // disk or iso
	Root   string `json:"root"`   // device the root squashfs came from
	Disk   string `json:"disk"`   // its whole disk, e.g. vda
	Slot   string `json:"slot"`
}

// stateInfo says where /var lives.
type stateInfo struct {
	Dev        string
	FSType     string
	Persistent bool
	Formatted  bool
}

// setupState finds BERTH_STATE (preferring the boot disk), formats it when
// it holds no filesystem at all, and mounts it on /var. Anything else (no
// partition, a foreign filesystem, a failed mount) gives a tmpfs /var and an
// error saying why; a partition with data on it is never formatted.
func setupState(h *host) (stateInfo, error) {
	var bi bootInfo
	if b, err := os.ReadFile("/run/berth/boot.json"); err == nil {
		json.Unmarshal(b, &bi)
	}
	tmpfs := func(err error) (stateInfo, error) {
		if merr := unix.Mount("tmpfs", "/var", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); merr != nil {
			return stateInfo{}, errors.Join(err, fmt.Errorf("mount tmpfs on /var: %w", merr))
		}
		return stateInfo{FSType: "tmpfs"}, err
	}
	sf := stateFlagsOf(h.flags)
	var d mounts.BlockDevice
	for deadline := time.Now().Add(sf.wait); ; time.Sleep(250 * time.Millisecond) {
		devs, err := mounts.BlockDevices("/sys", "/dev")
		if err != nil {
			return tmpfs(fmt.Errorf("list block devices: %w", err))
		}
		var ok bool
		if d, ok = mounts.Find(devs, sf.dev, bi.Disk); ok {
			break
		}
		if time.Now().After(deadline) {
			if sf.dev != "PARTLABEL="+StatePartName {
				return tmpfs(fmt.Errorf("berth.state.dev=%s: no such device", sf.dev))
			}
			return tmpfs(nil)
		}
	}
	st := stateInfo{Dev: d.Dev}
	fstype, err := mounts.ProbeFile(d.Dev)
	switch {
	case errors.Is(err, mounts.ErrNoFilesystem) && !sf.autoformat:
		return tmpfs(fmt.Errorf("%s is blank and berth.state.autoformat=false: not formatting it", d.Dev))
	case errors.Is(err, mounts.ErrNoFilesystem):
		h.logf("state: %s is blank; formatting it ext4", d.Dev)
		cmd := exec.Command("/usr/sbin/mke2fs", "-q", "-F", "-t", "ext4", "-L", StatePartName,
			"-E", "lazy_itable_init=1,lazy_journal_init=1", d.Dev)
		cmd.Env = []string{"MKE2FS_CONFIG=/usr/share/berth/etc/mke2fs.conf", "PATH=/usr/sbin:/usr/bin"}
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := h.reaper.RunCmd(cmd); err != nil {
			return tmpfs(fmt.Errorf("format %s: %w", d.Dev, err))
		}
		st.Formatted, fstype = true, "ext4"
	case err != nil:
		return tmpfs(fmt.Errorf("probe %s: %w", d.Dev, err))
	case fstype != "ext4":
		return tmpfs(fmt.Errorf("%s (%s) holds %s, not ext4; leaving it alone", d.Dev, StatePartName, fstype))
	}
	st.FSType = fstype
	if err := unix.Mount(d.Dev, "/var", "ext4", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_RELATIME, ""); err != nil {
		// A dirty filesystem: repair what e2fsck can repair safely, then retry.
		fsck := exec.Command("/usr/sbin/e2fsck", "-p", d.Dev)
		fsck.Stdout, fsck.Stderr = os.Stderr, os.Stderr
		h.reaper.RunCmd(fsck)
		if err2 := unix.Mount(d.Dev, "/var", "ext4", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_RELATIME, ""); err2 != nil {
			return tmpfs(fmt.Errorf("mount %s on /var: %w", d.Dev, err2))
		}
	}
	st.Persistent = true
	return st, nil
}

// layoutState makes the folders that live on the state partition and binds
// /home, /root and /opt to them.
func layoutState() error {
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{
		{"/var/lib/berth", 0o755}, {"/var/lib/containerd", 0o711}, {"/var/log", 0o755},
		{"/var/home", 0o755}, {"/var/root", 0o700}, {"/var/opt", 0o755}, {"/var/tmp", 0o1777}, {"/var/cache", 0o755},
	} {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return err
		}
		os.Chmod(d.path, d.mode)
	}
	os.Symlink("../run", "/var/run")
	os.Symlink("../run/lock", "/var/lock")
	for _, b := range [][2]string{{"/var/home", "/home"}, {"/var/root", "/root"}, {"/var/opt", "/opt"}} {
		if err := unix.Mount(b[0], b[1], "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", b[0], b[1], err)
		}
	}
	return nil
}
