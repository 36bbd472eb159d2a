//go:build qemu

package test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-os/berth/build"
	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/image"
	"github.com/berth-os/berth/build/progress"
)

// Two builds of the same input give the same bytes: the second build runs
// with an empty cache except for the downloads and the kernel stage, and
// every artifact's sha256 must match the first build's.
func TestReproducible(t *testing.T) {
	t.Parallel()
	artifact(t, "berth.iso") // fails the test if the main build failed
	spec, err := image.Load(filepath.Join(moduleRoot, "images", "berth.yaml"), filepath.Join(moduleRoot, "services"))
	if err != nil {
		t.Fatal(err)
	}
	main, err := cache.Open(cache.DefaultRoot())
	if err != nil {
		t.Fatal(err)
	}
	forkDir, err := os.MkdirTemp("", "berth-repro-cache-")
	if err != nil {
		t.Fatal(err)
	}
	defer cache.RemoveAll(forkDir)
	fork, err := main.Fork(forkDir, "dl", "stage/kernel")
	if err != nil {
		t.Fatal(err)
	}
	res, err := build.Build(context.Background(), build.Options{Spec: spec, OutDir: t.TempDir(), Cache: fork, Progress: &progress.Plain{W: os.Stderr}, ModuleRoot: moduleRoot})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Manifest.Artifacts) != len(mainManifest.Artifacts) {
		t.Fatalf("second build made %d artifacts, first %d", len(res.Manifest.Artifacts), len(mainManifest.Artifacts))
	}
	for i, a := range res.Manifest.Artifacts {
		b := mainManifest.Artifacts[i]
		if a != b {
			t.Errorf("%s differs between builds: %s (%d bytes) vs %s (%d bytes)", a.Name, b.SHA256, b.Size, a.SHA256, a.Size)
		} else {
			t.Logf("%s: same sha256 %s", a.Name, a.SHA256)
		}
	}
}
