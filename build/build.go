// Package build is Berth's image pipeline: from an image spec it builds the
// kernel, the Go programs, the service bundles, the root squashfs and the
// initramfs, then writes every output format through an explicit table of
// writers. The pipeline is data: a list of named stages (plan.go), and the
// root filesystem is a list of layout steps (rootfs.go); tests compare both
// with golden lists.
//
// Every stage is cached by a content hash of its inputs, so a rebuild with
// nothing changed does no work, and the same inputs give the same bytes
// wherever, whenever and by whomever the build runs. A successful build
// prunes the cache of what it no longer needs.
package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/hosttool"
	"github.com/berth-os/berth/build/image"
	"github.com/berth-os/berth/build/progress"
)

// DefaultEpoch is the time stamp of every file in an image whose spec sets
// none (2025-01-01T00:00:00Z).
const DefaultEpoch = 1735689600

// Options say what to build and where.
type Options struct {
	Spec       *image.Spec
	OutDir     string
	Cache      *cache.Cache
	Progress   progress.Reporter
	ModuleRoot string // the repository root: go.mod, services/, images/
	// NoPrune leaves the cache as it is after the build; otherwise what
	// cache.DefaultPolicy does not keep is removed.
	NoPrune bool
	// ImagesOnly builds only the spec's catalogue images (and their Go
	// programs), and never prunes: the image's other parts stay cached.
	ImagesOnly bool
}

// Result is a finished build.
type Result struct {
	Manifest Manifest
	// Files maps artifact names to their paths in OutDir.
	Files map[string]string
	// Used lists the cache entries the build used: a caller that keeps
	// what it built (the test assets) holds and records them.
	Used []cache.Entry
}

// StageError is the failure of one stage of the build.
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string { return fmt.Sprintf("build stage %s: %v", e.Stage, e.Err) }
func (e *StageError) Unwrap() error { return e.Err }

// Build runs the pipeline: it checks the spec's outputs and every host tool
// the plan needs, then runs the stages in order.
func Build(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	if err := checkOutputs(o.Spec); err != nil {
		return nil, err
	}
	stages := plan(o.Spec, !o.NoPrune)
	if o.ImagesOnly {
		if len(o.Spec.CatalogueImages) == 0 {
			return nil, fmt.Errorf("build %s: only images: the spec has no catalogue_images", o.Spec.Name)
		}
		stages = imagesPlan()
	}
	if _, err := hosttool.Need(planTools(stages)...); err != nil {
		return nil, fmt.Errorf("build %s: %w", o.Spec.Name, err)
	}
	c := o.Cache.Session()
	defer c.Release()
	j := &job{o: o, c: c, rep: o.Progress, spec: o.Spec, epoch: o.Spec.SourceDateEpoch,
		res: &Result{Files: map[string]string{}}}
	if j.epoch == 0 {
		j.epoch = DefaultEpoch
	}
	for i, s := range stages {
		j.rep.Logf("build: stage %d/%d %s", i+1, len(stages), s.Name)
		if err := s.Run(j, ctx); err != nil {
			return nil, &StageError{Stage: s.Name, Err: err}
		}
	}
	j.rep.Logf("build: %s done in %.1fs: %d artifacts in %s", o.Spec.Name, time.Since(start).Seconds(), len(j.res.Manifest.Artifacts), o.OutDir)
	j.res.Used = c.Used()
	return j.res, nil
}

// FindModuleRoot walks up from dir to the folder holding Berth's go.mod.
func FindModuleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/berth-os/berth\n") {
			return d, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("not inside the Berth repository (no go.mod of github.com/berth-os/berth above %s)", dir)
		}
	}
}
