package services

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// catalogue is every entry of the catalogue, sorted.
var catalogue = []string{"console-alpine", "console-debian", "console-ubuntu", "docker", "hyperv-daemons", "k3s", "open-vm-tools", "qemu-guest-agent"}

// Every catalogue entry parses and validates, and they are the issue's.
func TestCatalogue(t *testing.T) {
	defs, err := LoadCatalogue("catalogue")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range defs {
		names = append(names, d.Name)
		if d.XBerth.Description == "" {
			t.Errorf("%s: no x-berth.description", d.Name)
		}
		isConsole := strings.HasPrefix(d.Name, "console-")
		if (d.XBerth.Console != nil) != isConsole {
			t.Errorf("%s: x-berth.console is %v", d.Name, d.XBerth.Console)
		}
		if isConsole && !cmp.Equal(d.XBerth.Console.Persist, []string{"/home", "/root", "/opt"}) {
			t.Errorf("%s: persist %q, want at least /home, /root, /opt", d.Name, d.XBerth.Console.Persist)
		}
	}
	if diff := cmp.Diff(catalogue, names); diff != "" {
		t.Errorf("catalogue entries (-want +got):\n%s", diff)
	}
	// The entries made from Debian packages are built; the others pulled.
	for _, d := range defs {
		built := d.XBerth.Build != nil
		want := d.Name == "docker" || d.Name == "qemu-guest-agent" || d.Name == "open-vm-tools" || d.Name == "hyperv-daemons"
		if built != want {
			t.Errorf("%s: x-berth.build given %v, want %v", d.Name, built, want)
		}
	}
}

// A bad entry is reported with its file and field, and so is every other.
func TestLoadCatalogueErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"a.yaml":    "services:\n  a:\n    image: x\n    restart: sometimes\n",
		"b.yaml":    "services:\n  c:\n    image: x\n",
		"d.yaml":    "services:\n  d:\n    command: [/x]\n    x-berth: {rootfs: {go: {/x: ./x}}}\n",
		"ok.yaml":   "services:\n  ok:\n    image: x\n",
		"notes.txt": "not an entry",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := LoadCatalogue(dir)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		filepath.Join(dir, "a.yaml") + `:4: services.a.restart: expected always, on-failure, "no" or unless-stopped, got "sometimes"`,
		filepath.Join(dir, "b.yaml") + `: services: expected exactly one service, named "b" as its file, got ["c"]`,
		filepath.Join(dir, "d.yaml") + `:4: services.d.x-berth.rootfs: a catalogue entry has an image (a rootfs is a built-in's): expected image, or x-berth.build for an image the build makes`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"b.yaml", "d.yaml"} {
		os.Remove(filepath.Join(dir, f))
	}
	defs, err := LoadCatalogue(dir)
	if err != nil || len(defs) != 1 || defs[0].Name != "ok" {
		t.Errorf("LoadCatalogue = %v, %v; want the one entry ok", defs, err)
	}
}

// goldenImage is the image config every catalogue entry's spec is made
// with: what a pulled image's config gives, fixed.
var goldenImage = ocispec.ImageConfig{
	Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"},
	Entrypoint: []string{"/bin/entrypoint"},
	Cmd:        []string{"--default"},
	WorkingDir: "/",
}

// The OCI spec of every catalogue entry, made as PID 1 makes it when the
// image is pulled (SpecFor), from a fixed snapshot path and image config.
func TestCatalogueSpecGolden(t *testing.T) {
	defs, err := LoadCatalogue("catalogue")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		t.Run(d.Name, func(t *testing.T) {
			s, err := d.SpecFor("/var/lib/containerd/snapshots/1/fs", goldenImage)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.MarshalIndent(s, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "catalogue/"+d.Name+".spec.json", append(b, '\n'))
		})
	}
}
