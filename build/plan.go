package build

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/deb"
	"github.com/berth-os/berth/build/gobin"
	"github.com/berth-os/berth/build/image"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/build/secureboot"
	"github.com/berth-os/berth/build/squashfs"
	"github.com/berth-os/berth/build/tree"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/osbundle"
	"github.com/berth-os/berth/internal/verity"
	"github.com/berth-os/berth/internal/version"
	"github.com/berth-os/berth/kernel"
	"github.com/berth-os/berth/services"
)

// stage is one named step of the pipeline.
type stage struct {
	Name string
	// Tools are the host programs it runs; Build checks them all before
	// the first stage.
	Tools []string
	Run   func(j *job, ctx context.Context) error // a method expression: (*job).buildKernel
}

func (s stage) String() string {
	if len(s.Tools) == 0 {
		return s.Name
	}
	return s.Name + " [" + strings.Join(s.Tools, " ") + "]"
}

// job is one build's state, filled in by the stages in order.
type job struct {
	o     Options
	c     *cache.Cache // this build's session: what it uses stays until the end
	rep   progress.Reporter
	spec  *image.Spec
	epoch int64

	lock     *deb.Lock
	defs     []*services.Definition
	images   []*services.Definition // catalogue entries built as OCI images
	bins     []gobin.Binary
	versions layout.Versions
	signKey  ed25519.PrivateKey // signs the upgrade bundle; the root holds its public key
	sbKey    secureboot.Key     // signs what UEFI runs from the disk

	kernel  kernel.Result
	gobin   string // the folder of every Go program
	sets    *debSets
	bundles map[string]string // service name → bundle folder
	rootfs  string            // rootfs.squashfs, its hash tree appended
	verity  verity.Params     // what opens rootfs through dm-verity
	initrd  string
	buildID string // short hash naming this build's media

	res *Result
}

// plan is the list of stages that builds spec: the parts every image has,
// then one stage per output the spec asks for (the table of writers, in
// its order), the manifest, and pruning the cache.
func plan(spec *image.Spec, prune bool) []stage {
	stages := []stage{
		{Name: "inputs", Run: (*job).loadInputs},
		{Name: "kernel", Tools: kernel.Tools, Run: (*job).buildKernel},
		{Name: "go programs", Tools: gobin.Tools, Run: (*job).buildGo},
		{Name: "service bundles", Run: (*job).buildBundles},
		{Name: "root filesystem", Tools: squashfs.Tools, Run: (*job).buildRootfs},
		{Name: "initramfs", Run: (*job).buildInitramfs},
		{Name: "build id", Run: (*job).makeBuildID},
	}
	if len(spec.CatalogueImages) > 0 {
		stages = append(stages, stage{Name: "catalogue images", Run: (*job).buildCatalogueImages})
	}
	for _, w := range wanted(spec) {
		stages = append(stages, stage{Name: "output " + w.Output, Tools: w.Tools, Run: w.run})
	}
	stages = append(stages, stage{Name: "manifest", Run: (*job).writeManifest})
	if prune {
		stages = append(stages, stage{Name: "prune cache", Run: (*job).prune})
	}
	return stages
}

// imagesPlan builds the catalogue images alone.
func imagesPlan() []stage {
	return []stage{
		{Name: "inputs", Run: (*job).loadInputs},
		{Name: "go programs", Tools: gobin.Tools, Run: (*job).buildGo},
		{Name: "catalogue images", Run: (*job).buildCatalogueImages},
		{Name: "manifest", Run: (*job).writeManifest},
	}
}

// planTools lists every host tool the stages run, once each, sorted.
func planTools(stages []stage) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range stages {
		for _, t := range s.Tools {
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	sort.Strings(out)
	return out
}

// loadInputs reads the package lock, the service definitions and the
// pinned containerd and runc, and lists the Go programs.
func (j *job) loadInputs(_ context.Context) error {
	root := j.o.ModuleRoot
	lockPath := filepath.Join(root, "images", "packages.lock")
	lock, err := deb.LoadLock(lockPath)
	if err != nil {
		return err
	}
	j.lock = lock
	defs, err := loadServices(filepath.Join(root, "services"), j.spec.Services)
	if err != nil {
		return err
	}
	j.defs = defs
	for _, name := range j.spec.CatalogueImages {
		d, err := services.LoadEntry(filepath.Join(root, services.CatalogueFolder), name)
		if err != nil {
			return err
		}
		if d.XBerth.Build == nil {
			return fmt.Errorf("catalogue entry %s: has no x-berth.build: its image %s is pulled, not built", name, d.Image)
		}
		if _, err := lock.Set(d.XBerth.Build.Debs); d.XBerth.Build.Debs != "" && err != nil {
			return fmt.Errorf("catalogue entry %s: x-berth.build.debs: %w", name, err)
		}
		j.images = append(j.images, d)
	}
	mv, err := gobin.ModuleVersions(filepath.Join(root, gobin.ToolsModule, "go.mod"))
	if err != nil {
		return err
	}
	j.versions = layout.Versions{Containerd: mv.Containerd, Runc: mv.Runc, Berth: j.spec.Version}
	std, defs := gobin.Standard(version.Berth, mv), append(append([]*services.Definition(nil), j.defs...), j.images...)
	if j.o.ImagesOnly {
		std, defs = nil, j.images
	}
	if j.bins, err = programs(version.Berth, std, defs); err != nil {
		return err
	}
	if !j.o.ImagesOnly { // the images alone are not signed
		if err := j.loadSigningKey(); err != nil {
			return err
		}
		if err := j.loadSecureBootKey(); err != nil {
			return err
		}
	}
	j.sets = &debSets{cache: j.c, lock: lock, rep: j.rep, dirs: map[string]string{}}
	j.bundles = map[string]string{}
	return nil
}

// loadSigningKey reads the key that signs the upgrade bundle: the spec's,
// or the builder's own, made on first use.
func (j *job) loadSigningKey() error {
	p, err := j.spec.SigningKeyPath()
	if err != nil {
		return err
	}
	key, made, err := osbundle.LoadKey(p, j.spec.SigningKey == "")
	if err != nil {
		return fmt.Errorf("image spec %s: signing_key: %w", j.spec.Path, err)
	}
	if made {
		j.rep.Logf("build: made the upgrade signing key %s (key %s): keep it; hosts of this image accept only bundles it signs", p, osbundle.KeyID(key.Public().(ed25519.PublicKey)))
	}
	j.signKey = key
	return nil
}

// loadSecureBootKey reads the key that signs what UEFI runs from the
// disk: the spec's, or the builder's own, made on first use.
func (j *job) loadSecureBootKey() error {
	kp, cp, err := j.spec.SecureBootKeyPaths()
	if err != nil {
		return err
	}
	key, made, err := secureboot.LoadKey(kp, cp, j.spec.SecureBootKey == "")
	if err != nil {
		return fmt.Errorf("image spec %s: secure_boot_key: %w", j.spec.Path, err)
	}
	if made {
		j.rep.Logf("build: made the Secure Boot signing key %s and its certificate %s: keep them; enroll the certificate in a host's db to boot this image with Secure Boot on", kp, cp)
	}
	j.sbKey = key
	return nil
}

// secureBootID names the Secure Boot certificate: "" before it is loaded.
func (j *job) secureBootID() string {
	if j.sbKey.Cert == nil {
		return ""
	}
	return fmt.Sprintf("%x", sha256.Sum256(j.sbKey.Cert.Raw))
}

// loadServices reads the image's services from dir, each a built-in (a
// rootfs the build makes, not an image), and checks them as a set.
func loadServices(dir string, names []string) ([]*services.Definition, error) {
	var defs []*services.Definition
	for _, name := range names {
		d, err := services.Load(dir, name)
		if err != nil {
			return nil, err
		}
		if d.XBerth.Rootfs == nil {
			return nil, fmt.Errorf("service %s: has an image: an image's services are built-ins, with x-berth.rootfs", name)
		}
		defs = append(defs, d)
	}
	if _, err := services.ValidateSet(defs); err != nil {
		return nil, err
	}
	return defs, nil
}

// programs are the standard Go programs and those of the services and
// catalogue images: one program per package, named after the package
// (gobin.ProgramName), however many paths and services install it. The
// service programs of Berth's module get the version as the standard ones
// do, so that a program is the same bytes whichever list names it first.
// Two packages of one name would be one file: refused.
func programs(berthVersion string, std []gobin.Binary, defs []*services.Definition) ([]gobin.Binary, error) {
	bins := append([]gobin.Binary(nil), std...)
	pkgOf := map[string]string{} // program name → package
	for _, b := range bins {
		pkgOf[b.Name] = b.Pkg
	}
	for _, d := range defs {
		var gos map[string]string
		switch {
		case d.XBerth.Rootfs != nil:
			gos = d.XBerth.Rootfs.Go
		case d.XBerth.Build != nil:
			gos = d.XBerth.Build.Go
		}
		for _, dst := range sortedKeys(gos) {
			pkg := gos[dst]
			name := gobin.ProgramName(pkg)
			switch pkgOf[name] {
			case pkg:
				continue
			case "":
				pkgOf[name] = pkg
				bins = append(bins, gobin.Program(berthVersion, pkg))
			default:
				return nil, fmt.Errorf("service %s: program %s of %s: %s is a program of that name already", d.Name, dst, pkg, pkgOf[name])
			}
		}
	}
	return bins, nil
}

// firstPaths are the install paths of gos (path → package) that install
// a program: the first, in path order, of each package.
func firstPaths(gos map[string]string) []string {
	var out []string
	pkgs := map[string]bool{}
	for _, dst := range sortedKeys(gos) {
		if !pkgs[gos[dst]] {
			pkgs[gos[dst]] = true
			out = append(out, dst)
		}
	}
	return out
}

// installGo installs gos (path → package): each package's program at its
// first path, hard links to it at the others. (Installs of one program in
// several trees are hard links to one file too: tree.Install links.)
func installGo(gos map[string]string) tree.Layout {
	var l tree.Layout
	first := map[string]string{}
	for _, dst := range firstPaths(gos) {
		first[gos[dst]] = dst
	}
	for _, dst := range sortedKeys(gos) {
		if at := first[gos[dst]]; at != dst {
			l = append(l, tree.HardLink{Path: dst, Target: at})
			continue
		}
		l = append(l, tree.Install{From: program(gobin.ProgramName(gos[dst])), To: dst, Mode: 0o755})
	}
	return l
}

func (j *job) buildKernel(ctx context.Context) error {
	kr, err := kernel.Build(ctx, j.c, j.rep)
	if err != nil {
		return err
	}
	j.kernel = kr
	j.versions.Kernel = kr.Release
	return nil
}

func (j *job) buildGo(ctx context.Context) error {
	if len(j.bins) == 0 {
		return nil
	}
	dir, err := gobin.Build(ctx, j.c, j.rep, j.o.ModuleRoot, j.bins)
	if err != nil {
		return err
	}
	j.gobin = dir
	return nil
}

// makeBuildID names this build's media: the hash of what boots (kernel,
// initrd, root) and how (name, command line, epoch). The boot menus find
// their medium by a marker file of that name.
func (j *job) makeBuildID(_ context.Context) error {
	h := sha256.New()
	for _, f := range []string{j.kernel.Vmlinuz, j.initrd, j.rootfs} {
		s, err := cachedSHA(f)
		if err != nil {
			return err
		}
		h.Write([]byte(s))
	}
	fmt.Fprintf(h, "%s\x00%s\x00%d", j.spec.Name, j.spec.Cmdline, j.epoch)
	j.buildID = hex.EncodeToString(h.Sum(nil))[:16]
	return nil
}

// prune records what this build used, then removes from the cache what
// neither it nor the last builds used (cache.DefaultPolicy); the kernel
// tree of the pinned source stays. A failure is reported, not fatal: the
// build is done.
func (j *job) prune(_ context.Context) error {
	if err := j.c.Record(); err != nil {
		j.rep.Logf("build: prune cache: %v (the build itself is done)", err)
		return nil
	}
	p := cache.DefaultPolicy
	p.Work = []string{kernel.WorkName(j.kernel.Version)}
	r, err := j.c.Prune(p)
	if err != nil {
		j.rep.Logf("build: prune cache: %v (the build itself is done)", err)
		return nil
	}
	if len(r.Removed) > 0 {
		j.rep.Logf("build: pruned %d cache entries, %.1f MiB freed", len(r.Removed), float64(r.Freed())/(1<<20))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
