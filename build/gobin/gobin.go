// Package gobin builds the Go programs of an image: Berth's own (init,
// stage1, hostctl, the service programs) and the pinned containerd, its runc
// shim and runc, all from this module's go.mod, reproducibly.
package gobin

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/hosttool"
	"github.com/berth-os/berth/build/progress"
)

// Binary is one program to build.
type Binary struct {
	Name    string   // output file name in the stage dir
	Pkg     string   // package path, ./init or github.com/...
	CGO     bool     // link statically against glibc (runc needs libseccomp)
	Tags    []string // build tags
	LDFlags []string // extra -ldflags, e.g. -X settings
}

// recipeVersion changes when the build flags below change.
const recipeVersion = 2

// Versions are the upstream versions pinned in go.mod.
type Versions struct {
	Containerd string
	Runc       string
}

// ModuleVersions reads the containerd and runc versions from go.mod.
func ModuleVersions(moduleRoot string) (Versions, error) {
	f, err := os.Open(filepath.Join(moduleRoot, "go.mod"))
	if err != nil {
		return Versions{}, err
	}
	defer f.Close()
	var v Versions
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		if fields[0] == "require" && len(fields) >= 3 {
			fields = fields[1:]
		}
		switch fields[0] {
		case "github.com/containerd/containerd/v2":
			v.Containerd = fields[1]
		case "github.com/opencontainers/runc":
			v.Runc = fields[1]
		}
	}
	if v.Containerd == "" || v.Runc == "" {
		return v, fmt.Errorf("go.mod does not require containerd/v2 and runc")
	}
	return v, nil
}

// Standard lists the binaries every image needs besides the service programs.
func Standard(berthVersion string, v Versions) []Binary {
	berthX := "-X github.com/berth-os/berth/internal/version.Berth=" + berthVersion
	return []Binary{
		{Name: "init", Pkg: "./init", LDFlags: []string{berthX}},
		{Name: "stage1", Pkg: "./init/stage1"},
		{Name: "hostctl", Pkg: "./cmd/hostctl", LDFlags: []string{berthX}},
		{Name: "containerd", Pkg: "github.com/containerd/containerd/v2/cmd/containerd",
			Tags: []string{"no_cri", "no_devmapper", "no_zfs", "no_tracing", "no_btrfs"},
			LDFlags: []string{"-X github.com/containerd/containerd/v2/version.Version=" + v.Containerd,
				"-X github.com/containerd/containerd/v2/version.Revision=berth"}},
		{Name: "containerd-shim-runc-v2", Pkg: "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
			LDFlags: []string{"-X github.com/containerd/containerd/v2/version.Version=" + v.Containerd}},
		{Name: "runc", Pkg: "github.com/opencontainers/runc", CGO: true, Tags: []string{"seccomp", "netgo", "osusergo"},
			LDFlags: []string{"-X main.version=" + strings.TrimPrefix(v.Runc, "v"), "-X main.gitCommit=berth"}},
	}
}

// Build builds bins into one cached stage directory and returns it. The key
// covers every Go source of the module, go.mod and go.sum, the toolchain,
// and for cgo the C compiler and libseccomp.
func Build(ctx context.Context, c *cache.Cache, rep progress.Reporter, moduleRoot string, bins []Binary) (string, error) {
	tools, err := hosttool.Need("go", "gcc")
	if err != nil {
		return "", err
	}
	goVer, err := exec.Command(tools["go"], "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	gccVer, _ := exec.Command(tools["gcc"], "-dumpfullversion").Output()
	k := cache.NewKey("gobin", recipeVersion).
		String("go", strings.TrimSpace(string(goVer))).
		String("gcc", strings.TrimSpace(string(gccVer))).
		File("go.mod", filepath.Join(moduleRoot, "go.mod")).
		File("go.sum", filepath.Join(moduleRoot, "go.sum"))
	if lib, err := filepath.Glob("/usr/lib/*/libseccomp.a"); err == nil && len(lib) > 0 {
		k.File("libseccomp", lib[0])
	}
	srcs, err := goSources(moduleRoot)
	if err != nil {
		return "", err
	}
	for _, s := range srcs {
		k.File(s, filepath.Join(moduleRoot, s))
	}
	for _, b := range bins {
		k.String("bin", fmt.Sprintf("%+v", b))
	}
	key, err := k.Key()
	if err != nil {
		return "", err
	}
	dir, _, err := c.Reported(rep, "go programs", int64(len(bins)), "gobin", key, "built", func(out string, task progress.Task) error {
		for _, b := range bins {
			if err := buildOne(ctx, tools["go"], moduleRoot, out, b); err != nil {
				return err
			}
			task.Add(1)
		}
		return nil
	})
	return dir, err
}

func buildOne(ctx context.Context, goTool, moduleRoot, out string, b Binary) error {
	ldflags := append([]string{"-s", "-w", "-buildid="}, b.LDFlags...)
	env := append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-mod=readonly", "GOTOOLCHAIN=local")
	if b.CGO {
		if _, err := hosttool.Need("pkg-config"); err != nil {
			return err
		}
		env = append(env, "CGO_ENABLED=1", "CGO_CFLAGS=-O2 -g0", "CGO_LDFLAGS=")
		ldflags = append(ldflags, "-linkmode", "external", "-extldflags", "-static")
	} else {
		env = append(env, "CGO_ENABLED=0")
	}
	args := []string{"build", "-trimpath", "-buildvcs=false", "-o", filepath.Join(out, b.Name), "-ldflags", strings.Join(ldflags, " ")}
	if len(b.Tags) > 0 {
		args = append(args, "-tags", strings.Join(b.Tags, ","))
	}
	args = append(args, b.Pkg)
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = moduleRoot
	cmd.Env = env
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", b.Pkg, err, o)
	}
	return nil
}

// goSources lists the module's Go sources and embedded data (relative,
// sorted), skipping tests, build outputs and hidden folders.
func goSources(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "out" || d.Name() == "testdata" || d.Name() == "bench" || d.Name() == "test") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, "_test.go") {
			return nil
		}
		// Go files, and what go:embed may pull in (kernel config, profiles).
		if strings.HasSuffix(p, ".go") || strings.HasSuffix(p, ".config") || strings.HasSuffix(p, ".conf") || strings.HasSuffix(p, ".txt") || strings.HasSuffix(p, ".yaml") {
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}
