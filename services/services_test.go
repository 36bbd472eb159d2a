package services

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestLoadShipped(t *testing.T) {
	for _, name := range []string{"udev", "logging", "network", "console", "ntp", "containerd"} {
		t.Run(name, func(t *testing.T) {
			d, err := Load(".", name)
			if err != nil {
				t.Fatal(err)
			}
			s, err := d.Spec()
			if err != nil {
				t.Fatal(err)
			}
			if s.Root.Path != "/usr/lib/berth/services/"+name+"/rootfs" || !s.Root.Readonly {
				t.Errorf("root = %+v", s.Root)
			}
			if d.Privileged != (s.Linux.Seccomp == nil) {
				t.Errorf("privileged=%v but seccomp=%v", d.Privileged, s.Linux.Seccomp != nil)
			}
		})
	}
}

func TestSpecCapabilitiesAndNamespaces(t *testing.T) {
	d, err := Load(".", "network")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := d.Spec()
	want := []string{"CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"}
	if diff := cmp.Diff(want, s.Process.Capabilities.Bounding); diff != "" {
		t.Errorf("caps (-want +got)\n%s", diff)
	}
	var ns []string
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, string(n.Type))
	}
	if slices.Contains(ns, "network") || slices.Contains(ns, "uts") || !slices.Contains(ns, "pid") || !slices.Contains(ns, "mount") {
		t.Errorf("namespaces = %v; want own pid and mount, host network and uts", ns)
	}
	if !s.Process.NoNewPrivileges {
		t.Error("noNewPrivileges not set")
	}

	c, _ := Load(".", "console")
	cs, _ := c.Spec()
	if len(cs.Process.Capabilities.Bounding) < 40 {
		t.Errorf("the admin console has %d caps, want all", len(cs.Process.Capabilities.Bounding))
	}
	for _, n := range cs.Linux.Namespaces {
		if n.Type == "pid" || n.Type == "network" {
			t.Errorf("console has its own %s namespace", n.Type)
		}
	}
	// The console sees disks mounted under /mnt and /media, also later ones.
	var mnt []string
	for _, m := range cs.Mounts {
		if m.Destination == "/mnt" || m.Destination == "/media" {
			mnt = append(mnt, m.Source+" "+strings.Join(m.Options, ","))
		}
	}
	if diff := cmp.Diff([]string{"/mnt rbind,rw,rslave", "/media rbind,rw,rslave"}, mnt); diff != "" {
		t.Errorf("console's /mnt and /media (-want +got)\n%s", diff)
	}
}

// No system service is privileged: each has containerd's seccomp profile,
// no new privileges, limits and an OOM score, and only its devices. The
// user containerd is a container runtime, privileged on purpose
// (TestSpecUserContainerd).
func TestSpecLeastPrivilege(t *testing.T) {
	for _, name := range []string{"udev", "logging", "network", "console", "ntp"} {
		d, err := Load(".", name)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := d.Spec()
		r := s.Linux.Resources
		switch {
		case d.Privileged:
			t.Errorf("%s: privileged", name)
		case s.Linux.Seccomp == nil:
			t.Errorf("%s: no seccomp profile", name)
		case !s.Process.NoNewPrivileges:
			t.Errorf("%s: no_new_privileges off", name)
		case r.Memory == nil || r.Memory.Limit == nil || *r.Memory.Limit <= 0:
			t.Errorf("%s: no memory limit", name)
		case r.Pids == nil || r.Pids.Limit == nil || *r.Pids.Limit <= 0:
			t.Errorf("%s: no pids limit", name)
		case s.Process.OOMScoreAdj == nil || *s.Process.OOMScoreAdj >= 0 || *s.Process.OOMScoreAdj <= -999:
			t.Errorf("%s: oom_score_adj %v, want between containerd's -999 and 0", name, s.Process.OOMScoreAdj)
		case !s.Root.Readonly:
			t.Errorf("%s: writable root", name)
		}
		for _, dc := range r.Devices {
			if dc.Allow && (dc.Type == "a" || dc.Type == "c" && dc.Major != nil && *dc.Major == 1 && dc.Minor != nil && (*dc.Minor == 1 || *dc.Minor == 4)) {
				t.Errorf("%s: allowed %+v (all devices, /dev/mem or /dev/port)", name, dc)
			}
		}
	}
	u, _ := Load(".", "udev")
	us, _ := u.Spec()
	if diff := cmp.Diff([]string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO"}, us.Process.Capabilities.Effective); diff != "" {
		t.Errorf("udev caps (-want +got)\n%s", diff)
	}
	if *us.Linux.Resources.Memory.Limit != 128<<20 || *us.Linux.Resources.Pids.Limit != 512 || *us.Process.OOMScoreAdj != -900 {
		t.Errorf("udev limits: memory %d, pids %d, oom %d", *us.Linux.Resources.Memory.Limit, *us.Linux.Resources.Pids.Limit, *us.Process.OOMScoreAdj)
	}
	var sysfs []string
	for _, m := range us.Mounts {
		if m.Destination == "/sys" {
			sysfs = m.Options
		}
	}
	if !slices.Contains(sysfs, "rw") {
		t.Errorf("udev's /sys options %v, want rw (coldplug)", sysfs)
	}
	last := us.Linux.Resources.Devices[len(us.Linux.Resources.Devices)-1]
	if !last.Allow || last.Type != "c" || last.Major != nil || last.Access != "rwm" {
		t.Errorf("udev's last device rule %+v, want c *:* rwm", last)
	}
	// The time service sets the clock and nothing else; it shares only
	// the host's network, and the host's files it sees are its config
	// (read-only), resolv.conf's folder (read-only) and its status.
	tm, _ := Load(".", "ntp")
	ts, _ := tm.Spec()
	if diff := cmp.Diff([]string{"CAP_SYS_TIME"}, ts.Process.Capabilities.Bounding); diff != "" {
		t.Errorf("ntp caps (-want +got)\n%s", diff)
	}
	var own []string
	for _, n := range ts.Linux.Namespaces {
		own = append(own, string(n.Type))
	}
	if slices.Contains(own, "network") || !slices.Contains(own, "pid") || !slices.Contains(own, "uts") || !slices.Contains(own, "ipc") {
		t.Errorf("ntp's own namespaces %v; want all but the network", own)
	}
	var binds []string
	for _, m := range ts.Mounts {
		if slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind") {
			binds = append(binds, m.Source+" "+m.Destination+" "+strings.Join(m.Options, ","))
		}
	}
	if diff := cmp.Diff([]string{"/etc/ntp /etc/ntp bind,ro", "/run/berth/network /run/berth/network bind,ro", "/run/berth/ntp /run/berth/ntp bind,rw"}, binds); diff != "" {
		t.Errorf("ntp binds (-want +got)\n%s", diff)
	}
	n, _ := Load(".", "network")
	ns, _ := n.Spec()
	if len(ns.Linux.MaskedPaths) == 0 {
		t.Error("network service has no masked paths")
	}
	c, _ := Load(".", "console")
	cs, _ := c.Spec()
	if len(cs.Linux.MaskedPaths) != 0 {
		t.Errorf("console masks %v despite systempaths=unconfined", cs.Linux.MaskedPaths)
	}
}

func TestSpecSecurityOpt(t *testing.T) {
	d := parseOne(t, `services:
  x:
    command: [/x]
    security_opt: [seccomp=unconfined, "no-new-privileges:false"]
    x-berth: {rootfs: {go: {/x: ./x}}}
`)
	s, _ := d.Spec()
	if s.Linux.Seccomp != nil || s.Process.NoNewPrivileges {
		t.Errorf("seccomp %v, no_new_privileges %v: want neither", s.Linux.Seccomp != nil, s.Process.NoNewPrivileges)
	}
}

func TestSpecLoggingDevice(t *testing.T) {
	d, _ := Load(".", "logging")
	s, _ := d.Spec()
	if len(s.Linux.Devices) != 1 || s.Linux.Devices[0].Path != "/dev/kmsg" || s.Linux.Devices[0].Major != 1 || s.Linux.Devices[0].Minor != 11 {
		t.Errorf("devices = %+v", s.Linux.Devices)
	}
	dirs, files := Mountpoints(s)
	for _, want := range []string{"/var/log", "/run/berth/log", "/proc", "/dev", "/sys"} {
		if !slices.Contains(dirs, want) {
			t.Errorf("mountpoint dirs %v lack %s", dirs, want)
		}
	}
	if !slices.Contains(files, "/dev/kmsg") {
		t.Errorf("mountpoint files %v lack /dev/kmsg", files)
	}
}

// A built-in's file: one service, named as its folder.
func TestLoadNameMismatch(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bad"), 0o755)
	os.WriteFile(filepath.Join(dir, "bad", "service.yaml"), []byte(`services:
  other: {command: [/x], x-berth: {rootfs: {go: {/x: ./x}}}}
`), 0o644)
	_, err := Load(dir, "bad")
	want := filepath.Join(dir, "bad", "service.yaml") + `: services: expected exactly one service, named "bad" as its folder, got ["other"]`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestParseBind(t *testing.T) {
	b, err := ParseBind("/dev:/dev:rbind,ro")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Bind{Source: "/dev", Target: "/dev", ReadOnly: true, Recursive: true}, b); diff != "" {
		t.Error(diff)
	}
	b, err = ParseBind("/mnt:/mnt:rslave,rw")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Bind{Source: "/mnt", Target: "/mnt", Recursive: true, Slave: true}, b); diff != "" {
		t.Error(diff)
	}
	b, err = ParseBind("/var/lib/kubelet:/var/lib/kubelet:rshared")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Bind{Source: "/var/lib/kubelet", Target: "/var/lib/kubelet", Recursive: true, Shared: true}, b); diff != "" {
		t.Error(diff)
	}
	if _, err := ParseBind("/a:/a:rslave,rshared"); err == nil || !strings.Contains(err.Error(), `"/a:/a:rslave,rshared": expected one of rslave and rshared`) {
		t.Errorf("rslave and rshared: %v", err)
	}
	if _, err := ParseBind("/mnt:/mnt:shared"); err == nil || !strings.Contains(err.Error(), `unknown option "shared" in "/mnt:/mnt:shared" (expected ro, rw, rbind, rslave, rshared)`) {
		t.Errorf("unknown option: %v", err)
	}
}

// The user containerd runs users' containers: privileged, in the host's
// network and PID namespaces, in mount and cgroup namespaces of its own; it
// binds the host's /usr/bin (containerd, shim, runc), its store and state,
// and the folders users bind from. It does not see the system
// containerd's folder.
func TestSpecUserContainerd(t *testing.T) {
	d, err := Load(".", "containerd")
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if !d.Privileged || s.Linux.Seccomp != nil || len(s.Process.Capabilities.Bounding) < 40 {
		t.Errorf("privileged %v, seccomp %v, %d caps: want a privileged runtime", d.Privileged, s.Linux.Seccomp != nil, len(s.Process.Capabilities.Bounding))
	}
	var ns []string
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, string(n.Type))
	}
	if diff := cmp.Diff([]string{"mount", "cgroup"}, ns); diff != "" {
		t.Errorf("own namespaces (-want +got)\n%s", diff)
	}
	if s.Process.OOMScoreAdj == nil || *s.Process.OOMScoreAdj != -800 {
		t.Errorf("oom_score_adj %v, want -800 (as config.toml's oom_score)", s.Process.OOMScoreAdj)
	}
	if r := s.Linux.Resources; r.Memory != nil || r.Pids != nil {
		t.Errorf("limits %+v %+v: users' containers nest in the cgroup, want none", r.Memory, r.Pids)
	}
	mounts := map[string]string{}
	for _, m := range s.Mounts {
		mounts[m.Destination] = m.Source + " " + strings.Join(m.Options, ",")
	}
	for dst, want := range map[string]string{
		"/usr/bin":        "/usr/bin bind,ro",
		"/run/containerd": "/run/containerd bind,rw",
		"/var":            "/var bind,rw",
		"/home":           "/home bind,rw",
		"/mnt":            "/mnt rbind,rw,rslave",
		"/sys/fs/cgroup":  "cgroup nosuid,noexec,nodev,rw",
	} {
		if mounts[dst] != want {
			t.Errorf("mount %s: %q, want %q", dst, mounts[dst], want)
		}
	}
	for dst := range mounts {
		if strings.Contains(dst, "system-containerd") {
			t.Errorf("the user containerd sees %s", dst)
		}
	}
	// Its program is not hidden by the host's /usr/bin.
	if cmd := s.Process.Args[0]; strings.HasPrefix(cmd, "/usr/bin/") {
		t.Errorf("command %s is under the bind of the host's /usr/bin", cmd)
	}
}

// A program of the host bound alone (the console's ctr) needs a file to
// be mounted on in the rootfs; a folder of the host, a folder.
func TestMountpointsHostPrograms(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{}, Mounts: []specs.Mount{
		{Destination: "/usr/bin/ctr", Type: "bind", Source: "/usr/bin/ctr"},
		{Destination: "/usr/sbin/e2fsck", Type: "bind", Source: "/usr/sbin/e2fsck"},
		{Destination: "/usr/bin", Type: "bind", Source: "/usr/bin"},
		{Destination: "/run/containerd", Type: "bind", Source: "/run/containerd"},
	}}
	dirs, files := Mountpoints(s)
	if diff := cmp.Diff([]string{"/usr/bin/ctr", "/usr/sbin/e2fsck"}, files); diff != "" {
		t.Errorf("file mount points (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/run/containerd", "/usr/bin"}, dirs); diff != "" {
		t.Errorf("folder mount points (-want +got)\n%s", diff)
	}
}

// The console runs ctr against the user containerd: it binds the host's
// ctr and the user containerd's folder, and nothing of the system one.
func TestSpecConsoleSeesUserContainerd(t *testing.T) {
	d, err := Load(".", "console")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := d.Spec()
	got := map[string]string{}
	for _, m := range s.Mounts {
		got[m.Destination] = m.Source
		if strings.Contains(m.Source, "system-containerd") || m.Source == "/run" {
			t.Errorf("the console binds %s", m.Source)
		}
	}
	if got["/usr/bin/ctr"] != "/usr/bin/ctr" || got["/run/containerd"] != "/run/containerd" {
		t.Errorf("console binds ctr from %q and /run/containerd from %q", got["/usr/bin/ctr"], got["/run/containerd"])
	}
}
