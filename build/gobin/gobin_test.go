package gobin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// repoRoot is the repository root, two folders up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// PID 1 talks to the system containerd through the client of Berth's own
// module; the daemon is built from the tools module. They must be one
// release.
func TestClientAndDaemonPinnedAlike(t *testing.T) {
	root := repoRoot(t)
	tools, err := ModuleVersions(filepath.Join(root, ToolsModule, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want := "github.com/containerd/containerd/v2 " + tools.Containerd + "\n"
	if !strings.Contains(string(b), want) {
		t.Errorf("go.mod does not require %q (the containerd of tools/go.mod): client and daemon would differ", strings.TrimSpace(want))
	}
	if strings.Contains(string(b), "github.com/opencontainers/runc ") {
		t.Errorf("go.mod requires runc: it belongs in tools/go.mod only")
	}
}

func TestModuleVersionsErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ModuleVersions(filepath.Join(dir, "missing.mod")); err == nil || !strings.Contains(err.Error(), "missing.mod") {
		t.Errorf("missing file: got %v, want an error naming the file", err)
	}
	p := filepath.Join(dir, "go.mod")
	os.WriteFile(p, []byte("module x\n\nrequire github.com/containerd/containerd/v2 v2.0.0\n"), 0o644)
	if _, err := ModuleVersions(p); err == nil || !strings.Contains(err.Error(), "does not require containerd/v2 and runc") {
		t.Errorf("no runc: got %v", err)
	}
	os.WriteFile(p, []byte("module x\n\nrequire (\n\tgithub.com/containerd/containerd/v2 v2.0.0\n\tgithub.com/opencontainers/runc v1.2.3 // indirect\n)\n"), 0o644)
	v, err := ModuleVersions(p)
	if err != nil || v.Containerd != "v2.0.0" || v.Runc != "v1.2.3" {
		t.Errorf("got %+v, %v", v, err)
	}
}

// A program's key covers the files of its own packages and no others: an
// edit to the network service leaves init's key alone and changes the
// network service's.
func TestSourcesPerBinary(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("go not on PATH: %v", err)
	}
	root := repoRoot(t)
	ctx := context.Background()
	files := func(pkg string) map[string]bool {
		fs, err := sources(ctx, "go", root, Binary{Name: filepath.Base(pkg), Pkg: pkg})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, f := range fs {
			rel, _ := filepath.Rel(root, f)
			m[rel] = true
		}
		return m
	}
	stage1 := files("./init/stage1")
	network := files("./services/network")
	if !stage1["init/stage1/main.go"] {
		t.Errorf("stage1's sources lack init/stage1/main.go: %v", stage1)
	}
	for f := range stage1 {
		if strings.HasPrefix(f, "services/network/") {
			t.Errorf("stage1's key covers %s", f)
		}
		if strings.HasSuffix(f, "_test.go") {
			t.Errorf("stage1's key covers a test: %s", f)
		}
	}
	if !network["services/network/main.go"] {
		t.Errorf("the network service's sources lack its main.go")
	}
	for f := range network {
		if strings.HasPrefix(f, "init/") || strings.HasPrefix(f, "build/") {
			t.Errorf("the network service's key covers %s", f)
		}
	}
}

// The key's recipe line is the one Binary printed before it had Host: the
// programs cached by earlier builds stay valid.
func TestRecipeFormat(t *testing.T) {
	b := Binary{Name: "runc", Pkg: "github.com/opencontainers/runc", Module: ToolsModule, CGO: true, Tags: []string{"seccomp"}, LDFlags: []string{"-X main.version=1"}, Host: "/usr/bin/runc"}
	got := fmt.Sprintf("%+v", recipeOf(b))
	want := "{Name:runc Pkg:github.com/opencontainers/runc Module:tools CGO:true Tags:[seccomp] LDFlags:[-X main.version=1]}"
	if got != want {
		t.Errorf("recipe = %s\nwant      %s", got, want)
	}
}

// Every standard program but stage 1 (the initramfs's) has a place in the
// host root, and is named after its package, as the services' programs are.
func TestStandardPlaces(t *testing.T) {
	got := map[string]string{}
	for _, b := range Standard("test", Versions{Containerd: "v2", Runc: "v1"}) {
		if b.Name != ProgramName(b.Pkg) {
			t.Errorf("program %s of %s: want the name %s", b.Name, b.Pkg, ProgramName(b.Pkg))
		}
		got[b.Name] = b.Host
		for _, l := range b.Links {
			got[b.Name+" as "+filepath.Base(l)] = l
		}
	}
	want := map[string]string{"init": "/usr/lib/berth/init", "stage1": "", "berthbox": "/usr/bin/hostctl",
		"containerd": "/usr/bin/containerd", "containerd-shim-runc-v2": "/usr/bin/containerd-shim-runc-v2", "runc": "/usr/bin/runc",
		"containerd as ctr": "/usr/bin/ctr"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("host places (-want +got):\n%s", diff)
	}
}

func TestBinaryKeyChangesWithInputs(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644)
	os.WriteFile(filepath.Join(root, "go.sum"), nil, 0o644)
	src := filepath.Join(root, "main.go")
	os.WriteFile(src, []byte("package main\n"), 0o644)
	tc := toolchain{goVersion: "go1.26.8", gccVersion: "12.2.0"}
	b := Binary{Name: "x", Pkg: "./"}
	key := func(tc toolchain, b Binary) string {
		k, err := binaryKey(tc, root, b, []string{src})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key(tc, b)
	if key(tc, b) != base {
		t.Fatal("the key is not stable")
	}
	other := tc
	other.gccVersion = "13"
	if key(other, b) != base {
		t.Error("a pure-Go program's key depends on the C compiler")
	}
	cgo := b
	cgo.CGO = true
	if key(other, cgo) == key(tc, cgo) {
		t.Error("a cgo program's key ignores the C compiler")
	}
	other = tc
	other.goVersion = "go1.27"
	if key(other, b) == base {
		t.Error("the key ignores the Go version")
	}
	flags := b
	flags.LDFlags = []string{"-X a=b"}
	if key(tc, flags) == base {
		t.Error("the key ignores the flags")
	}
	tags := b
	tags.Tags = []string{"seccomp"}
	if key(tc, tags) == base {
		t.Error("the key ignores the build tags")
	}
	// Where the program goes in the host root does not change its bytes.
	placed := b
	placed.Host = "/usr/bin/x"
	if key(tc, placed) != base {
		t.Error("the key depends on where the program is installed")
	}
	os.WriteFile(src, []byte("package main // edited\n"), 0o644)
	if key(tc, b) == base {
		t.Error("the key ignores the sources")
	}
	if _, err := binaryKey(tc, root, b, []string{filepath.Join(root, "gone.go")}); err == nil || !strings.Contains(err.Error(), "gone.go") {
		t.Errorf("a missing source: got %v, want an error naming it", err)
	}
}
