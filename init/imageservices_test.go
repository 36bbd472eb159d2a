package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/services"
)

// imageCatalogue points the image catalogue at a folder with docker, a
// console and a bad entry.
func imageCatalogue(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for name, y := range map[string]string{
		"docker":         "services:\n  docker:\n    image: berth.local/docker\n    command: [/usr/sbin/dockerd]\n",
		"console-ubuntu": "services:\n  console-ubuntu:\n    image: ubuntu:24.04\n",
		"broken":         "services:\n  broken:\n    image: x\n    nosuchkey: 1\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := catalogueAt
	catalogueAt = dir
	t.Cleanup(func() { catalogueAt = old })
}

// hostctl service list knows the catalogue's image services after the
// built-ins and the consoles (once each), leaving a bad entry out, with
// their images.
func TestImageEntriesInCatalogue(t *testing.T) {
	h, _ := servicesHost(t, nil)
	imageCatalogue(t)
	var got []string
	for _, e := range h.catalogue() {
		got = append(got, e.Name+" "+e.Source+" "+e.Image)
	}
	want := []string{"udev built-in built-in", "network built-in built-in", "console built-in built-in", "extra built-in built-in", "console-ubuntu catalogue ubuntu:24.04", "docker catalogue berth.local/docker"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("catalogue (-want +got)\n%s", diff)
	}
	if st, err := h.ServiceStatus("docker"); err != nil || st.Enabled || st.Image != "berth.local/docker" {
		t.Errorf("docker's status: %+v %v, want disabled with its image", st, err)
	}
}

// enable of an image service first makes sure its image can be had: with
// no containerd to hold it, the enable fails and local.yaml is unchanged.
func TestEnableImageServiceNeedsImage(t *testing.T) {
	h, rt := servicesHost(t, nil)
	imageCatalogue(t)
	local := func() string { b, _ := os.ReadFile(h.cfg.store.LocalPath()); return string(b) }
	before := local()
	_, err := h.EnableService(context.Background(), "docker", true, api.ServiceControl{Now: true})
	if !errors.Is(err, errkind.ErrUnavailable) || !strings.Contains(err.Error(), "the system containerd is not running") {
		t.Errorf("enable docker without containerd: %v, want unavailable", err)
	}
	if got := local(); got != before || rt.count("docker") != 0 {
		t.Errorf("a failed enable changed local.yaml (%q, was %q) or started docker %d times", got, before, rt.count("docker"))
	}
	// A dry run only says what would change.
	res, err := h.EnableService(context.Background(), "docker", true, api.ServiceControl{DryRun: true})
	if err != nil || res.Config == nil || len(res.Config.Changes) != 1 || res.Config.Changes[0].Key != "berth.services.enable" {
		t.Errorf("enable --dry-run docker: %+v %v", res, err)
	}
}

// A bind source folder under /var/lib or /run is made when missing; a
// file, or a folder elsewhere, is not.
func TestMakeBindSources(t *testing.T) {
	root := t.TempDir()
	lib, run, other := filepath.Join(root, "var/lib"), filepath.Join(root, "run"), filepath.Join(root, "srv")
	spec := &specs.Spec{Mounts: []specs.Mount{
		{Type: "bind", Source: lib + "/docker", Destination: "/var/lib/docker", Options: []string{"rbind", "rw"}},
		{Type: "bind", Source: run + "/docker", Destination: "/run/docker", Options: []string{"bind", "rshared"}},
		{Type: "bind", Source: run + "/x/daemon.json", Destination: "/etc/daemon.json", Options: []string{"bind", "ro"}},
		{Type: "bind", Source: other + "/data", Destination: "/data", Options: []string{"bind"}},
		{Type: "tmpfs", Source: "tmpfs", Destination: "/tmp"},
	}}
	if err := makeBindSources(spec, lib, run); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{lib + "/docker": true, run + "/docker": true, run + "/x/daemon.json": false, run + "/x": false, other + "/data": false} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", p, err == nil, want)
		}
	}
	// A dangling link: not there, and no folder can be made in its place.
	os.Symlink(filepath.Join(root, "nowhere", "at-all"), filepath.Join(root, "dangling"))
	spec.Mounts = []specs.Mount{{Type: "bind", Source: filepath.Join(root, "dangling"), Destination: "/sub", Options: []string{"bind"}}}
	if err := makeBindSources(spec, root); err == nil || !strings.Contains(err.Error(), "for its bind on /sub") {
		t.Errorf("a source it cannot make: %v", err)
	}
}

// dockerInputs changes when daemon.json or proxy.env does, and only then.
func TestDockerInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(f, data string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), []byte(data), 0o644)
	}
	none := dockerInputs(dir)
	write("berth/docker/daemon.json", "{}\n")
	write("berth/proxy.env", "# none\n")
	first := dockerInputs(dir)
	if first == none {
		t.Error("dockerInputs did not change when the files came")
	}
	write("hostname", "other\n")
	if dockerInputs(dir) != first {
		t.Error("dockerInputs changed with a file dockerd does not read")
	}
	write("berth/proxy.env", "HTTP_PROXY=http://p:1\n")
	second := dockerInputs(dir)
	if second == first {
		t.Error("dockerInputs did not change with proxy.env")
	}
	write("berth/docker/daemon.json", `{"registry-mirrors": ["http://m"]}`)
	if dockerInputs(dir) == second {
		t.Error("dockerInputs did not change with daemon.json")
	}
}

// berth.k3s reaches the k3s service's spec: K3S_URL and K3S_TOKEN in its
// environment, and k3s agent in place of the entry's server; without a URL
// it stays a server, with the token; other entries are left as they are.
func TestK3sFromConfig(t *testing.T) {
	d, err := services.LoadEntry("../"+services.CatalogueFolder, "k3s")
	if err != nil {
		t.Fatal(err)
	}
	spec := func(k3s map[string]any) *specs.Spec {
		t.Helper()
		m, err := cloudconfig.Merge(cloudconfig.Layer{Name: cloudconfig.LayerDatasource, Source: "user-data", Tree: map[string]any{"berth": map[string]any{"k3s": k3s}}})
		if err != nil {
			t.Fatal(err)
		}
		h := &host{cfg: &hostConfig{merged: m}}
		s, err := h.withConfig(d).SpecFor(t.TempDir(), ocispec.ImageConfig{Entrypoint: []string{"/bin/k3s"}, Env: []string{"PATH=/bin"}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := spec(map[string]any{"url": "https://10.0.0.1:6443", "token": "K10abc::server:xyz"})
	if !slices.Equal(s.Process.Args, []string{"/bin/k3s", "agent"}) {
		t.Errorf("args %q, want /bin/k3s agent", s.Process.Args)
	}
	for _, want := range []string{"K3S_URL=https://10.0.0.1:6443", "K3S_TOKEN=K10abc::server:xyz", "K3S_KUBECONFIG_MODE=600"} {
		if !slices.Contains(s.Process.Env, want) {
			t.Errorf("env lacks %s: %q", want, s.Process.Env)
		}
	}
	s = spec(map[string]any{"token": "secret"})
	if !slices.Equal(s.Process.Args, []string{"/bin/k3s", "server"}) || !slices.Contains(s.Process.Env, "K3S_TOKEN=secret") {
		t.Errorf("a server with a token: args %q env %q", s.Process.Args, s.Process.Env)
	}
	if slices.ContainsFunc(s.Process.Env, func(e string) bool { return strings.HasPrefix(e, "K3S_URL=") }) {
		t.Errorf("a server got K3S_URL: %q", s.Process.Env)
	}
	if docker := (&host{cfg: &hostConfig{}}).withConfig(&services.Definition{Name: "docker"}); docker.Name != "docker" || len(docker.Environment) != 0 {
		t.Errorf("docker changed: %+v", docker)
	}
}
