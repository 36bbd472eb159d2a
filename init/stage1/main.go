// Command stage1 is /init in Berth's initramfs. It finds the root
// filesystem (the squashfs in GPT partition BERTH_A, or BERTH_B with
// berth.slot=b; or, with berth.boot=iso, /berth/rootfs.squashfs on the boot
// medium; or, with berth.root=URL, the squashfs it downloads and checks
// against berth.root.sha256), mounts it read-only, moves /dev, /proc, /sys and a fresh /run
// into it, frees the initramfs and executes the real PID 1 there. On any
// failure it drops to the static shell the initramfs carries, when the
// image spec says rescue: shell; otherwise it says why there is none.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/berth-os/berth/init/cmdline"
	"github.com/berth-os/berth/init/console"
	"github.com/berth-os/berth/init/mounts"
	"github.com/berth-os/berth/internal/blockdev"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/verity"
	"golang.org/x/sys/unix"
)

const (
	newRoot  = "/newroot"
	media    = "/media"
	sqfsPath = layout.ISORoot
	next     = "/sbin/init"
)

func main() {
	// Read first: the initramfs' files are gone once the new root is
	// mounted, and a failure after that still needs the answer.
	shell, why := rescueAllowed(layout.Stage1InfoPath)
	err := run()
	// run only returns on failure: exec replaced us otherwise.
	fmt.Fprintf(os.Stderr, "berth stage1: %v\n", err)
	if !shell {
		noRescue(why)
	}
	rescue()
}

// rescueAllowed says whether stage 1 may give its shell, and if not why
// and how to get one. The initramfs has no cloud-config, so no root
// password to ask for: only an image built with rescue: shell has a shell
// here.
func rescueAllowed(infoPath string) (bool, string) {
	info, err := layout.ReadStage1Info(infoPath)
	switch {
	case err != nil:
		return false, fmt.Sprintf("the initramfs does not say that it may give one (%v)", err)
	case info.Rescue == layout.RescueShell:
		return true, ""
	case info.Rescue == layout.RescueOff:
		return false, "this image was built with rescue: off in its image spec, which allows none"
	}
	return false, "the initramfs has no root password to ask for (cloud-config is read later, by PID 1), and this image allows no rescue shell without one; build the image with rescue: shell in its image spec for one"
}

// noRescue says why there is no shell, again whenever Enter is pressed,
// and waits for ever: PID 1 must not exit.
func noRescue(why string) {
	console.Explain(os.Stderr, "/dev/console", "berth stage1: rescue shell unavailable: "+why+"\n")
	for {
		time.Sleep(time.Hour)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "berth stage1: "+format+"\n", args...)
}

func run() error {
	for _, m := range []mounts.Mount{
		{Source: "proc", Target: "/proc", Type: "proc", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{Source: "sysfs", Target: "/sys", Type: "sysfs", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{Source: "devtmpfs", Target: "/dev", Type: "devtmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755"},
	} {
		os.MkdirAll(m.Target, 0o755)
		if err := unix.Mount(m.Source, m.Target, m.Type, m.Flags, m.Data); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s: %w", m, err)
		}
	}
	flags, err := cmdline.Read("/")
	if err != nil {
		return err
	}
	flags = withLoaderFlags(flags)
	os.MkdirAll(newRoot, 0o755)
	vp, err := verityOf(flags)
	if err != nil {
		return err
	}
	nr, isNet, err := netRootOf(flags)
	if err != nil {
		return err
	}
	if isNet {
		boot := layout.Boot{Medium: layout.MediumNet, Root: nr.URL, Slot: "a", Verity: verityValue(vp)}
		if err := mountNetRoot(nr, vp); err != nil {
			return err
		}
		logf("root %s (%s, %s)", boot.Root, boot.Medium, verifiedBy(vp))
		return switchRoot(boot)
	}
	boot, err := findRoot(flags, "/sys", "/dev", 30*time.Second)
	if err != nil {
		return err
	}
	boot.Verity = verityValue(vp)
	if boot.Medium == layout.MediumISO {
		err = mountISORoot(boot.Root, vp)
	} else {
		err = mountSquashfs(boot.Root, vp)
	}
	if err != nil {
		return err
	}
	logf("root %s (%s, slot %s, %s)", boot.Root, boot.Medium, boot.Slot, verifiedBy(vp))
	return switchRoot(boot)
}

// verityOf reads berth.verity. Without it the root is mounted unverified
// (a kernel booted by hand, or by a harness); a value it cannot read stops
// the boot, since mounting the root unverified instead would be silent.
func verityOf(flags cmdline.Flags) (*verity.Params, error) {
	v := flags.Get(verity.Flag)
	if v == "" {
		return nil, nil
	}
	p, err := verity.Parse(v)
	if err != nil {
		return nil, fmt.Errorf("%w: not mounting the root unverified", err)
	}
	return &p, nil
}

// verityValue is the boot record's Verity: "" when unverified.
func verityValue(vp *verity.Params) string {
	if vp == nil {
		return ""
	}
	return vp.String()
}

func verifiedBy(vp *verity.Params) string {
	if vp == nil {
		return "not verified: no " + verity.Flag
	}
	return fmt.Sprintf("verified by dm-verity, root hash %x", vp.Root)
}

// mountSquashfs mounts the root squashfs on dev at newRoot, through
// dm-verity when vp is not nil: a block that does not match its hash then
// fails the mount or the read with an I/O error, and the kernel logs which.
func mountSquashfs(dev string, vp *verity.Params) error {
	src := dev
	if vp != nil {
		d, err := verity.Open("/dev", "berth-root", dev, *vp)
		if err != nil {
			return err
		}
		src = d
	}
	if err := unix.Mount(src, newRoot, "squashfs", unix.MS_RDONLY, ""); err != nil {
		if vp != nil {
			return fmt.Errorf("mount %s (dm-verity over %s) on %s: %w: the root does not match its root hash %x (the kernel's verity lines say which block)", src, dev, newRoot, err, vp.Root)
		}
		return fmt.Errorf("mount %s on %s: %w", src, newRoot, err)
	}
	return nil
}

// findRoot finds the device of the root filesystem under sysfs and dev,
// waiting up to timeout for it to appear: the ISO 9660 medium with
// berth.boot=iso, else the GPT partition of the slot (berth.slot) on the
// disk the bootloader came from (berth.boot.part), never one of the same
// name on another disk. Without berth.boot.part (another bootloader), the
// first partition of that name.
func findRoot(flags cmdline.Flags, sysfs, dev string, timeout time.Duration) (layout.Boot, error) {
	slot, err := flags.Slot()
	if err != nil {
		logf("%v", err)
	}
	boot := layout.Boot{Slot: slot, Medium: layout.MediumDisk}
	part, bootPart := layout.SlotPart(slot), flags.Get(layout.FlagBootPart)
	find := func() (blockdev.Device, error) {
		devs, err := blockdev.List(sysfs, dev)
		if err != nil {
			return blockdev.Device{}, err
		}
		if bootPart == "" {
			if d, ok := blockdev.ByPartName(devs, part, ""); ok {
				return d, nil
			}
			return blockdev.Device{}, fmt.Errorf("no GPT partition named %s", part)
		}
		disk, err := blockdev.DiskWithPart(devs, bootPart)
		if err != nil {
			return blockdev.Device{}, fmt.Errorf("the boot disk (%s=%s): %w", layout.FlagBootPart, bootPart, err)
		}
		if d, ok := blockdev.OnDisk(devs, part, disk); ok {
			return d, nil
		}
		return blockdev.Device{}, fmt.Errorf("the boot disk %s has no GPT partition named %s", disk, part)
	}
	if flags.Get("berth.boot") == "iso" {
		boot.Medium = layout.MediumISO
		find = func() (blockdev.Device, error) { return findISO(sysfs, dev) }
	}
	d, err := waitFor(timeout, find)
	if err != nil {
		return boot, err
	}
	boot.Root, boot.Disk, boot.BootPart = d.Dev, d.Disk, bootPart
	return boot, nil
}

// waitFor polls find until it succeeds or timeout passes: block devices
// appear as their drivers probe.
func waitFor(timeout time.Duration, find func() (blockdev.Device, error)) (blockdev.Device, error) {
	deadline := time.Now().Add(timeout)
	for {
		d, err := find()
		if err == nil {
			return d, nil
		}
		if errors.Is(err, blockdev.ErrAmbiguous) {
			// Waiting adds disks; it never takes one away.
			return d, fmt.Errorf("%w: they are copies of one disk, and which one booted can't be told; detach all but one (a copy of a disk image gets GUIDs of its own at its first boot, so boot each copy alone once)", err)
		}
		if !time.Now().Before(deadline) {
			return d, fmt.Errorf("%w (waited %s)", err, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// findISO finds an ISO 9660 filesystem holding the root squashfs: a CD,
// or the ISO written to a disk or USB stick (then the whole disk).
func findISO(sysfs, dev string) (blockdev.Device, error) {
	devs, err := blockdev.List(sysfs, dev)
	if err != nil {
		return blockdev.Device{}, err
	}
	for _, d := range devs {
		f, err := os.Open(d.Dev)
		if err != nil {
			continue
		}
		label, err := blockdev.ISOLabel(f)
		f.Close()
		if err == nil && label == layout.ISOLabel {
			return d, nil
		}
	}
	return blockdev.Device{}, errors.New("no ISO 9660 volume labelled " + layout.ISOLabel)
}

// mountISORoot mounts the medium and the squashfs on it, through a loop device.
func mountISORoot(dev string, vp *verity.Params) error {
	os.MkdirAll(media, 0o755)
	if err := unix.Mount(dev, media, "iso9660", unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("mount %s on %s: %w", dev, media, err)
	}
	img, err := os.Open(filepath.Join(media, sqfsPath))
	if err != nil {
		return fmt.Errorf("boot medium %s: %w", dev, err)
	}
	defer img.Close()
	return mountLoop(img, vp)
}

// mountLoop mounts the squashfs in img on newRoot through a loop device.
func mountLoop(img *os.File, vp *verity.Params) error {
	loop, lf, err := attachLoop(img)
	if err != nil {
		return err
	}
	// The loop device clears itself when its last user goes (autoclear):
	// keep it open until the mount holds it.
	defer lf.Close()
	return mountSquashfs(loop, vp)
}

// attachLoop backs a free loop device with img; the caller closes the
// returned file once something else holds the device.
func attachLoop(img *os.File) (string, *os.File, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return "", nil, fmt.Errorf("loop: %w", err)
	}
	defer ctl.Close()
	n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
	if err != nil {
		return "", nil, fmt.Errorf("loop: get free device: %w", err)
	}
	path := fmt.Sprintf("/dev/loop%d", n)
	lf, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return "", nil, fmt.Errorf("loop: %w", err)
	}
	cfg := unix.LoopConfig{Fd: uint32(img.Fd())}
	cfg.Info.Flags = unix.LO_FLAGS_READ_ONLY | unix.LO_FLAGS_AUTOCLEAR
	copy(cfg.Info.File_name[:], sqfsPath)
	if err := unix.IoctlLoopConfigure(int(lf.Fd()), &cfg); err != nil {
		lf.Close()
		return "", nil, fmt.Errorf("loop: configure %s: %w", path, err)
	}
	return path, lf, nil
}

// switchRoot moves the API filesystems into the new root, frees the
// initramfs, makes the new root / and executes PID 1 there.
func switchRoot(boot layout.Boot) error {
	if _, err := os.Stat(filepath.Join(newRoot, next)); err != nil {
		return fmt.Errorf("new root has no %s: %w", next, err)
	}
	if msg, err := tuneReadahead("/sys", "/proc/meminfo", newRoot); err != nil {
		logf("%v (the boot goes on)", err)
	} else if msg != "" {
		logf("%s", msg)
	}
	if err := unix.Mount("tmpfs", filepath.Join(newRoot, "run"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mount /run: %w", err)
	}
	if err := layout.WriteBoot(filepath.Join(newRoot, layout.BootPath), boot); err != nil {
		return err
	}
	// The mount that holds the root's file stays, where PID 1 shows it.
	if from, to, ok := keptMount(boot.Medium); ok {
		target := filepath.Join(newRoot, to)
		os.MkdirAll(target, 0o755)
		if err := unix.Mount(from, target, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s: %w", from, err)
		}
	}
	for _, m := range []string{"/dev", "/proc", "/sys"} {
		if err := unix.Mount(m, filepath.Join(newRoot, m), "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s: %w", m, err)
		}
	}
	freeInitramfs()
	if err := os.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move new root onto /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	return syscall.Exec(next, []string{next}, os.Environ())
}

// keptMount is the mount of stage 1 that holds the root's file on medium,
// and where it goes in the new root.
func keptMount(medium string) (from, to string, ok bool) {
	switch medium {
	case layout.MediumISO:
		return media, layout.Media, true
	case layout.MediumNet:
		return netRootMount, layout.NetRootDir, true
	}
	return "", "", false
}

// freeInitramfs deletes the initramfs' files (it is RAM) without crossing
// into the new root or other mounts.
func freeInitramfs() {
	var root unix.Stat_t
	if unix.Stat("/", &root) != nil {
		return
	}
	ents, _ := os.ReadDir("/")
	for _, e := range ents {
		p := "/" + e.Name()
		if p == newRoot {
			continue
		}
		removeSameDev(p, root.Dev)
	}
}

func removeSameDev(p string, dev uint64) {
	var st unix.Stat_t
	if unix.Lstat(p, &st) != nil || st.Dev != dev {
		return
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		ents, _ := os.ReadDir(p)
		for _, e := range ents {
			removeSameDev(filepath.Join(p, e.Name()), dev)
		}
	}
	os.Remove(p)
}

// rescue runs the initramfs' static shell on the console, forever.
func rescue() {
	for {
		fmt.Fprintln(os.Stderr, "berth stage1: rescue shell; the root filesystem was not mounted. Exit for a new shell.")
		cmd := exec.Command("/bin/sh")
		if f, err := os.OpenFile("/dev/console", os.O_RDWR, 0); err == nil {
			cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, f
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		}
		cmd.Env = []string{"PATH=/bin:/sbin:/usr/bin", "PS1=(initramfs) # "}
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "berth stage1: shell: %v\n", err)
			time.Sleep(5 * time.Second)
		}
		// Reap anything the shell left behind.
		for {
			var ws unix.WaitStatus
			if pid, _ := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid <= 0 {
				break
			}
		}
	}
}
