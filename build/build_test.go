package build

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/gobin"
	"github.com/berth-os/berth/build/hosttool"
	"github.com/berth-os/berth/build/image"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/build/tree"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/strictyaml"
	"github.com/berth-os/berth/services"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const repo = ".."

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	text := strings.Join(got, "\n") + "\n"
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to make it)", err)
	}
	if diff := cmp.Diff(string(want), text); diff != "" {
		t.Errorf("%s differs (-want +got); if the change is meant, run go test -update:\n%s", path, diff)
	}
}

func defaultSpec(t *testing.T) *image.Spec {
	t.Helper()
	spec, err := LoadSpec(filepath.Join(repo, "images", "berth.yaml"), repo)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func lines(stages []stage) []string {
	out := make([]string, len(stages))
	for i, s := range stages {
		out[i] = fmt.Sprintf("%d. %s", i+1, s)
	}
	return out
}

// The default image's pipeline, stage by stage, with the host tools each runs.
func TestStages(t *testing.T) {
	golden(t, "stages.golden", lines(plan(defaultSpec(t), true)))
}

// The stages follow the spec: its outputs, in table order, and pruning.
func TestStagesFollowTheSpec(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outputs []string
		prune   bool
		want    []string
	}{
		{"iso only, no prune", []string{"iso"}, false, []string{"output iso", "manifest"}},
		{"table order, not spec order", []string{"qcow2", "kernel"}, true, []string{"output kernel", "output qcow2", "manifest", "prune cache"}},
		{"no outputs: the defaults", nil, false, []string{"output kernel", "output initrd", "output squashfs", "output iso", "output raw", "output bundle", "output qcow2", "manifest"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range plan(&image.Spec{Outputs: tc.outputs}, tc.prune)[7:] {
				got = append(got, s.Name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("stages after the build id (-want +got):\n%s", diff)
			}
		})
	}
}

// Every tool a stage looks up lazily (hosttool.Need("x") in build/ and
// kernel/) is checked up front, and says which package installs it.
func TestToolsCheckedUpFront(t *testing.T) {
	upfront := map[string]bool{}
	for _, tool := range planTools(plan(&image.Spec{}, true)) {
		upfront[tool] = true
		if hosttool.Packages[tool] == "" {
			t.Errorf("tool %s has no package in hosttool.Packages", tool)
		}
	}
	call := regexp.MustCompile(`hosttool\.Need\(([^)]*)\)`)
	quoted := regexp.MustCompile(`"([^"]+)"`)
	var checked int
	for _, dir := range []string{".", "bootloader", "squashfs", "gobin", filepath.Join(repo, "kernel")} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range call.FindAllStringSubmatch(string(src), -1) {
				for _, q := range quoted.FindAllStringSubmatch(m[1], -1) {
					checked++
					if !upfront[q[1]] {
						t.Errorf("%s looks up %s, which no stage lists in its Tools", f, q[1])
					}
				}
			}
		}
	}
	if checked < 5 {
		t.Errorf("found only %d tools looked up: the scan is broken", checked)
	}
}

// A missing tool stops the build before the first stage, in one message.
func TestBuildChecksToolsFirst(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	spec := defaultSpec(t)
	out := filepath.Join(t.TempDir(), "out")
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(context.Background(), Options{Spec: spec, OutDir: out, Cache: c, Progress: progress.Discard{}, ModuleRoot: repo})
	if !errors.Is(err, hosttool.ErrMissing) {
		t.Fatalf("err = %v, want ErrMissing", err)
	}
	for _, want := range []string{"gcc", "go", "mksquashfs", "xorriso", "qemu-img", "grub-mkimage", "apt-get install"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the output folder was made before the tools were checked")
	}
}

func TestUnknownOutput(t *testing.T) {
	spec := &image.Spec{Path: "img.yaml", Outputs: []string{"iso", "qcow"}}
	err := checkOutputs(spec)
	if !errors.Is(err, strictyaml.ErrInvalid) || !strings.Contains(err.Error(), `img.yaml: outputs[1]: unknown output "qcow" (did you mean qcow2?)`) {
		t.Errorf("err = %v", err)
	}
	_, err = Build(context.Background(), Options{Spec: spec})
	if !errors.Is(err, strictyaml.ErrInvalid) {
		t.Errorf("Build: err = %v, want the spec refused", err)
	}
}

// Each format's artifact name, from a file its writer made.
func TestArtifactNames(t *testing.T) {
	made := map[string]string{
		"kernel": "/c/stage/kernel/k/vmlinuz", "vmlinux": "/c/stage/vmlinux/v/vmlinux", "initrd": "/c/stage/initramfs/i/initrd.img",
		"squashfs": "/c/stage/rootfs/r/rootfs.squashfs", "iso": "/c/stage/iso/x/image.iso",
		"raw": "/c/stage/raw/x/disk.raw", "bundle": "/c/stage/bundle/x/berth.bundle", "qcow2": "/c/stage/qcow2/x/disk.qcow2",
		"vmdk": "/c/stage/vmdk/x/disk.vmdk", "vdi": "/c/stage/vdi/x/disk.vdi", "vhd": "/c/stage/vhd/x/disk.vhd",
		"vhdx": "/c/stage/vhdx/x/disk.vhdx", "ova": "/c/stage/ova/x/vmware.ova", "gce": "/c/stage/gce/x/disk.gce",
		"pxe": "/c/stage/pxe/x/boot.ipxe",
	}
	got := map[string]string{}
	for _, w := range writers {
		got[w.Output] = w.Name("berth", made[w.Output])
	}
	want := map[string]string{"kernel": "vmlinuz", "vmlinux": "vmlinux", "initrd": "initrd.img", "squashfs": "rootfs.squashfs",
		"iso": "berth.iso", "raw": "berth.raw", "bundle": "berth.bundle", "qcow2": "berth.qcow2",
		"vmdk": "berth.vmdk", "vdi": "berth.vdi", "vhd": "berth.vhd", "vhdx": "berth.vhdx", "ova": "berth-vmware.ova", "gce": "berth-gce.tar.gz",
		"pxe": "berth.ipxe"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("artifact names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"kernel", "vmlinux", "initrd", "squashfs", "iso", "raw", "bundle", "qcow2", "vmdk", "vdi", "vhd", "vhdx", "ova", "gce", "pxe"}, Outputs()); diff != "" {
		t.Errorf("table order (-want +got):\n%s", diff)
	}
}

// The pxe output brings the files its script boots; the default outputs
// are written when a spec lists none.
func TestWanted(t *testing.T) {
	names := func(outputs ...string) string {
		var got []string
		for _, w := range wanted(&image.Spec{Outputs: outputs}) {
			got = append(got, w.Output)
		}
		return strings.Join(got, " ")
	}
	for _, tc := range []struct {
		outputs []string
		want    string
	}{
		{[]string{"pxe"}, "kernel initrd squashfs pxe"},
		{[]string{"iso", "pxe", "kernel"}, "kernel initrd squashfs iso pxe"},
		{[]string{"raw"}, "raw"},
		{nil, "kernel initrd squashfs iso raw bundle qcow2"},
	} {
		if got := names(tc.outputs...); got != tc.want {
			t.Errorf("outputs %v: written %q, want %q", tc.outputs, got, tc.want)
		}
	}
}

// The host root and every service bundle of the default image: what goes
// where, from which part.
func TestRootfsLayout(t *testing.T) {
	spec := defaultSpec(t)
	var defs []*services.Definition
	for _, name := range spec.Services {
		d, err := services.Load(filepath.Join(repo, "services"), name)
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, d)
	}
	v := layout.Versions{Kernel: "6.12.0-test", Containerd: "v2.0.0", Runc: "v1.2.0", Berth: "test"}
	bins, err := programs(v.Berth, gobin.Standard(v.Berth, gobin.Versions{Containerd: v.Containerd, Runc: v.Runc}), defs)
	if err != nil {
		t.Fatal(err)
	}
	host, err := hostLayout(bins, defs, layout.Info{Name: spec.Name, Versions: v})
	if err != nil {
		t.Fatal(err)
	}
	got := append([]string{"# host root (squashfs)"}, host.Lines()...)
	for _, d := range defs {
		s, err := d.Spec()
		if err != nil {
			t.Fatal(err)
		}
		dirs, files := services.Mountpoints(s)
		got = append(got, "", fmt.Sprintf("# %s/%s/rootfs", layout.ServicesDir, d.Name))
		got = append(got, bundleLayout(d, dirs, files).Lines()...)
	}
	golden(t, "rootfs.golden", got)
}

// Applying a layout: sources resolved, steps in order, modes exact
// whatever the umask.
func TestLayoutApply(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	root := t.TempDir()
	pkgs := filepath.Join(root, "pkgs")
	os.MkdirAll(filepath.Join(pkgs, "usr/share/ca-certificates/a"), 0o755)
	os.WriteFile(filepath.Join(pkgs, "usr/share/ca-certificates/a/2.crt"), []byte("two"), 0o644)
	os.WriteFile(filepath.Join(pkgs, "usr/share/ca-certificates/a/1.crt"), []byte("one\n"), 0o644)
	prog := filepath.Join(root, "prog")
	os.WriteFile(prog, []byte("#!"), 0o700)
	r := func(s tree.Source) (string, error) {
		switch s {
		case packages("certs"):
			return pkgs, nil
		case program("init"):
			return prog, nil
		}
		return "", fmt.Errorf("no %s", s)
	}
	l := tree.Layout{
		tree.Skeleton{},
		tree.Concat{From: packages("certs"), Sub: "usr/share/ca-certificates", Suffix: ".crt", To: caBundle, Mode: 0o644},
		tree.Install{From: program("init"), To: layout.Init, Mode: 0o755},
		tree.Symlink{Path: "/usr/sbin/init", Target: "../lib/berth/init"},
		tree.File{Path: layout.InfoPath, Mode: 0o644, Data: []byte("{}\n")},
	}
	tr := &tree.Tree{Root: filepath.Join(root, "tree")}
	if err := l.Apply(tr, r); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(tr.Root, caBundle)); string(b) != "one\ntwo\n" {
		t.Errorf("CA bundle = %q, want the certificates in name order, each ending in a newline", b)
	}
	modes := map[string]os.FileMode{}
	for _, p := range []string{".", "usr", "usr/share", "usr/share/berth", "usr/lib/berth/init", "usr/share/berth/image.json", "tmp", "root"} {
		st, err := os.Lstat(filepath.Join(tr.Root, p))
		if err != nil {
			t.Fatal(err)
		}
		modes[p] = st.Mode() & (os.ModePerm | os.ModeSticky)
	}
	want := map[string]os.FileMode{".": 0o755, "usr": 0o755, "usr/share": 0o755, "usr/share/berth": 0o755,
		"usr/lib/berth/init": 0o755, "usr/share/berth/image.json": 0o644, "tmp": os.ModeSticky | 0o777, "root": 0o700}
	if diff := cmp.Diff(want, modes); diff != "" {
		t.Errorf("modes under umask 077 (-want +got):\n%s", diff)
	}
	err := tree.Layout{tree.Merge{From: packages("nope"), To: "/"}}.Apply(tr, r)
	if err == nil || !strings.Contains(err.Error(), "layout step 1 (merge packages:nope → /): resolve packages:nope: no packages:nope") {
		t.Errorf("unknown source: err = %v", err)
	}
}

func TestManifest(t *testing.T) {
	out := t.TempDir()
	j := &job{o: Options{OutDir: out}, versions: layout.Versions{Kernel: "6.12", Berth: "test"}, res: &Result{Manifest: Manifest{
		Artifacts: []Artifact{{Name: "vmlinuz", Size: 3, SHA256: "bb"}, {Name: "berth.iso", Size: 2, SHA256: "aa"}},
	}}}
	if err := j.writeManifest(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := Manifest{Artifacts: []Artifact{{Name: "berth.iso", Size: 2, SHA256: "aa"}, {Name: "vmlinuz", Size: 3, SHA256: "bb"}},
		Versions: layout.Versions{Kernel: "6.12", Berth: "test"}}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("manifest (-want +got):\n%s", diff)
	}
	if !strings.HasSuffix(string(b), "}\n") {
		t.Errorf("manifest does not end in a newline")
	}
}

// A sparse copy keeps the content and the holes, and makes mode 0644
// whatever the umask.
func TestSparseCopy(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	src := filepath.Join(dir, "disk.raw")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(256 << 20)
	f.WriteAt([]byte("boot"), 0)
	f.WriteAt([]byte("root"), 128<<20)
	f.Close()
	dst := filepath.Join(dir, "copy.raw")
	if err := sparseCopy(src, dst); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 256<<20 || st.Mode().Perm() != 0o644 {
		t.Errorf("copy: size %d mode %v, want 256 MiB and 0644", st.Size(), st.Mode().Perm())
	}
	if blocks := st.Sys().(*syscall.Stat_t).Blocks * 512; blocks > 1<<20 {
		t.Errorf("copy allocates %d bytes: the holes were written", blocks)
	}
	got, _ := os.ReadFile(dst)
	if string(got[:4]) != "boot" || string(got[128<<20:128<<20+4]) != "root" {
		t.Error("copy lost data")
	}
}

// The image's services are built-ins, checked as a set before anything is
// built.
func TestLoadServices(t *testing.T) {
	dir := t.TempDir()
	for name, doc := range map[string]string{
		"a":   "services:\n  a: {command: [/a], x-berth: {rootfs: {go: {/a: ./a}}, after: [b]}}\n",
		"b":   "services:\n  b: {command: [/b], x-berth: {rootfs: {go: {/b: ./b}}, after: [a]}}\n",
		"img": "services:\n  img: {image: debian:12}\n",
	} {
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		os.WriteFile(filepath.Join(dir, name, "service.yaml"), []byte(doc), 0o644)
	}
	_, err := loadServices(dir, []string{"a", "img"})
	if err == nil || err.Error() != "service img: has an image: an image's services are built-ins, with x-berth.rootfs" {
		t.Errorf("an image service: %v", err)
	}
	_, err = loadServices(dir, []string{"a", "b"})
	if want := filepath.Join(dir, "a", "service.yaml") + ":2: services.a: start order has a cycle: a -> b -> a"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("a cycle: %v\nwant %s...", err, want)
	}
	defs, err := loadServices(filepath.Join(repo, "services"), defaultSpec(t).Services)
	if err != nil || len(defs) != len(defaultSpec(t).Services) {
		t.Errorf("the default image's services: %d, %v", len(defs), err)
	}
}

// A package installed at several paths, by one service or several, is one
// program named after the package, with hard links at a service's other
// paths; two packages of one name are refused.
func TestProgramsOfSharedPackages(t *testing.T) {
	console := &services.Definition{Name: "console"}
	console.XBerth.Rootfs = &services.Rootfs{Go: map[string]string{
		"/usr/bin/berth-console": "./cmd/berthbox",
		"/usr/sbin/reboot":       "./cmd/berthbox", "/usr/sbin/halt": "./cmd/berthbox",
	}}
	network := &services.Definition{Name: "network"}
	network.XBerth.Rootfs = &services.Rootfs{Go: map[string]string{"/usr/bin/berth-network": "./cmd/berthbox"}}
	agent := &services.Definition{Name: "qemu-guest-agent"}
	agent.XBerth.Build = &services.ImageBuild{Go: map[string]string{"/usr/sbin/shutdown": "./cmd/shutdown"}}
	bins, err := programs("1.2.3", gobin.Standard("1.2.3", gobin.Versions{Containerd: "v2", Runc: "v1"}), []*services.Definition{console, network, agent})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bins {
		got = append(got, fmt.Sprintf("%s=%s %v", b.Name, b.Pkg, b.LDFlags))
	}
	x := "[-X github.com/berth-os/berth/internal/version.Berth=1.2.3]"
	want := []string{"init=./init " + x, "stage1=./init/stage1 []", "berthbox=./cmd/berthbox " + x}
	for _, b := range gobin.Standard("1.2.3", gobin.Versions{Containerd: "v2", Runc: "v1"})[3:] {
		want = append(want, fmt.Sprintf("%s=%s %v", b.Name, b.Pkg, b.LDFlags))
	}
	want = append(want, "shutdown=./cmd/shutdown "+x)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("programs (-want +got):\n%s", diff)
	}
	// The images alone: the same recipe for a program, so the same bytes.
	alone, err := programs("1.2.3", nil, []*services.Definition{agent})
	if err != nil || len(alone) != 1 || fmt.Sprint(alone[0]) != fmt.Sprint(bins[len(bins)-1]) {
		t.Errorf("images alone: %v, %v; want %v", alone, err, bins[len(bins)-1])
	}
	var steps []string
	for _, s := range installGo(console.XBerth.Rootfs.Go) {
		steps = append(steps, s.String())
	}
	wantSteps := []string{
		"install go:berthbox → /usr/bin/berth-console 0755",
		"hard link /usr/sbin/halt → /usr/bin/berth-console",
		"hard link /usr/sbin/reboot → /usr/bin/berth-console",
	}
	if diff := cmp.Diff(wantSteps, steps); diff != "" {
		t.Errorf("install steps (-want +got):\n%s", diff)
	}
	// ./services/containerd and the tools' containerd would be one file.
	clash := &services.Definition{Name: "clash"}
	clash.XBerth.Rootfs = &services.Rootfs{Go: map[string]string{"/usr/bin/x": "./services/containerd"}}
	_, err = programs("1.2.3", gobin.Standard("1.2.3", gobin.Versions{Containerd: "v2", Runc: "v1"}), []*services.Definition{clash})
	if err == nil || !strings.Contains(err.Error(), "service clash: program /usr/bin/x of ./services/containerd: ./containerd is a program of that name already") {
		t.Errorf("clash: %v", err)
	}
}
