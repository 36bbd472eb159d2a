// Package services reads system service definitions (services/<name>/service.yaml)
// and turns each into the OCI runtime spec its container runs with. The
// build writes that spec next to the service's pre-extracted rootfs; PID 1
// adds only what is known at boot (notify socket, environment).
package services

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/strictyaml"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/docker/go-units"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Definition is one service.yaml.
type Definition struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Rootfs      Rootfs `yaml:"rootfs"`
	// Command is argv of the service's main process.
	Command []string `yaml:"command"`
	Env     []string `yaml:"env"`
	// Notify: the service sends READY=1 to $NOTIFY_SOCKET when it is ready,
	// and only then counts as running.
	Notify bool `yaml:"notify"`
	// Restart is always (default), on-failure or never.
	Restart string `yaml:"restart"`
	// Privileged: every capability, every device, no seccomp, writable /sys.
	Privileged bool `yaml:"privileged"`
	// Capabilities kept (e.g. CAP_NET_ADMIN) when not privileged; [ALL]
	// keeps every one.
	Capabilities []string `yaml:"capabilities"`
	// HostNamespaces shared with the host: net, pid, ipc, uts.
	HostNamespaces []string `yaml:"host_namespaces"`
	// Binds are host paths mounted into the container: "SRC:DST[:OPTS]",
	// OPTS a comma list of ro, rw, rbind, rslave (rbind, and later host
	// mounts under SRC show). PID 1 makes missing source folders.
	Binds []string `yaml:"binds"`
	// Tmpfs are paths given a fresh tmpfs.
	Tmpfs []string `yaml:"tmpfs"`
	// Devices are extra device nodes for a non-privileged service, e.g. /dev/kmsg.
	Devices []string `yaml:"devices"`
	// DeviceCgroupRules let a non-privileged service open host device
	// nodes it reaches through a bind of /dev: "TYPE MAJOR:MINOR ACCESS",
	// TYPE c, b or a, MAJOR and MINOR a number or *, ACCESS of r, w, m
	// (Compose's device_cgroup_rules).
	DeviceCgroupRules []string `yaml:"device_cgroup_rules"`
	// SecurityOpt, as Compose's security_opt: "seccomp=unconfined" (the
	// default is containerd's profile, given the service's capabilities),
	// "systempaths=unconfined" (no masked or read-only /proc and /sys
	// paths) and "no-new-privileges:false" (the default is true).
	SecurityOpt []string `yaml:"security_opt"`
	// Sysfs is ro (default) or rw: a service that writes /sys (udev's
	// coldplug) says so.
	Sysfs string `yaml:"sysfs"`
	// MemLimit caps the service's cgroup memory (e.g. 128M), PidsLimit its
	// number of tasks, and OOMScoreAdj ranks it for the OOM killer (-1000
	// to 1000). Every system service sets all three, so that a runaway one
	// is stopped in its own cgroup and never takes PID 1 or containerd
	// (oom_score_adj -999) with it.
	MemLimit    string `yaml:"mem_limit"`
	PidsLimit   int64  `yaml:"pids_limit"`
	OOMScoreAdj *int   `yaml:"oom_score_adj"`

	// Dir is the folder the definition was read from.
	Dir string `yaml:"-"`
}

// Rootfs says what the service's root filesystem is made of.
type Rootfs struct {
	// Debs is a package set of images/packages.lock.
	Debs string `yaml:"debs"`
	// Go maps an install path to a Go main package of this module,
	// e.g. /usr/bin/berth-network: ./services/network.
	Go map[string]string `yaml:"go"`
	// Files is a folder, relative to the service folder, copied over the rootfs.
	Files string `yaml:"files"`
	// Exclude lists paths (files or folders) of the packages left out of
	// the rootfs, e.g. data the service never reads.
	Exclude []string `yaml:"exclude"`
}

// ShimGroupAnnotation makes containerd's runc shim serve every container
// with the same value from one process.
const ShimGroupAnnotation = "io.containerd.runc.v2.group"

// RootfsPath is the absolute path of a service's rootfs on the host.
func RootfsPath(name string) string { return layout.ServicesDir + "/" + name + "/rootfs" }

var (
	nameRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	capRe     = regexp.MustCompile(`^CAP_[A-Z_]+$`)
	devRuleRe = regexp.MustCompile(`^([abc]) (\*|[0-9]+):(\*|[0-9]+) ([rwm]{1,3})$`)
)

// Load reads and validates services/<name>/service.yaml under dir.
func Load(dir, name string) (*Definition, error) {
	p := filepath.Join(dir, name, "service.yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read service %s: %w", name, err)
	}
	d := &Definition{}
	if err := strictyaml.Decode(data, p, d); err != nil {
		return nil, err
	}
	d.Dir = filepath.Join(dir, name)
	if err := d.Validate(p, name); err != nil {
		return nil, err
	}
	return d, nil
}

// Validate checks a definition and reports every problem at once.
func (d *Definition) Validate(source, wantName string) error {
	var errs strictyaml.Errors
	bad := func(path, format string, args ...any) {
		errs = append(errs, &strictyaml.FieldError{Source: source, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case d.Name == "":
		bad("name", "missing")
	case !nameRe.MatchString(d.Name):
		bad("name", "expected lowercase letters, digits and dashes, got %q", d.Name)
	case wantName != "" && d.Name != wantName:
		bad("name", "is %q but the folder is %q", d.Name, wantName)
	}
	if len(d.Command) == 0 {
		bad("command", "missing (expected the argv of the main process)")
	} else if !strings.HasPrefix(d.Command[0], "/") {
		bad("command[0]", "expected an absolute path, got %q", d.Command[0])
	}
	switch d.Restart {
	case "", "always", "on-failure", "never":
	default:
		bad("restart", "expected always, on-failure or never, got %q", d.Restart)
	}
	for i, c := range d.Capabilities {
		if c == "ALL" && len(d.Capabilities) == 1 {
			continue
		}
		if !capRe.MatchString(c) {
			bad(fmt.Sprintf("capabilities[%d]", i), "expected a capability such as CAP_NET_ADMIN, got %q", c)
		}
	}
	for i, ns := range d.HostNamespaces {
		switch ns {
		case "net", "pid", "ipc", "uts":
		default:
			bad(fmt.Sprintf("host_namespaces[%d]", i), "expected net, pid, ipc or uts, got %q", ns)
		}
	}
	for i, b := range d.Binds {
		if _, err := ParseBind(b); err != nil {
			bad(fmt.Sprintf("binds[%d]", i), "%v", err)
		}
	}
	for i, t := range d.Tmpfs {
		if !strings.HasPrefix(t, "/") {
			bad(fmt.Sprintf("tmpfs[%d]", i), "expected an absolute path, got %q", t)
		}
	}
	for i, dev := range d.Devices {
		if _, ok := knownDevices[dev]; !ok {
			bad(fmt.Sprintf("devices[%d]", i), "unknown device %q (known: %s)", dev, strings.Join(deviceNames(), ", "))
		}
	}
	for i, r := range d.DeviceCgroupRules {
		if !devRuleRe.MatchString(r) {
			bad(fmt.Sprintf("device_cgroup_rules[%d]", i), "expected TYPE MAJOR:MINOR ACCESS such as \"b *:* rwm\", got %q", r)
		}
	}
	for i, o := range d.SecurityOpt {
		switch o {
		case "seccomp=unconfined", "systempaths=unconfined", "no-new-privileges:false", "no-new-privileges:true", "no-new-privileges":
		default:
			bad(fmt.Sprintf("security_opt[%d]", i), "expected seccomp=unconfined, systempaths=unconfined or no-new-privileges:true|false, got %q", o)
		}
	}
	switch d.Sysfs {
	case "", "ro", "rw":
	default:
		bad("sysfs", "expected ro or rw, got %q", d.Sysfs)
	}
	if d.MemLimit != "" {
		if _, err := units.RAMInBytes(d.MemLimit); err != nil || !strings.ContainsAny(d.MemLimit[len(d.MemLimit)-1:], "kKmMgG") {
			bad("mem_limit", "expected a size such as 128M, got %q", d.MemLimit)
		}
	}
	if d.PidsLimit < 0 {
		bad("pids_limit", "expected a positive number, got %d", d.PidsLimit)
	}
	if d.OOMScoreAdj != nil && (*d.OOMScoreAdj < -1000 || *d.OOMScoreAdj > 1000) {
		bad("oom_score_adj", "expected -1000 to 1000, got %d", *d.OOMScoreAdj)
	}
	if d.Privileged && (len(d.DeviceCgroupRules) > 0 || len(d.SecurityOpt) > 0 || d.Sysfs != "") {
		bad("privileged", "a privileged service has every device, no seccomp and a writable /sys: drop device_cgroup_rules, security_opt and sysfs, or privileged")
	}
	for dst, pkg := range d.Rootfs.Go {
		if !strings.HasPrefix(dst, "/") {
			bad(strictyaml.Join("rootfs.go", dst), "expected an absolute install path")
		}
		if !strings.HasPrefix(pkg, "./") {
			bad(strictyaml.Join("rootfs.go", dst), "expected a package path of this module such as ./services/network, got %q", pkg)
		}
	}
	for i, x := range d.Rootfs.Exclude {
		if !strings.HasPrefix(x, "/") || strings.Contains(x, "..") {
			bad(fmt.Sprintf("rootfs.exclude[%d]", i), "expected an absolute path, got %q", x)
		}
	}
	if d.Rootfs.Debs == "" && len(d.Rootfs.Go) == 0 {
		bad("rootfs", "empty (expected debs, go or both)")
	}
	return errs.Err()
}

// Bind is one parsed bind mount.
type Bind struct {
	Source, Target string
	ReadOnly       bool
	Recursive      bool
	// Slave: mounts made later under the source on the host show in the
	// container (the source must be a shared mount).
	Slave bool
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
			default:
				return Bind{}, fmt.Errorf("unknown option %q in %q (expected ro, rw, rbind, rslave)", o, s)
			}
		}
	}
	return b, nil
}

type device struct {
	major, minor int64
	mode         uint32
}

var knownDevices = map[string]device{
	"/dev/kmsg":    {1, 11, 0o644},
	"/dev/fuse":    {10, 229, 0o666},
	"/dev/net/tun": {10, 200, 0o666},
}

func deviceNames() []string {
	var n []string
	for k := range knownDevices {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// defaultCaps are kept by every service that lists none.
var defaultCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"}

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

// Spec is the OCI runtime spec of the service's container.
func (d *Definition) Spec() (*specs.Spec, error) {
	host := map[string]bool{}
	for _, ns := range d.HostNamespaces {
		host[ns] = true
	}
	caps := d.Capabilities
	if d.Privileged || slices.Equal(caps, []string{"ALL"}) {
		caps = allCaps
	} else if len(caps) == 0 {
		caps = defaultCaps
	}
	caps = append([]string(nil), caps...)
	sort.Strings(caps)
	env := append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, d.Env...)
	s := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: d.Command,
			Env:  env,
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1048576, Soft: 1048576}},
			NoNewPrivileges: !d.Privileged && !slices.Contains(d.SecurityOpt, "no-new-privileges:false"),
			OOMScoreAdj:     d.OOMScoreAdj,
		},
		Root: &specs.Root{Path: RootfsPath(d.Name), Readonly: true},
		// One runc shim serves every system service instead of one each:
		// under emulation each shim start costs about half a second.
		Annotations: map[string]string{ShimGroupAnnotation: "berth-system"},
		Linux: &specs.Linux{
			CgroupsPath: "/berth/" + d.Name,
			Resources:   &specs.LinuxResources{},
		},
	}
	if host["uts"] {
		s.Hostname = ""
	}
	if d.MemLimit != "" {
		n, _ := units.RAMInBytes(d.MemLimit)
		// No swap beyond the limit: memory.swap.max = 0.
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &n, Swap: &n}
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
	devBound := false
	for _, b := range d.Binds {
		if pb, _ := ParseBind(b); pb.Target == "/dev" {
			devBound = true
		}
	}
	if !devBound {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		)
	}
	sysOpts := []string{"nosuid", "noexec", "nodev", "ro"}
	if d.Privileged || d.Sysfs == "rw" {
		sysOpts = []string{"nosuid", "noexec", "nodev", "rw"}
	}
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts},
		specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup", Options: append([]string{}, sysOpts...)},
		specs.Mount{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755", "size=32m"}},
		specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", "size=64m"}},
	)
	for _, t := range d.Tmpfs {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: t, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755"}})
	}
	for _, b := range d.Binds {
		pb, _ := ParseBind(b)
		opts := []string{"bind"}
		if pb.Recursive {
			opts = []string{"rbind"}
		}
		if pb.ReadOnly {
			opts = append(opts, "ro")
		} else {
			opts = append(opts, "rw")
		}
		if pb.Slave {
			opts = append(opts, "rslave")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: pb.Target, Type: "bind", Source: pb.Source, Options: opts})
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
		for _, name := range d.Devices {
			dev := knownDevices[name]
			mj, mn, mode := dev.major, dev.minor, os.FileMode(dev.mode)
			uid, gid := uint32(0), uint32(0)
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: name, Type: "c", Major: mj, Minor: mn, FileMode: &mode, UID: &uid, GID: &gid})
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &mj, Minor: &mn, Access: "rwm"})
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
// cannot look at the host it will run on, so it goes by name.
func isFileBind(src string) bool {
	base := filepath.Base(src)
	return strings.Contains(base, ".") && !strings.HasSuffix(base, ".d") || base == "hostname" || base == "machine-id"
}

// Runtime is what PID 1 needs of a definition besides the OCI spec; the
// build writes it as service.json beside config.json.
type Runtime struct {
	Name    string `json:"name"`
	Notify  bool   `json:"notify"`
	Restart string `json:"restart"`
}

// Runtime returns the definition's runtime settings.
func (d *Definition) Runtime() Runtime {
	r := d.Restart
	if r == "" {
		r = "always"
	}
	return Runtime{Name: d.Name, Notify: d.Notify, Restart: r}
}
