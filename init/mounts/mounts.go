// Package mounts holds PID 1's mount table as data, the code that applies
// it, and the cgroup v2 setup that goes with it. Finding devices is
// internal/blockdev's. Paths are rooted in a parameter so tests run
// anywhere.
package mounts

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one entry of a mount table.
type Mount struct {
	Source string
	Target string
	Type   string
	Flags  uintptr
	Data   string
	// Optional mounts are skipped when the kernel lacks the filesystem or
	// the target's parent does not exist (efivarfs on a BIOS machine).
	Optional bool
	// Shared makes the mount a shared one once it is made, so that what is
	// mounted under it later shows in services that bind it with rslave.
	Shared bool
}

func (m Mount) String() string {
	opts := flagNames(m.Flags)
	if m.Data != "" {
		opts = append(opts, m.Data)
	}
	s := fmt.Sprintf("%s on %s type %s", m.Source, m.Target, m.Type)
	if m.Shared {
		opts = append(opts, "shared")
	}
	if len(opts) > 0 {
		s += " (" + strings.Join(opts, ",") + ")"
	}
	return s
}

func flagNames(f uintptr) []string {
	var out []string
	for _, n := range []struct {
		bit  uintptr
		name string
	}{{unix.MS_RDONLY, "ro"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"}, {unix.MS_NOEXEC, "noexec"}, {unix.MS_RELATIME, "relatime"}, {unix.MS_BIND, "bind"}, {unix.MS_REC, "rec"}, {unix.MS_MOVE, "move"}} {
		if f&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

const (
	nsnd  = unix.MS_NOSUID | unix.MS_NODEV
	nsnde = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
)

// Early is the mount table of stage 2, in order. Stage 1 already moved
// /proc, /sys, /dev and /run into the new root; those are kept as they are.
var Early = []Mount{
	{Source: "proc", Target: "/proc", Type: "proc", Flags: nsnde},
	{Source: "sysfs", Target: "/sys", Type: "sysfs", Flags: nsnde},
	{Source: "devtmpfs", Target: "/dev", Type: "devtmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755"},
	{Source: "devpts", Target: "/dev/pts", Type: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "gid=5,mode=0620,ptmxmode=0666"},
	{Source: "shm", Target: "/dev/shm", Type: "tmpfs", Flags: nsnd, Data: "mode=1777"},
	{Source: "mqueue", Target: "/dev/mqueue", Type: "mqueue", Flags: nsnde},
	{Source: "tmpfs", Target: "/run", Type: "tmpfs", Flags: nsnd, Data: "mode=0755"},
	{Source: "tmpfs", Target: "/tmp", Type: "tmpfs", Flags: nsnd, Data: "mode=1777"},
	// Mount points for cloud-config's mounts, which the validator allows
	// under /mnt and /media: the root is read-only, so their folders are
	// made on a tmpfs. Shared, so that the console sees what is mounted
	// there (it binds them rslave).
	{Source: "tmpfs", Target: "/mnt", Type: "tmpfs", Flags: nsnd, Data: "mode=0755", Shared: true},
	{Source: "tmpfs", Target: "/media", Type: "tmpfs", Flags: nsnd, Data: "mode=0755", Shared: true},
	{Source: "cgroup2", Target: "/sys/fs/cgroup", Type: "cgroup2", Flags: nsnde, Data: "nsdelegate,memory_recursiveprot"},
	{Source: "securityfs", Target: "/sys/kernel/security", Type: "securityfs", Flags: nsnde, Optional: true},
	{Source: "bpf", Target: "/sys/fs/bpf", Type: "bpf", Flags: nsnde, Data: "mode=0700", Optional: true},
	{Source: "efivarfs", Target: "/sys/firmware/efi/efivars", Type: "efivarfs", Flags: nsnde, Optional: true},
}

// Mounted returns the set of mount points in mountinfo (root-relative).
func Mounted(mountinfo string) (map[string]bool, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			out[Unescape(fields[4])] = true
		}
	}
	return out, sc.Err()
}

// Unescape undoes mountinfo's octal escapes (\040 for a space).
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Mounter performs mounts; the real one calls mount(2).
type Mounter interface {
	Mount(source, target, fstype string, flags uintptr, data string) error
}

// Syscall mounts with mount(2).
type Syscall struct{}

func (Syscall) Mount(source, target, fstype string, flags uintptr, data string) error {
	return unix.Mount(source, target, fstype, flags, data)
}

// Apply mounts every entry of table that is not mounted yet, making each
// target directory first. It returns what it did, for the boot log, and
// stops at the first required mount that fails.
func Apply(m Mounter, root string, table []Mount, mounted map[string]bool) ([]string, error) {
	var did []string
	for _, e := range table {
		if mounted[e.Target] {
			continue
		}
		target := filepath.Join(root, e.Target)
		if e.Optional {
			if _, err := os.Stat(filepath.Dir(target)); err != nil {
				continue
			}
		}
		if err := os.MkdirAll(target, 0o755); err != nil && !e.Optional {
			return did, fmt.Errorf("mount %s: %w", e, err)
		}
		if err := m.Mount(e.Source, target, e.Type, e.Flags, e.Data); err != nil {
			if e.Optional {
				continue
			}
			return did, fmt.Errorf("mount %s: %w", e, err)
		}
		if e.Shared {
			if err := m.Mount("", target, "", unix.MS_SHARED, ""); err != nil {
				return did, fmt.Errorf("make %s shared: %w", e.Target, err)
			}
		}
		did = append(did, e.String())
	}
	return did, nil
}

// EnableControllers turns on every cgroup v2 controller for the children of
// the root cgroup, so that containerd and runc can use them.
func EnableControllers(cgroupRoot string) error {
	b, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("cgroup controllers: %w", err)
	}
	var errs []error
	ctrls := strings.Fields(string(b))
	sort.Strings(ctrls)
	for _, c := range ctrls {
		if err := os.WriteFile(filepath.Join(cgroupRoot, "cgroup.subtree_control"), []byte("+"+c), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("enable cgroup controller %s: %w", c, err))
		}
	}
	return errors.Join(errs...)
}
