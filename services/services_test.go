package services

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadShipped(t *testing.T) {
	for _, name := range []string{"udev", "logging", "network", "console"} {
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
		t.Errorf("privileged console has %d caps", len(cs.Process.Capabilities.Bounding))
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

func TestValidateErrors(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bad"), 0o755)
	os.WriteFile(filepath.Join(dir, "bad", "service.yaml"), []byte(`name: other
rootfs: {go: {usr/bin/x: services/x}}
command: [bin/x]
restart: sometimes
capabilities: [NET_ADMIN]
host_namespaces: [mnt]
binds: [/a, "/a:/b:weird"]
devices: [/dev/sda]
`), 0o644)
	_, err := Load(dir, "bad")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`name: is "other" but the folder is "bad"`,
		`command[0]: expected an absolute path, got "bin/x"`,
		`restart: expected always, on-failure or never, got "sometimes"`,
		`capabilities[0]: expected a capability such as CAP_NET_ADMIN, got "NET_ADMIN"`,
		`host_namespaces[0]: expected net, pid, ipc or uts, got "mnt"`,
		`binds[0]: expected SRC:DST[:OPTS], got "/a"`,
		`binds[1]: unknown option "weird"`,
		`devices[0]: unknown device "/dev/sda"`,
		`rootfs.go."usr/bin/x": expected an absolute install path`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if !strings.Contains(err.Error(), filepath.Join(dir, "bad", "service.yaml")) {
		t.Errorf("error does not name the file: %v", err)
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
	if _, err := ParseBind("/mnt:/mnt:shared"); err == nil || !strings.Contains(err.Error(), `unknown option "shared" in "/mnt:/mnt:shared" (expected ro, rw, rbind, rslave)`) {
		t.Errorf("unknown option: %v", err)
	}
}
