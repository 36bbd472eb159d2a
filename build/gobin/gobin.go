// Package gobin builds the Go programs of an image: Berth's own (init,
// stage1, hostctl, the service programs) from this module, and the pinned
// containerd (with ctr: one program, tools/containerd), its runc shim and
// runc from the tools module (tools/go.mod),
// which keeps their dependency graphs out of Berth's own. Each program is
// cached on what it is built from (its packages' files in the module, the
// module's go.mod and go.sum, the flags and the toolchain), so an edit to
// one program rebuilds that program only.
package gobin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/hosttool"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/build/tree"
	"github.com/berth-os/berth/internal/layout"
)

// ToolsModule is the folder, under the repository root, of the module that
// pins containerd and runc.
const ToolsModule = "tools"

// Binary is one program to build.
type Binary struct {
	Name    string   // output file name in the stage dir
	Pkg     string   // package path, ./init or github.com/...
	Module  string   // module folder under the repository root: "" (Berth's) or ToolsModule
	CGO     bool     // link statically against glibc (runc needs libseccomp)
	Tags    []string // build tags
	LDFlags []string // extra -ldflags, e.g. -X settings
	// Host is where the program goes in the host root; "" when it is not
	// there (stage 1 goes in the initramfs, service programs in their
	// service's rootfs). Not part of the cache key.
	Host string
	// Links are more places in the host root, hard links to Host: the
	// names a multi-call program also runs as. Not part of the cache key.
	Links []string
}

// recipe is what a program is built with: the fields of Binary that make
// its bytes (the cache key prints it).
type recipe struct {
	Name, Pkg, Module string
	CGO               bool
	Tags, LDFlags     []string
}

// recipeVersion changes when the build flags below change.
const recipeVersion = 3

// Versions are the upstream versions pinned in tools/go.mod.
type Versions struct {
	Containerd string
	Runc       string
}

// ModuleVersions reads the containerd and runc versions from a go.mod.
func ModuleVersions(gomod string) (Versions, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return Versions{}, fmt.Errorf("read pinned versions: %w", err)
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
	if err := sc.Err(); err != nil {
		return v, fmt.Errorf("read %s: %w", gomod, err)
	}
	if v.Containerd == "" || v.Runc == "" {
		return v, fmt.Errorf("%s does not require containerd/v2 and runc", gomod)
	}
	return v, nil
}

// berthX sets the version Berth's programs report.
func berthX(berthVersion string) string {
	return "-X github.com/berth-os/berth/internal/version.Berth=" + berthVersion
}

// ProgramName is the name of the program of package pkg: its last element.
func ProgramName(pkg string) string { return path.Base(pkg) }

// Program is a program of Berth's module that installs nowhere on the host
// itself (a service's, a catalogue image's), with the version set.
func Program(berthVersion, pkg string) Binary {
	return Binary{Name: ProgramName(pkg), Pkg: pkg, LDFlags: []string{berthX(berthVersion)}}
}

// Multicall is the package of berthbox, Berth's small programs in one
// (hostctl and the built-in services' programs).
const Multicall = "./cmd/berthbox"

// Standard lists the binaries every image needs besides the service
// programs. Each is named after its package (ProgramName).
func Standard(berthVersion string, v Versions) []Binary {
	bx := berthX(berthVersion)
	return []Binary{
		{Name: "init", Pkg: "./init", LDFlags: []string{bx}, Host: layout.Init},
		{Name: "stage1", Pkg: "./init/stage1"},
		// hostctl is berthbox, which the services' program paths link to.
		{Name: "berthbox", Pkg: Multicall, LDFlags: []string{bx}, Host: "/usr/bin/hostctl"},
		// containerd and ctr, one program (tools/containerd) that is ctr
		// when it runs as ctr. ctr is containerd's own client, for users:
		// the console binds it read-only, and with no flags it talks to
		// the user containerd (/run/containerd/containerd.sock). On the
		// host root the rescue shell has it too, for the system containerd
		// (-a).
		{Name: "containerd", Pkg: "./containerd", Module: ToolsModule, Host: "/usr/bin/containerd", Links: []string{"/usr/bin/ctr"},
			Tags: []string{"no_cri", "no_devmapper", "no_zfs", "no_tracing", "no_btrfs"},
			LDFlags: []string{"-X github.com/containerd/containerd/v2/version.Version=" + v.Containerd,
				"-X github.com/containerd/containerd/v2/version.Revision=berth"}},
		{Name: "containerd-shim-runc-v2", Pkg: "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2", Module: ToolsModule, Host: "/usr/bin/containerd-shim-runc-v2",
			LDFlags: []string{"-X github.com/containerd/containerd/v2/version.Version=" + v.Containerd}},
		{Name: "runc", Pkg: "github.com/opencontainers/runc", Module: ToolsModule, CGO: true, Host: "/usr/bin/runc", Tags: []string{"seccomp", "netgo", "osusergo"},
			LDFlags: []string{"-X main.version=" + strings.TrimPrefix(v.Runc, "v"), "-X main.gitCommit=berth"}},
	}
}

func recipeOf(b Binary) recipe { return recipe{b.Name, b.Pkg, b.Module, b.CGO, b.Tags, b.LDFlags} }

// toolchain is what every key shares: the Go and C compilers.
type toolchain struct {
	goTool, goVersion, gccVersion, libseccomp string
}

// Tools are the host programs Build runs.
var Tools = []string{"go", "gcc", "pkg-config"}

// Build builds each of bins in its own cached stage and gathers them in one
// folder (itself a stage, keyed by theirs), which it returns.
func Build(ctx context.Context, c *cache.Cache, rep progress.Reporter, moduleRoot string, bins []Binary) (string, error) {
	tools, err := hosttool.Need(Tools...)
	if err != nil {
		return "", err
	}
	tc := toolchain{goTool: tools["go"]}
	out, err := exec.CommandContext(ctx, tc.goTool, "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	tc.goVersion = strings.TrimSpace(string(out))
	if out, err = exec.CommandContext(ctx, tools["gcc"], "-dumpfullversion").Output(); err != nil {
		return "", fmt.Errorf("gcc -dumpfullversion: %w", err)
	}
	tc.gccVersion = strings.TrimSpace(string(out))
	if lib, err := filepath.Glob("/usr/lib/*/libseccomp.a"); err == nil && len(lib) > 0 {
		tc.libseccomp = lib[0]
	}
	keys := make([]string, len(bins))
	for i, b := range bins {
		files, err := sources(ctx, tc.goTool, moduleRoot, b)
		if err != nil {
			return "", err
		}
		if keys[i], err = binaryKey(tc, moduleRoot, b, files); err != nil {
			return "", fmt.Errorf("cache key of %s: %w", b.Name, err)
		}
	}
	set := cache.NewKey("gobin-set", 1)
	for i, b := range bins {
		set.String(b.Name, keys[i])
	}
	setKey, err := set.Key()
	if err != nil {
		return "", err
	}
	step := cache.Step{Stage: "gobin-set", Key: setKey, Title: "go programs", Total: int64(len(bins)), Made: "built"}
	dir, hit, err := c.Reported(rep, step, func(out string, task progress.Task) error {
		for i, b := range bins {
			bdir, _, err := c.Stage("gobin", keys[i], func(dir string) error { return buildOne(ctx, tc.goTool, moduleRoot, dir, b) })
			if err != nil {
				return err
			}
			if err := tree.LinkOrCopy(filepath.Join(bdir, b.Name), filepath.Join(out, b.Name)); err != nil {
				return fmt.Errorf("gather %s: %w", b.Name, err)
			}
			task.Add(1)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if hit {
		// The set is made of the programs' own entries: they are in use
		// too, so that a prune keeps them for the next set that shares them.
		for i := range bins {
			if _, _, err := c.Use("gobin", keys[i]); err != nil {
				return "", err
			}
		}
	}
	return dir, nil
}

// binaryKey is the cache key of one program.
func binaryKey(tc toolchain, moduleRoot string, b Binary, files []string) (string, error) {
	mod := filepath.Join(moduleRoot, b.Module)
	k := cache.NewKey("gobin", recipeVersion).
		String("go", tc.goVersion).
		String("binary", fmt.Sprintf("%+v", recipeOf(b))).
		File("go.mod", filepath.Join(mod, "go.mod")).
		File("go.sum", filepath.Join(mod, "go.sum"))
	if b.CGO {
		k.String("gcc", tc.gccVersion)
		if tc.libseccomp != "" {
			k.File("libseccomp", tc.libseccomp)
		}
	}
	for _, f := range files {
		rel, err := filepath.Rel(moduleRoot, f)
		if err != nil {
			return "", err
		}
		k.File(rel, f)
	}
	return k.Key()
}

// listed is what `go list -json` says of a package.
type listed struct {
	Dir        string
	GoFiles    []string
	CgoFiles   []string
	CFiles     []string
	HFiles     []string
	SFiles     []string
	EmbedFiles []string
	Module     *struct{ Main bool }
}

// sources lists the files of b's module that b is built from: every file of
// every package it imports from its own module, embedded files included.
// Packages from other modules are pinned by go.sum.
func sources(ctx context.Context, goTool, moduleRoot string, b Binary) ([]string, error) {
	args := []string{"list", "-deps", "-json=Dir,GoFiles,CgoFiles,CFiles,HFiles,SFiles,EmbedFiles,Module"}
	if len(b.Tags) > 0 {
		args = append(args, "-tags", strings.Join(b.Tags, ","))
	}
	args = append(args, b.Pkg)
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = filepath.Join(moduleRoot, b.Module)
	cmd.Env = buildEnv(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w\n%s", b.Pkg, err, stderr.Bytes())
	}
	var files []string
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list %s: %w", b.Pkg, err)
		}
		if p.Module == nil || !p.Module.Main {
			continue
		}
		for _, list := range [][]string{p.GoFiles, p.CgoFiles, p.CFiles, p.HFiles, p.SFiles, p.EmbedFiles} {
			for _, f := range list {
				files = append(files, filepath.Join(p.Dir, f))
			}
		}
	}
	sort.Strings(files)
	return files, nil
}

// buildEnv is the environment of go list and go build for b.
// It is the caller's (the go command needs HOME or GOCACHE, GOPATH,
// GOPROXY), with the time zone and locale fixed as for every host tool.
func buildEnv(b Binary) []string {
	env := append(os.Environ(), "TZ=UTC", "LC_ALL=C", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-mod=readonly", "GOTOOLCHAIN=local")
	if b.CGO {
		return append(env, "CGO_ENABLED=1", "CGO_CFLAGS=-O2 -g0", "CGO_LDFLAGS=")
	}
	return append(env, "CGO_ENABLED=0")
}

func buildOne(ctx context.Context, goTool, moduleRoot, out string, b Binary) error {
	ldflags := append([]string{"-s", "-w", "-buildid="}, b.LDFlags...)
	if b.CGO {
		ldflags = append(ldflags, "-linkmode", "external", "-extldflags", "-static")
	}
	args := []string{"build", "-trimpath", "-buildvcs=false", "-o", filepath.Join(out, b.Name), "-ldflags", strings.Join(ldflags, " ")}
	if len(b.Tags) > 0 {
		args = append(args, "-tags", strings.Join(b.Tags, ","))
	}
	args = append(args, b.Pkg)
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = filepath.Join(moduleRoot, b.Module)
	cmd.Env = buildEnv(b)
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", b.Pkg, err, o)
	}
	if err := os.Chmod(filepath.Join(out, b.Name), 0o755); err != nil { // whatever the umask
		return fmt.Errorf("go build %s: %w", b.Pkg, err)
	}
	return nil
}
