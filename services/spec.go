package services

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Bind is one parsed bind mount.
type Bind struct {
	Source, Target string
	ReadOnly       bool
	Recursive      bool
	// Slave: mounts made later under the source on the host show in the
	// container (the source must be a shared mount).
	Slave bool
	// Shared: mounts made on either side show on the other (rshared), as
	// k3s's /var/lib/kubelet needs for the volumes it mounts for pods.
	Shared bool
}

// ParseBind reads "SRC:DST[:OPTS]".
func ParseBind(s string) (Bind, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Bind{}, fmt.Errorf("expected SRC:DST[:OPTS], got %q", s)
	}
	b := Bind{Source: parts[0], Target: parts[1]}
	if !strings.HasPrefix(b.Source, "/") || !strings.HasPrefix(b.Target, "/") {
		return Bind{}, fmt.Errorf("expected absolute paths, got %q", s)
	}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro":
				b.ReadOnly = true
			case "rw":
			case "rbind":
				b.Recursive = true
			case "rslave":
				b.Recursive, b.Slave = true, true
			case "rshared":
				b.Recursive, b.Shared = true, true
			default:
				return Bind{}, fmt.Errorf("unknown option %q in %q (expected ro, rw, rbind, rslave, rshared)", o, s)
			}
		}
		if b.Slave && b.Shared {
			return Bind{}, fmt.Errorf("%q: expected one of rslave and rshared", s)
		}
	}
	return b, nil
}

// defaultCaps is containerd's default capability set (its oci package's):
// what a service keeps that neither adds nor drops any.
var defaultCaps = []string{
	"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
	"CAP_SETUID", "CAP_SYS_CHROOT",
}

// allCaps is every capability runc knows on Linux 6.12.
var allCaps = []string{
	"CAP_AUDIT_CONTROL", "CAP_AUDIT_READ", "CAP_AUDIT_WRITE", "CAP_BLOCK_SUSPEND", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_KILL", "CAP_LEASE", "CAP_LINUX_IMMUTABLE",
	"CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE", "CAP_MKNOD", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_RAW", "CAP_PERFMON", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
	"CAP_SETUID", "CAP_SYSLOG", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_CHROOT", "CAP_SYS_MODULE",
	"CAP_SYS_NICE", "CAP_SYS_PACCT", "CAP_SYS_PTRACE", "CAP_SYS_RAWIO", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_WAKE_ALARM",
}

// Capabilities is the set the service keeps, sorted, with Compose's
// meaning of cap_add and cap_drop: cap_add ALL keeps every capability
// but those dropped; else cap_drop ALL starts from none, and otherwise
// from containerd's default set, less those dropped; then those added.
func (d *Definition) Capabilities() []string {
	has := func(l []string, c string) bool {
		return slices.ContainsFunc(l, func(s string) bool { return s == c || normCap(s) == c })
	}
	var caps []string
	switch {
	case d.Privileged:
		caps = append(caps, allCaps...)
	case slices.Contains(d.CapAdd, "ALL"):
		for _, c := range allCaps {
			if !has(d.CapDrop, c) {
				caps = append(caps, c)
			}
		}
	default:
		if !slices.Contains(d.CapDrop, "ALL") {
			for _, c := range defaultCaps {
				if !has(d.CapDrop, c) {
					caps = append(caps, c)
				}
			}
		}
		for _, a := range d.CapAdd {
			if c := normCap(a); c != "" && !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
	}
	sort.Strings(caps)
	return caps
}

// argv is the main process's argv: the service's entrypoint and command,
// each in place of the image's (a service's entrypoint also drops the
// image's command, as Compose does).
func (d *Definition) argv(img *ocispec.ImageConfig) []string {
	entry, cmd := []string(d.Entrypoint), []string(d.Command)
	if img != nil {
		if entry == nil {
			entry = img.Entrypoint
			if cmd == nil {
				cmd = img.Cmd
			}
		}
	}
	return append(append([]string(nil), entry...), cmd...)
}

// readOnly says whether the root is read-only: Berth's default is true.
func (d *Definition) readOnly() bool { return d.ReadOnly == nil || *d.ReadOnly }

// restart is the restart policy in Compose's words, the default filled in.
func (d *Definition) restart() string {
	switch {
	case d.Restart == "unless-stopped":
		return "always"
	case d.Restart != "":
		return d.Restart
	case d.XBerth.Kind == "oneshot":
		return "no"
	}
	return "always"
}

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Spec is the OCI runtime spec of a built-in's container, its rootfs the
// one the build extracts (RootfsPath).
func (d *Definition) Spec() (*specs.Spec, error) {
	if d.XBerth.Rootfs == nil {
		return nil, fmt.Errorf("service %s: has an image, not a rootfs: its spec is made when it is pulled (SpecFor)", d.Name)
	}
	return d.spec(RootfsPath(d.Name), nil)
}

// SpecFor is the OCI runtime spec of a service with an image, run from
// rootfs (the host path of its snapshot) with img, the image's config:
// its entrypoint, command, environment, working folder and user are the
// defaults the definition overrides. A user given by name is looked up
// in rootfs's /etc/passwd and /etc/group.
func (d *Definition) SpecFor(rootfs string, img ocispec.ImageConfig) (*specs.Spec, error) {
	if d.Image == "" {
		return nil, fmt.Errorf("service %s: has no image (a built-in's spec is Spec)", d.Name)
	}
	if len(d.argv(&img)) == 0 {
		return nil, fmt.Errorf("service %s: image %s has no entrypoint or command, and the service gives none", d.Name, d.Image)
	}
	return d.spec(rootfs, &img)
}

func (d *Definition) spec(rootfs string, img *ocispec.ImageConfig) (*specs.Spec, error) {
	host := map[string]bool{"net": d.NetworkMode == "host", "pid": d.Pid == "host", "ipc": d.Ipc == "host", "uts": d.Uts == "host"}
	caps := d.Capabilities()
	env := []string{defaultPath}
	cwd, user := "/", d.User
	if img != nil {
		if len(img.Env) > 0 {
			env = append([]string(nil), img.Env...)
		}
		if img.WorkingDir != "" {
			cwd = img.WorkingDir
		}
		if user == "" {
			user = img.User
		}
	}
	for _, kv := range d.Environment {
		k, _, _ := strings.Cut(kv, "=")
		if i := slices.IndexFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") }); i >= 0 {
			env[i] = kv
		} else {
			env = append(env, kv)
		}
	}
	if d.WorkingDir != "" {
		cwd = d.WorkingDir
	}
	u, err := lookupUser(rootfs, user, img != nil)
	if err != nil {
		return nil, fmt.Errorf("service %s: user %q: %w", d.Name, user, err)
	}
	s := &specs.Spec{
		Version: ociVersion,
		Process: &specs.Process{
			Args: d.argv(img),
			Env:  env,
			Cwd:  cwd,
			User: u,
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1048576, Soft: 1048576}},
			NoNewPrivileges: !d.Privileged && !slices.Contains(d.SecurityOpt, "no-new-privileges:false"),
			OOMScoreAdj:     d.OOMScoreAdj,
		},
		Root: &specs.Root{Path: rootfs, Readonly: d.readOnly()},
		// One runc shim serves every system service instead of one each:
		// under emulation each shim start costs about half a second.
		Annotations: map[string]string{ShimGroupAnnotation: "berth-system"},
		Linux: &specs.Linux{
			CgroupsPath: "/berth/" + d.Name,
			Resources:   &specs.LinuxResources{},
		},
	}
	if d.MemLimit > 0 {
		n := int64(d.MemLimit)
		// No swap beyond the limit: memory.swap.max = 0.
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &n, Swap: &n}
	}
	if d.Cpus > 0 {
		period := uint64(100000)
		quota := int64(float64(d.Cpus) * float64(period))
		s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	if d.PidsLimit > 0 {
		n := d.PidsLimit
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &n}
	}
	// Namespaces.
	for _, ns := range []struct {
		typ  specs.LinuxNamespaceType
		name string
	}{{specs.PIDNamespace, "pid"}, {specs.NetworkNamespace, "net"}, {specs.IPCNamespace, "ipc"}, {specs.UTSNamespace, "uts"}, {specs.MountNamespace, "mnt"}, {specs.CgroupNamespace, "cgroup"}} {
		if !host[ns.name] {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: ns.typ})
		}
	}
	// Mounts: the usual container set, then the service's own.
	s.Mounts = []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
	}
	if !slices.ContainsFunc(d.Volumes, func(v Volume) bool { return v.Target == "/dev" }) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		)
	}
	sysOpts := []string{"nosuid", "noexec", "nodev", "ro"}
	if d.Privileged || d.XBerth.Sysfs == "rw" {
		sysOpts = []string{"nosuid", "noexec", "nodev", "rw"}
	}
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts},
		specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup", Options: append([]string{}, sysOpts...)},
		specs.Mount{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755", "size=32m"}},
		specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", "size=64m"}},
	)
	for _, t := range d.Tmpfs {
		opts, _ := parseTmpfs(t)
		path, _, _ := strings.Cut(t, ":")
		s.Mounts = append(s.Mounts, specs.Mount{Destination: path, Type: "tmpfs", Source: "tmpfs", Options: opts})
	}
	for _, v := range d.Volumes {
		opts := []string{"bind"}
		if v.Recursive {
			opts = []string{"rbind"}
		}
		if v.ReadOnly {
			opts = append(opts, "ro")
		} else {
			opts = append(opts, "rw")
		}
		switch {
		case v.Slave:
			opts = append(opts, "rslave")
		case v.Shared:
			opts = append(opts, "rshared")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: v.Target, Type: "bind", Source: v.Source, Options: opts})
	}
	// Devices and their cgroup rules.
	if d.Privileged {
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	} else {
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
		for _, std := range []struct{ major, minor int64 }{{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 2}, {136, -1}} {
			mj, mn := std.major, std.minor
			dc := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &mj, Access: "rwm"}
			if mn >= 0 {
				dc.Minor = &mn
			}
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, dc)
		}
		for _, e := range d.Devices {
			m, _ := parseDevice(e)
			mj, mn, mode := m.dev.major, m.dev.minor, os.FileMode(m.dev.mode)
			uid, gid := uint32(0), uint32(0)
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: m.path, Type: "c", Major: mj, Minor: mn, FileMode: &mode, UID: &uid, GID: &gid})
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &mj, Minor: &mn, Access: m.access})
		}
		for _, r := range d.DeviceCgroupRules {
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, deviceRule(r))
		}
		if !slices.Contains(d.SecurityOpt, "systempaths=unconfined") {
			s.Linux.MaskedPaths = []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"}
			s.Linux.ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
		}
		if !slices.Contains(d.SecurityOpt, "seccomp=unconfined") {
			s.Linux.Seccomp = seccomp.DefaultProfile(s)
		}
	}
	return s, nil
}

// lookupUser turns "USER[:GROUP]" into ids: numbers as they are, names
// from the rootfs's /etc/passwd and /etc/group when names may be looked
// up (an image's snapshot). A user without a group takes its passwd
// entry's group (0 for a bare number).
func lookupUser(rootfs, spec string, names bool) (specs.User, error) {
	if spec == "" {
		return specs.User{}, nil
	}
	usr, grp, hasGroup := strings.Cut(spec, ":")
	var u specs.User
	uid, err := strconv.ParseUint(usr, 10, 32)
	if err == nil {
		u.UID = uint32(uid)
	} else {
		if !names {
			return u, fmt.Errorf("expected a number")
		}
		f, err := idFile(filepath.Join(rootfs, "etc/passwd"), usr)
		if err != nil {
			return u, err
		}
		id, _ := strconv.ParseUint(f[2], 10, 32)
		gid, _ := strconv.ParseUint(f[3], 10, 32)
		u.UID, u.GID = uint32(id), uint32(gid)
	}
	if !hasGroup {
		return u, nil
	}
	gid, err := strconv.ParseUint(grp, 10, 32)
	if err == nil {
		u.GID = uint32(gid)
		return u, nil
	}
	if !names {
		return u, fmt.Errorf("expected a number")
	}
	f, err := idFile(filepath.Join(rootfs, "etc/group"), grp)
	if err != nil {
		return u, err
	}
	id, _ := strconv.ParseUint(f[2], 10, 32)
	u.GID = uint32(id)
	return u, nil
}

// idFile finds name's line in a passwd or group file and returns its fields.
func idFile(path, name string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ":")
		if len(fs) >= 4 && fs[0] == name {
			if _, err := strconv.ParseUint(fs[2], 10, 32); err != nil {
				return nil, fmt.Errorf("%s: bad id %q for %s", path, fs[2], name)
			}
			return fs, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return nil, fmt.Errorf("no %s in %s", name, path)
}

// deviceRule turns a validated "TYPE MAJOR:MINOR ACCESS" into a cgroup rule.
func deviceRule(r string) specs.LinuxDeviceCgroup {
	m := devRuleRe.FindStringSubmatch(r)
	num := func(v string) *int64 {
		if v == "*" {
			return nil
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		return &n
	}
	return specs.LinuxDeviceCgroup{Allow: true, Type: m[1], Major: num(m[2]), Minor: num(m[3]), Access: m[4]}
}

// Mountpoints lists every path the rootfs must already have for the spec's
// mounts: the rootfs is read-only, so runc cannot create them. File binds
// need a file, everything else a directory.
func Mountpoints(s *specs.Spec) (dirs, files []string) {
	seen := map[string]bool{}
	for _, m := range s.Mounts {
		if seen[m.Destination] {
			continue
		}
		seen[m.Destination] = true
		if m.Type == "bind" && isFileBind(m.Source) {
			files = append(files, m.Destination)
		} else {
			dirs = append(dirs, m.Destination)
		}
	}
	for _, d := range s.Linux.Devices {
		files = append(files, d.Path)
	}
	sort.Strings(dirs)
	sort.Strings(files)
	return dirs, files
}

// isFileBind says whether a bind source is a file on the host. The build
// cannot look at the host it will run on, so it goes by name: a name with
// a dot (not a .d folder), a few well-known files, and the host's programs
// (/usr/bin/ctr), which a service may bind instead of carrying a copy.
func isFileBind(src string) bool {
	base := filepath.Base(src)
	if dir := filepath.Dir(src); dir == "/usr/bin" || dir == "/usr/sbin" {
		return true
	}
	return strings.Contains(base, ".") && !strings.HasSuffix(base, ".d") || base == "hostname" || base == "machine-id"
}

// ociVersion is the runtime spec version the services' specs claim. crun
// 1.8 (the system services' runtime) refuses a version that does not name
// 1.0, and the specs use nothing that 1.0.2 lacks.
const ociVersion = "1.0.2"
