package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/services"
)

// consoleTestHost is a test host with the repository's catalogue, a
// built-in console bundle and its run folder in temporary folders, and
// berth.console set to console.
func consoleTestHost(t *testing.T, console string) (*host, func() string) {
	t.Helper()
	h, out := testHost(t, "")
	var cfg cloudconfig.Config
	cfg.Berth.Console = console
	h.cfg.merged = &cloudconfig.Merged{Config: cfg}
	for _, v := range []struct {
		p   *string
		val string
	}{{&catalogueAt, "../" + services.CatalogueFolder}, {&servicesAt, t.TempDir()}, {&consoleRunDir, t.TempDir()}} {
		old := *v.p
		*v.p = v.val
		t.Cleanup(func() { *v.p = old })
	}
	dir := filepath.Join(servicesAt, "console")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"ociVersion":"1.2.0","process":{"args":["/usr/bin/berth-console"]},"root":{"path":"/usr/lib/berth/services/console/rootfs"}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "service.json"), []byte(`{"name":"console","notify":true,"restart":"always"}`), 0o644)
	return h, out
}

// At boot the chosen console starts when it can; when it cannot (here: no
// image store, as with an image never pulled), the built-in starts, and
// the reason is on the consoles, in hostctl console list and in hostctl
// config status.
func TestBootConsoleFallsBack(t *testing.T) {
	h, out := consoleTestHost(t, "ubuntu")
	svc, err := h.bootConsole(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if svc.Name != "console" || !cmp.Equal(svc.Env, []string{"BERTH_AUTOLOGIN=", "BERTH_CONSOLE=console"}) {
		t.Errorf("boot console %s, env %q; want the built-in, named console", svc.Name, svc.Env)
	}
	const reason = "console ubuntu cannot start: the system containerd is not running; the default console runs instead"
	if !strings.Contains(out(), "berth: "+reason+"\n") {
		t.Errorf("console lacks the reason %q:\n%s", reason, out())
	}
	if got := h.cfg.status.Warnings; !cmp.Equal(got, []string{"berth.console: " + reason}) {
		t.Errorf("config status warnings %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(consoleRunDir, "active")); string(b) != "console\n" {
		t.Errorf("active %q, want console", b)
	}
	list, _ := h.Consoles(context.Background())
	var rows []string
	for _, c := range list.Consoles {
		rows = append(rows, c.Name+" "+c.Service+" "+c.Image+map[bool]string{true: " chosen"}[c.Chosen]+map[bool]string{true: " running"}[c.Running])
	}
	want := []string{"default console built-in running", "alpine console-alpine docker.io/library/alpine:3.20",
		"debian console-debian docker.io/library/debian:bookworm", "ubuntu console-ubuntu docker.io/library/ubuntu:24.04 chosen"}
	if d := cmp.Diff(want, rows); d != "" || list.Reason != reason {
		t.Errorf("console list (-want +got):\n%s\nreason %q", d, list.Reason)
	}
}

// The default console starts as the built-in with no reason.
func TestBootConsoleDefault(t *testing.T) {
	h, out := consoleTestHost(t, "")
	svc, err := h.bootConsole(context.Background())
	if err != nil || svc.Name != "console" {
		t.Fatalf("boot console %q, %v", svc.Name, err)
	}
	if o := out(); o != "" || len(h.cfg.status.Warnings) != 0 {
		t.Errorf("the default console says something: %q, %q", o, h.cfg.status.Warnings)
	}
}

// Enabling a console by a name that is none changes nothing and says
// which consoles there are.
func TestEnableConsoleUnknown(t *testing.T) {
	h, _ := consoleTestHost(t, "")
	_, err := h.EnableConsole(context.Background(), "fedora")
	if err == nil || err.Error() != `no console "fedora" (known: default, alpine, debian, ubuntu)` {
		t.Errorf("enable fedora: %v", err)
	}
	// An image that cannot be had: the store is not there; nothing is set.
	_, err = h.EnableConsole(context.Background(), "ubuntu")
	if err == nil || err.Error() != "the system containerd is not running" || h.cfg.merged.Config.Berth.Console != "" {
		t.Errorf("enable without a store: %v, berth.console %q", err, h.cfg.merged.Config.Berth.Console)
	}
}

// The catalogue's consoles are services hostctl service lists, but never
// in the boot set: berth.console picks the console.
func TestConsolesOutOfTheSet(t *testing.T) {
	cat := append(testCatalogue, serviceEntry{Name: "console-ubuntu", Source: api.SourceCatalogue})
	set, _ := serviceSet(cat, cloudconfig.Services{Enable: []string{"console-ubuntu"}}, nil)
	if d := cmp.Diff([]string{"udev", "logging", "network", "console"}, set); d != "" {
		t.Errorf("set (-want +got):\n%s", d)
	}
	h, _ := consoleTestHost(t, "")
	var names []string
	for _, e := range h.catalogue() {
		names = append(names, e.Name+" "+e.Source)
	}
	// Then the catalogue's services with an image (imageservices.go).
	if d := cmp.Diff([]string{"console built-in", "console-alpine catalogue", "console-debian catalogue", "console-ubuntu catalogue",
		"docker catalogue", "hyperv-daemons catalogue", "k3s catalogue", "open-vm-tools catalogue", "qemu-guest-agent catalogue"}, names); d != "" {
		t.Errorf("catalogue (-want +got):\n%s", d)
	}
}

// A distribution console's root gets the host's users merged into its
// own, the host's hostname and hosts, resolv.conf pointing at the network
// service's, hostctl on the PATH, and the tools' mountpoint.
func TestPrepareConsoleRoot(t *testing.T) {
	root, etc := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/bash\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/resolv.conf"), []byte("nameserver 8.8.8.8\n"), 0o644)
	for f, c := range map[string]string{"passwd": "root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n",
		"group": "root:x:0:\n", "shadow": "root:*:1::::::\n", "hostname": "berth1\n", "hosts": "127.0.0.1\tlocalhost\n",
		"berth/profile.sh": "export HTTP_PROXY='http://p:1'\n"} {
		os.MkdirAll(filepath.Dir(filepath.Join(etc, f)), 0o755)
		os.WriteFile(filepath.Join(etc, f), []byte(c), 0o644)
	}
	if err := prepareConsoleRoot(root, etc); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{
		"etc/passwd":             "_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\nroot:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n",
		"etc/group":              "root:x:0:\n",
		"etc/shadow":             "root:*:1::::::\n",
		"etc/hostname":           "berth1\n",
		"etc/profile.d/berth.sh": "export HTTP_PROXY='http://p:1'\n",
	} {
		if b, err := os.ReadFile(filepath.Join(root, f)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", f, b, err, want)
		}
	}
	for f, want := range map[string]string{"etc/resolv.conf": "/run/berth/network/resolv.conf", "usr/local/bin/hostctl": "/.berth/usr/bin/hostctl"} {
		if got, err := os.Readlink(filepath.Join(root, f)); err != nil || got != want {
			t.Errorf("%s -> %q, %v; want %q", f, got, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, ".berth")); err != nil || !fi.IsDir() {
		t.Errorf("no /.berth mountpoint: %v", err)
	}
	// An image whose /etc/shadow is a link does not get the host's
	// written through it.
	outside := filepath.Join(t.TempDir(), "target")
	os.WriteFile(outside, []byte("mine\n"), 0o600)
	os.Remove(filepath.Join(root, "etc/shadow"))
	os.Symlink(outside, filepath.Join(root, "etc/shadow"))
	if err := prepareConsoleRoot(root, etc); err == nil || !strings.Contains(err.Error(), "a symbolic link on the way") {
		t.Errorf("a linked shadow: %v", err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "mine\n" {
		t.Errorf("written through the link: %q", b)
	}
}

// A catalogue console runs the tools' berth-console, with the tools
// read-only at /.berth, its persist folders from the host, and sshd's
// configuration and keys.
func TestAddConsoleMounts(t *testing.T) {
	d, err := services.LoadEntry("../"+services.CatalogueFolder, "console-ubuntu")
	if err != nil {
		t.Fatal(err)
	}
	spec := &specs.Spec{Process: &specs.Process{Args: []string{"/bin/bash", "-l"}}}
	addConsoleMounts(spec, d, hostPaths{tools: "/usr/lib/berth/services/console/rootfs", exists: func(p string) bool { return p == "/usr/bin/ctr" }})
	if d := cmp.Diff([]string{"/.berth/usr/bin/berth-console"}, spec.Process.Args); d != "" {
		t.Errorf("args (-want +got):\n%s", d)
	}
	var got []string
	for _, m := range spec.Mounts {
		got = append(got, m.Source+":"+m.Destination+":"+strings.Join(m.Options, ","))
	}
	want := []string{"/usr/lib/berth/services/console/rootfs:/.berth:rbind,ro", "/home:/home:rbind,rw", "/root:/root:rbind,rw", "/opt:/opt:rbind,rw",
		"/etc/ssh:/etc/ssh:rbind,ro", "/var/lib/berth/ssh:/var/lib/berth/ssh:rbind,rw", "/usr/bin/ctr:/usr/local/bin/ctr:rbind,ro", "/run/containerd:/run/containerd:rbind,rw"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("mounts (-want +got):\n%s", d)
	}
}
