package build

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/build/deb"
	"github.com/berth-os/berth/build/image"
	"github.com/berth-os/berth/build/tree"
	"github.com/berth-os/berth/services"
)

// Every catalogue image: its tree, step by step, and the references and
// config it gets from the entry and the lock.
func TestCatalogueImages(t *testing.T) {
	defs, err := services.LoadCatalogue(filepath.Join(repo, services.CatalogueFolder))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := deb.LoadLock(filepath.Join(repo, "images", "packages.lock"))
	if err != nil {
		t.Fatal(err)
	}
	j := &job{lock: lock, epoch: DefaultEpoch}
	var got []string
	for _, d := range defs {
		if d.XBerth.Build == nil {
			continue
		}
		img, err := j.imageSpec(d)
		if err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
		got = append(got, fmt.Sprintf("# %s: %s", d.Name, strings.Join(img.Refs, " ")),
			fmt.Sprintf("config: entrypoint %q cmd %q env %q", img.Config.Entrypoint, img.Config.Cmd, img.Config.Env))
		got = append(got, imageLayout(d).Lines()...)
		got = append(got, "")
	}
	golden(t, "catalogue-images.golden", got)
	// An exclusion the packages no longer match fails the build naming
	// the file and the field it was written in.
	found := false
	for _, d := range defs {
		if d.Name != "docker" {
			continue
		}
		for _, st := range imageLayout(d) {
			if x, ok := st.(tree.Exclude); ok && x.Path == "/usr/bin/ctr" {
				found = true
				if want := d.Source + ": services.docker.x-berth.build.exclude[4]"; x.Field != want || !strings.HasSuffix(d.Source, "docker.yaml") {
					t.Errorf("docker's exclude of /usr/bin/ctr is said to be at %q, want %q", x.Field, want)
				}
			}
		}
	}
	if !found {
		t.Error("docker's layout has no exclude step for /usr/bin/ctr")
	}
}

// The stage is in the plan only when the spec asks for images, after the
// build id and before the outputs.
func TestCatalogueImagesStage(t *testing.T) {
	names := func(spec *image.Spec) []string {
		var out []string
		for _, s := range plan(spec, false) {
			out = append(out, s.Name)
		}
		return out
	}
	if got := names(&image.Spec{Outputs: []string{"iso"}}); strings.Contains(strings.Join(got, ","), "catalogue") {
		t.Errorf("stages without catalogue_images: %q", got)
	}
	got := strings.Join(names(&image.Spec{Outputs: []string{"iso"}, CatalogueImages: []string{"docker"}}), ",")
	if !strings.Contains(got, "build id,catalogue images,output iso") {
		t.Errorf("stages with catalogue_images: %s", got)
	}
	// --images-only: no kernel, no root, no pruning of what they cached.
	var only []string
	for _, s := range imagesPlan() {
		only = append(only, s.Name)
	}
	if got := strings.Join(only, ","); got != "inputs,go programs,catalogue images,manifest" {
		t.Errorf("images-only stages: %s", got)
	}
}

// A package the entry names that is not in its set is an error naming it.
func TestCatalogueImageVersion(t *testing.T) {
	lock := &deb.Lock{Packages: []deb.Pinned{{Name: "a", Version: "1:2.0+x"}}, Sets: map[string][]string{"s": {"a"}}}
	j := &job{lock: lock, epoch: 1}
	d := &services.Definition{Name: "x", Image: "berth.local/x", XBerth: services.Berth{Build: &services.ImageBuild{Debs: "s", Package: "a"}}}
	img, err := j.imageSpec(d)
	if err != nil || strings.Join(img.Refs, " ") != "berth.local/x:1_2.0_x berth.local/x:latest" || img.Annotations["org.opencontainers.image.version"] != "1:2.0+x" {
		t.Errorf("imageSpec = %+v, %v", img, err)
	}
	d.XBerth.Build.Package = "b"
	if _, err := j.imageSpec(d); err == nil || err.Error() != "x-berth.build.package: b is not in package set s of the lock" {
		t.Errorf("unknown package: %v", err)
	}
}
