package apply

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/berth-os/berth/internal/blockdev"
	"golang.org/x/sys/unix"
)

// System is the Host of a real machine. Paths it is given are under Root
// ("/" on a host); devices named by LABEL=, UUID= or PARTLABEL= are found
// under Sysfs and Dev. Processes start through Spawn (PID 1's reaper owns
// every wait), and the calls only the kernel can make go through Kernel.
type System struct {
	Root, Sysfs, Dev string
	ModprobePath     string // path of modprobe, e.g. /usr/sbin/modprobe
	Spawn            func(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error)
	Kernel           Kernel
}

// Kernel is the narrow seam of System's privileged calls.
type Kernel interface {
	Mount(source, target, fstype string, flags uintptr, data string) error
	Sethostname(name string) error
	Swapon(path string) error
}

// Linux is the Kernel of the running system.
type Linux struct{}

func (Linux) Mount(source, target, fstype string, flags uintptr, data string) error {
	return unix.Mount(source, target, fstype, flags, data)
}

func (Linux) Sethostname(name string) error { return unix.Sethostname([]byte(name)) }

// Swapon turns on swap at path; swap already on is not an error.
func (Linux) Swapon(path string) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall(unix.SYS_SWAPON, uintptr(unsafe.Pointer(p)), 0, 0)
	if errno != 0 && errno != unix.EBUSY {
		return errno
	}
	return nil
}

var _ Host = (*System)(nil)

func (s *System) path(p string) string { return filepath.Join(s.Root, p) }

func (s *System) Sethostname(name string) error {
	if err := s.Kernel.Sethostname(name); err != nil {
		return fmt.Errorf("set hostname %s: %w", name, err)
	}
	return nil
}

func (s *System) Swapon(path string) error {
	if err := s.Kernel.Swapon(s.path(path)); err != nil {
		return fmt.Errorf("swapon %s: %w", path, err)
	}
	return nil
}

func (s *System) Chown(p string, uid, gid int) error {
	root := s.Root
	if root == "" {
		root = "/"
	}
	return atomicfile.ChownIn(root, p, uid, gid)
}

func (s *System) Modprobe(module string, params []string) error {
	return s.run(exec.Command(s.ModprobePath, append([]string{module}, params...)...), io.Discard)
}

// Mount mounts source on target as an fstab line would: source may be
// LABEL=, UUID= or PARTLABEL= (found by probing, since udev may not run
// yet), a path, a kernel name such as vdb1 (for /dev/vdb1, as cloud-init
// reads it), or anything a filesystem takes (tmpfs, host:/export); type
// auto is probed.
func (s *System) Mount(source, target, fstype, options string) error {
	src, err := s.resolve(source)
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", source, target, err)
	}
	flags, data := MountOptions(options)
	if fstype == "auto" || fstype == "" {
		if fstype, err = blockdev.ProbeFile(src); err != nil {
			return fmt.Errorf("mount %s on %s: type auto: %w", source, target, err)
		}
	}
	if err := s.Kernel.Mount(src, s.path(target), fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s (%s) on %s: %w", source, src, target, err)
	}
	return nil
}

// resolve turns a mount source into what mount(2) takes.
func (s *System) resolve(source string) (string, error) {
	spec, err := blockdev.ParseSpec(source)
	if err != nil {
		return source, nil // host:/export, or a source a filesystem reads itself
	}
	switch spec.Kind {
	case blockdev.ByPath:
		return source, nil
	case blockdev.ByName:
		// sdb, as cloud-init writes it, when there is such a device;
		// otherwise a filesystem's own source name (tmpfs, none).
		if _, err := os.Stat(filepath.Join(s.Dev, source)); err == nil {
			return filepath.Join(s.Dev, source), nil
		}
		return source, nil
	}
	d, err := blockdev.Resolve(s.Sysfs, s.Dev, source, "")
	if err != nil {
		return "", err
	}
	return d.Dev, nil
}

// MountOptions splits fstab options into mount flags and data. Options
// that only steer fstab tools (defaults, nofail, _netdev...) are dropped.
func MountOptions(opts string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "", "defaults", "nofail", "auto", "noauto", "rw", "_netdev", "x-systemd.automount":
		case "ro":
			flags |= unix.MS_RDONLY
		case "nosuid":
			flags |= unix.MS_NOSUID
		case "nodev":
			flags |= unix.MS_NODEV
		case "noexec":
			flags |= unix.MS_NOEXEC
		case "noatime":
			flags |= unix.MS_NOATIME
		case "relatime":
			flags |= unix.MS_RELATIME
		case "bind":
			flags |= unix.MS_BIND
		default:
			data = append(data, o)
		}
	}
	return flags, strings.Join(data, ",")
}

// Run runs an argv command, or a shell line through sh -c, in Root with
// env, its output (both streams) copied to out. It returns when the
// command's own process exits, not when its output ends: a daemon it
// left in the background (`mydaemon &`) keeps the output open, and what it
// writes goes on reaching out after Run returns. When ctx ends first, the
// command is killed with its whole process group, and the error says why
// (context.Cause).
func (s *System) Run(ctx context.Context, c cloudconfig.Command, env []string, out io.Writer) error {
	var cmd *exec.Cmd
	if c.Argv != nil {
		cmd = exec.Command(c.Argv[0], c.Argv[1:]...)
	} else {
		cmd = exec.Command("/bin/sh", "-c", c.Shell)
	}
	cmd.Env = env
	cmd.Dir = s.Root
	return s.runCtx(ctx, cmd, out)
}

// ExitError is a command that ran and failed.
type ExitError struct {
	Status syscall.WaitStatus
}

func (e *ExitError) Error() string {
	switch {
	case e.Status.Exited():
		return fmt.Sprintf("exit status %d", e.Status.ExitStatus())
	case e.Status.Signaled():
		return fmt.Sprintf("killed by %s", e.Status.Signal())
	}
	return fmt.Sprintf("wait status %#x", uint32(e.Status))
}

// outputGrace is how long a command's output may trail its exit: what is
// still in the pipe. After it, Run returns and the copy goes on alone.
const outputGrace = 500 * time.Millisecond

// run runs cmd through Spawn, copying its output to out.
func (s *System) run(cmd *exec.Cmd, out io.Writer) error {
	return s.runCtx(context.Background(), cmd, out)
}

// runCtx runs cmd in a process group of its own through Spawn, copying its
// output to out, until it exits or ctx ends; then the group is killed.
func (s *System) runCtx(ctx context.Context, cmd *exec.Cmd, out io.Writer) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	ch, err := s.Spawn(cmd)
	w.Close()
	if err != nil {
		r.Close()
		return fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	copied := make(chan struct{})
	go func() {
		io.Copy(out, r)
		r.Close()
		close(copied)
	}()
	var ws syscall.WaitStatus
	var killed error
	select {
	case ws = <-ch:
	case <-ctx.Done():
		// The group is the command and what it started, background
		// daemons too, unless they left it (setsid).
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		ws = <-ch
		killed = context.Cause(ctx)
	}
	select {
	case <-copied:
	case <-time.After(outputGrace):
	}
	if killed != nil {
		return fmt.Errorf("%w: killed with its process group", killed)
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return &ExitError{Status: ws}
	}
	return nil
}
