// Package build is Berth's image pipeline: from an image spec it builds the
// kernel, the Go programs, the service bundles, the root squashfs and the
// initramfs, then writes every output format through an explicit table of
// writers. Every stage is cached by a content hash of its inputs, so a
// rebuild with nothing changed does no work, and the same inputs give the
// same bytes.
package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/deb"
	"github.com/berth-os/berth/build/gobin"
	"github.com/berth-os/berth/build/image"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/version"
	"github.com/berth-os/berth/kernel"
	"github.com/berth-os/berth/services"
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
}

// Result is a finished build.
type Result struct {
	Manifest Manifest
	// Files maps artifact names to their paths in OutDir.
	Files map[string]string
}

// Manifest is out/manifest.json.
type Manifest struct {
	Artifacts []Artifact      `json:"artifacts"`
	Versions  layout.Versions `json:"versions"`
}

// Artifact is one output file.
type Artifact struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// parts are the intermediate products the output writers use.
type parts struct {
	spec     *image.Spec
	epoch    int64
	kernel   kernel.Result
	initrd   string
	squashfs string
	boot     string // extracted "boot" package set
	buildID  string // short hash naming this build's media
	versions layout.Versions
}

// Build runs the pipeline.
func Build(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	rep := o.Progress
	spec := o.Spec
	epoch := spec.SourceDateEpoch
	if epoch == 0 {
		epoch = DefaultEpoch
	}
	lock, err := deb.LoadLock(filepath.Join(o.ModuleRoot, "images", "packages.lock"))
	if err != nil {
		return nil, err
	}
	var defs []*services.Definition
	for _, name := range spec.Services {
		d, err := services.Load(filepath.Join(o.ModuleRoot, "services"), name)
		if err != nil {
			return nil, err
		}
		defs = append(defs, d)
	}
	mv, err := gobin.ModuleVersions(filepath.Join(o.ModuleRoot, gobin.ToolsModule, "go.mod"))
	if err != nil {
		return nil, err
	}

	kr, err := kernel.Build(ctx, o.Cache, rep)
	if err != nil {
		return nil, err
	}
	bins := gobin.Standard(version.Berth, mv)
	seen := map[string]bool{}
	for _, b := range bins {
		seen[b.Pkg] = true
	}
	for _, d := range defs {
		for _, dst := range sortedKeys(d.Rootfs.Go) {
			pkg := d.Rootfs.Go[dst]
			if !seen[pkg] {
				seen[pkg] = true
				bins = append(bins, gobin.Binary{Name: filepath.Base(dst), Pkg: pkg})
			}
		}
	}
	gdir, err := gobin.Build(ctx, o.Cache, rep, o.ModuleRoot, bins)
	if err != nil {
		return nil, err
	}
	sets := &debSets{cache: o.Cache, lock: lock, rep: rep, dirs: map[string]string{}}
	bundles := map[string]string{}
	for _, d := range defs {
		dir, err := serviceBundle(ctx, o.Cache, rep, sets, gdir, d)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", d.Name, err)
		}
		bundles[d.Name] = dir
	}
	p := &parts{spec: spec, epoch: epoch, kernel: kr, versions: layout.Versions{
		Kernel: kr.Release, Containerd: mv.Containerd, Runc: mv.Runc, Berth: version.Berth,
	}}
	if p.squashfs, err = rootfs(ctx, o.Cache, rep, sets, gdir, kr, defs, bundles, p); err != nil {
		return nil, err
	}
	if p.initrd, err = makeInitramfs(ctx, o.Cache, rep, sets, gdir); err != nil {
		return nil, err
	}
	if p.boot, err = sets.get(ctx, "boot"); err != nil {
		return nil, err
	}
	idh := sha256.New()
	for _, f := range []string{kr.Vmlinuz, p.initrd, p.squashfs} {
		s, err := cache.FileSHA256(f)
		if err != nil {
			return nil, err
		}
		idh.Write([]byte(s))
	}
	fmt.Fprintf(idh, "%s\x00%s\x00%d", spec.Name, spec.Cmdline, epoch)
	p.buildID = hex.EncodeToString(idh.Sum(nil))[:16]

	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	res := &Result{Files: map[string]string{}, Manifest: Manifest{Versions: p.versions}}
	for _, w := range writers {
		if !spec.Has(w.Output) {
			continue
		}
		files, err := w.Write(ctx, o.Cache, rep, p)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", w.Output, err)
		}
		for _, f := range files {
			name := w.Name(spec.Name, f)
			dst := filepath.Join(o.OutDir, name)
			if err := sparseCopy(f, dst); err != nil {
				return nil, fmt.Errorf("output %s: %w", name, err)
			}
			a, err := artifact(f, name)
			if err != nil {
				return nil, err
			}
			res.Manifest.Artifacts = append(res.Manifest.Artifacts, a)
			res.Files[name] = dst
		}
	}
	sort.Slice(res.Manifest.Artifacts, func(i, j int) bool { return res.Manifest.Artifacts[i].Name < res.Manifest.Artifacts[j].Name })
	mb, _ := json.MarshalIndent(res.Manifest, "", "  ")
	if err := atomicfile.Write(filepath.Join(o.OutDir, "manifest.json"), append(mb, '\n'), 0o644); err != nil {
		return nil, err
	}
	rep.Logf("build: %s done in %.1fs: %d artifacts in %s", spec.Name, time.Since(start).Seconds(), len(res.Manifest.Artifacts), o.OutDir)
	return res, nil
}

// artifact describes a file, using the sha256 recorded beside it in its
// stage when there is one (hashing a 2 GiB raw image on every warm build
// would be most of the work).
func artifact(path, name string) (Artifact, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Artifact{}, err
	}
	sum, err := cachedSHA(path)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{Name: name, Size: st.Size(), SHA256: sum}, nil
}

// cachedSHA reads path.sha256, writing it first when missing.
func cachedSHA(path string) (string, error) {
	if b, err := os.ReadFile(path + ".sha256"); err == nil && len(b) >= 64 {
		return string(b[:64]), nil
	}
	s, err := cache.FileSHA256(path)
	if err != nil {
		return "", err
	}
	os.WriteFile(path+".sha256", []byte(s+"\n"), 0o644)
	return s, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
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
