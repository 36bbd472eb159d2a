//go:build qemu

package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/berth-os/berth/build"
	"github.com/berth-os/berth/build/image"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/internal/qemu"
	"github.com/berth-os/berth/test/sched"
)

// Image variants are the default spec with an overlay merged over it, built
// into <out>/variants/<name> with the build cache the main build filled:
// the stages an overlay leaves alone (the kernel, the Go programs, the
// userland) are cache hits, and only what it changes is made again.
var variants = struct {
	mu    sync.Mutex
	built map[string]map[string]string
}{built: map[string]map[string]string{}}

// variant builds the default spec with overlay (YAML, merged key by key
// into images/berth.yaml) once per name, and returns its artifacts.
func variant(t *testing.T, name, overlay string) map[string]string {
	t.Helper()
	return patchedVariant(t, name, overlay, nil)
}

// patchedVariant is variant built from a copy of the source tree that
// patch has changed, when patch is not nil: a release with a bug in it.
// The copy leaves out .git and the output folder; the cache's keys are
// the files' contents, so only what the patch touches is built again.
func patchedVariant(t *testing.T, name, overlay string, patch func(t *testing.T, root string)) map[string]string {
	t.Helper()
	artifact(t, "berth.raw") // the main build must have worked
	variants.mu.Lock()
	defer variants.mu.Unlock()
	if files, ok := variants.built[name]; ok {
		return files
	}
	dir := filepath.Join(*outDir, "variants", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root := moduleRoot
	if patch != nil {
		root = filepath.Join(dir, "src")
		if err := copySource(moduleRoot, root); err != nil {
			t.Fatalf("variant %s: %v", name, err)
		}
		patch(t, root)
	}
	spec, err := overlaySpec(filepath.Join(root, "images", "berth.yaml"), overlay, filepath.Join(dir, "spec.yaml"), root)
	if err != nil {
		t.Fatalf("variant %s: %v", name, err)
	}
	begin := time.Now()
	res, err := build.Build(sched.Ctx(t), build.Options{Spec: spec, OutDir: dir, Cache: assetCache, Progress: &progress.Plain{W: os.Stderr}, ModuleRoot: root})
	if err != nil {
		t.Fatalf("variant %s: build: %v", name, err)
	}
	holdAssets(t, res.Used)
	t.Logf("variant %s built in %.1fs", name, time.Since(begin).Seconds())
	variants.built[name] = res.Files
	return res.Files
}

// copySource copies the source tree at src to dst, afresh, without .git
// and the test's output folder.
func copySource(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	out, _ := filepath.Abs(*outDir)
	for _, e := range entries {
		p := filepath.Join(src, e.Name())
		if e.Name() == ".git" || p == out || e.Name() == "out" {
			continue
		}
		if err := runCmd("cp", "-a", p, dst); err != nil {
			return err
		}
	}
	return nil
}

// overlaySpec merges overlay into the spec at base, writes the result to
// dst and loads it as the build would, from the source tree at root.
func overlaySpec(base, overlay, dst, root string) (*image.Spec, error) {
	var doc, over map[string]any
	b, err := os.ReadFile(base)
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", base, err)
	}
	if err := yaml.Unmarshal([]byte(overlay), &over); err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	merge(doc, over)
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		return nil, err
	}
	return build.LoadSpec(dst, root)
}

// merge sets every key of over in doc; maps merge key by key, anything
// else (lists included) replaces.
func merge(doc, over map[string]any) {
	for k, v := range over {
		if vm, ok := v.(map[string]any); ok {
			if dm, ok := doc[k].(map[string]any); ok {
				merge(dm, vm)
				continue
			}
		}
		doc[k] = v
	}
}

// xzOverlay is the xz variant's overlay.
const xzOverlay = "compression: xz\noutputs: [kernel, initrd, squashfs, raw]\n"

// variantXZ: the squashfs compressed with xz instead of zstd, as the spec's
// compression key allows, on the raw disk with direct kernel boot. The
// variant shares the kernel and every program with the main build.
func variantXZ(t *testing.T) {
	files := variant(t, "xz", xzOverlay)
	for _, f := range []string{"berth.iso", "berth.qcow2"} {
		if _, ok := files[f]; ok {
			t.Errorf("the variant's outputs list has no %s, yet it was made", f)
		}
	}
	cfg := directBoot(t, "berth.autologin")
	cfg.Kernel, cfg.Initrd = files["vmlinuz"], files["initrd.img"]
	cfg.Disks = []qemu.Disk{{Path: overlay(t, files["berth.raw"], "raw"), Format: "qcow2"}}
	if cfg.Kernel != artifact(t, "vmlinuz") && !sameFile(t, cfg.Kernel, artifact(t, "vmlinuz")) {
		t.Error("the variant's kernel differs from the main build's: an overlay of compression alone must not touch it")
	}
	m := boot(t, cfg)
	m.check("host", (*machine).checkHost)
	m.check("squashfs-xz", func(m *machine) {
		// The superblock's compression id (offset 20, little endian): 4 is xz.
		out := m.sh(`dev=$(awk '$2 == "/" && $3 == "squashfs" {print $1}' /proc/mounts); echo $dev; od -An -tu2 -j20 -N2 $dev`)
		if f := strings.Fields(out); len(f) != 2 || f[1] != "4" {
			t.Errorf("root squashfs compression id: %q, want 4 (xz)", out)
		}
	})
}

func sameFile(t *testing.T, a, b string) bool {
	x, err1 := os.ReadFile(a)
	y, err2 := os.ReadFile(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
