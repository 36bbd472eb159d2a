package services

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// x-berth.console and x-berth.build decode, and their problems are each
// reported with the field's path and line.
func TestCatalogueKeys(t *testing.T) {
	d := parseOne(t, `services:
  docker:
    image: berth.local/docker
    x-berth:
      build: {debs: docker, package: docker.io, go: {/usr/bin/x: ./cmd/x}, exclude: [/usr/share/doc]}
      console: {persist: [/home, /root]}
`)
	want := Berth{
		Build:   &ImageBuild{Debs: "docker", Package: "docker.io", Go: map[string]string{"/usr/bin/x": "./cmd/x"}, Exclude: []string{"/usr/share/doc"}},
		Console: &Console{Persist: []string{"/home", "/root"}},
	}
	if diff := cmp.Diff(want, d.XBerth); diff != "" {
		t.Errorf("x-berth (-want +got):\n%s", diff)
	}
	// A digest pins an image.
	parseOne(t, "services:\n  c:\n    image: docker.io/library/ubuntu:24.04@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n")

	_, err := Parse([]byte(`services:
  docker:
    image: berth.local/docker:1
    x-berth:
      build: {debs: docker, go: {usr/bin/x: cmd/x}, exclude: [x]}
  qga:
    image: docker.io/qga
    x-berth:
      build: {package: qemu-guest-agent}
  shell:
    command: [/bin/sh]
    x-berth:
      rootfs: {go: {/bin/sh: ./cmd/sh}}
      console: {persist: [/home, home, /opt/../etc, /home, /]}
`), "cat.yaml")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`cat.yaml:3: services.docker.image: an image made by x-berth.build is named by the build: expected berth.local/docker (no tag: the build tags it), got "berth.local/docker:1"`,
		`cat.yaml:5: services.docker.x-berth.build.package: missing (expected the package of set docker whose version tags the image)`,
		`cat.yaml:5: services.docker.x-berth.build.go."usr/bin/x": expected an absolute install path`,
		`services.docker.x-berth.build.go."usr/bin/x": expected a package path of this module such as ./cmd/hostctl, got "cmd/x"`,
		`cat.yaml:5: services.docker.x-berth.build.exclude[0]: expected an absolute path, got "x"`,
		`cat.yaml:7: services.qga.image: an image made by x-berth.build is named by the build: expected berth.local/qga (no tag: the build tags it), got "docker.io/qga"`,
		`cat.yaml:9: services.qga.x-berth.build: empty (expected debs, go or both)`,
		`cat.yaml:9: services.qga.x-berth.build.package: a package's version tags the image only with debs: drop package or add debs`,
		`cat.yaml:14: services.shell.x-berth.console: a console is a distribution's image: expected image, not x-berth.rootfs`,
		`cat.yaml:14: services.shell.x-berth.console.persist[1]: expected an absolute, clean path below / such as /home, got "home"`,
		`cat.yaml:14: services.shell.x-berth.console.persist[2]: expected an absolute, clean path below / such as /home, got "/opt/../etc"`,
		`cat.yaml:14: services.shell.x-berth.console.persist[3]: /home is listed twice`,
		`cat.yaml:14: services.shell.x-berth.console.persist[4]: expected an absolute, clean path below / such as /home, got "/"`,
	} {
		if !strings.Contains(err.Error(), want+"\n") && !strings.HasSuffix(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(err)
	}
}
