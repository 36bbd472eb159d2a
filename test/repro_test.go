//go:build qemu

package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-os/berth/build"
	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/image"
	"github.com/berth-os/berth/test/sched"
)

// The second build of TestReproducible differs from the first in what
// reprotest varies.
const (
	reproTZ     = "Asia/Tokyo"
	reproLocale = "fr_CH.UTF-8"
	reproUmask  = "077"
)

// reproParent holds the second build's folder.
const reproParent = "/var/tmp"

// removeStaleRepro removes the second build's folders that a killed run
// left, older than a day (another run may be using a newer one).
func removeStaleRepro() {
	old, _ := filepath.Glob(filepath.Join(reproParent, "berth-repro-*"))
	for _, d := range old {
		if fi, err := os.Stat(d); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
			cache.RemoveAll(d)
		}
	}
}

// builder is who runs the second build.
type builder struct {
	name     string
	uid, gid int
	other    bool // another user than the test's
}

// Two builds of the same sources give the same bytes, however differently
// they run. The second build varies what reprotest varies: it builds the
// repository's files placed in another folder, as another user (nobody, when
// the test runs as root; otherwise the same uid with another HOME, USER
// and LOGNAME), with its own HOME, Go build cache and temporary folder,
// in another time zone, umask and locale. Its cache is empty but for the
// downloads, the kernel stage and the module signing key (compiling the
// kernel again costs half an hour), hard-linked so that another user reads
// them and cannot change them; everything else is built from scratch, the
// image's Go programs by a cold Go build cache. The build tool, berth, is
// the test's own (it is no artifact). Every artifact's sha256 must match
// the first build's.
func reproducible(t *testing.T) {
	artifact(t, "berth.iso") // fails the test if the main build failed
	b := reproBuilder(t)
	// Not under the test's TMPDIR: the folders above it may be closed to
	// the second build's user. TestMain removes what a killed run left.
	work, err := os.MkdirTemp(reproParent, "berth-repro-")
	if err != nil {
		t.Fatal(err)
	}
	defer cache.RemoveAll(work)
	// The locale is compiled for this test (LOCPATH), so that it is there
	// whatever the machine has installed: the locales package's sources.
	locPath := filepath.Join(work, "locale")
	if err := os.MkdirAll(locPath, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("localedef", "-i", "fr_CH", "-f", "UTF-8", filepath.Join(locPath, reproLocale)).CombinedOutput(); err != nil {
		t.Fatalf("localedef %s: %v\n%s", reproLocale, err, out)
	}
	if _, err := os.Stat(filepath.Join(locPath, reproLocale, "LC_CTYPE")); err != nil {
		t.Fatalf("locale %s not compiled: %v", reproLocale, err)
	}
	dirs := map[string]string{}
	for _, d := range []string{"src", "home", "tmp", "cache", "out"} {
		dirs[d] = filepath.Join(work, d)
	}
	for _, d := range []string{work, dirs["home"], dirs["tmp"]} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, b.uid, b.gid); err != nil {
			t.Fatal(err)
		}
	}
	// The signing keys are inputs, as the sources are: the second build
	// finds the builder's keys in its own HOME (image.DefaultSigningKey,
	// image.DefaultSecureBootKey).
	if err := copyKey(dirs["home"], b); err != nil {
		t.Fatal(err)
	}
	if err := copyRepo(moduleRoot, dirs["src"], b); err != nil {
		t.Fatal(err)
	}
	main, err := cache.Open(cache.DefaultRoot())
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"dl", "stage/kernel", "keys"} {
		if err := linkTree(filepath.Join(main.Root, part), filepath.Join(dirs["cache"], part), b); err != nil {
			t.Fatal(err)
		}
	}
	for _, part := range []string{"", "stage", "work"} {
		if err := mkdirOwned(filepath.Join(dirs["cache"], part), b); err != nil {
			t.Fatal(err)
		}
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	modCache := goEnv(t, goTool, "GOMODCACHE")
	if b.other {
		// The test user's module cache is out of reach (its HOME): link it.
		own := filepath.Join(work, "gomod")
		if err := linkTree(modCache, own, b); err != nil {
			t.Fatal(err)
		}
		modCache = own
	}
	env := []string{
		"PATH=" + filepath.Dir(goTool) + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + dirs["home"], "USER=" + b.name, "LOGNAME=" + b.name, "TMPDIR=" + dirs["tmp"],
		"TZ=" + reproTZ, "LANG=" + reproLocale, "LC_ALL=" + reproLocale, "LANGUAGE=fr", "LOCPATH=" + locPath,
		"GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly", "GOPROXY=off", "GOMODCACHE=" + modCache,
		"GOCACHE=" + filepath.Join(dirs["home"], ".cache", "go-build"),
	}
	// The build tool is not an artifact: the test builds it once, from its
	// own sources and Go cache (warm: make built bin/berth the same way),
	// and gives it to b. -trimpath makes it the same program whoever
	// builds it where. A cold build of it took 65 s of the second
	// build's 175 and was compared with nothing. berth build then builds
	// every Go program of the image from src, by b's cold Go cache.
	tool := filepath.Join(dirs["home"], "berth")
	gb := exec.CommandContext(sched.Ctx(t), goTool, "build", "-trimpath", "-o", tool, "./cmd/berth")
	gb.Dir = moduleRoot
	if out, err := gb.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/berth: %v\n%s", err, out)
	}
	sched.Spent(t, gb.ProcessState.UserTime()+gb.ProcessState.SystemTime())
	if err := os.Chmod(tool, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(tool, b.uid, b.gid); err != nil {
		t.Fatal(err)
	}
	script := `umask ` + reproUmask + ` && exec "$HOME/berth" build images/berth.yaml -o "$1" --cache "$2"`
	cmd := exec.CommandContext(sched.Ctx(t), "/bin/sh", "-c", script, "sh", dirs["out"], dirs["cache"])
	cmd.Dir = dirs["src"]
	cmd.Env = env
	// A process group of its own, killed whole at the scenario's
	// deadline: go build's compilers and berth build's tools with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if b.other {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(b.uid), Gid: uint32(b.gid), Groups: []uint32{}}
	}
	logPath := filepath.Join(*logDir, "repro-build.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	t.Logf("second build: %s (uid %d) in %s, TZ=%s, umask %s, LC_ALL=%s; log in %s", b.name, b.uid, dirs["src"], reproTZ, reproUmask, reproLocale, logPath)
	err = cmd.Run()
	if ps := cmd.ProcessState; ps != nil {
		// The shell's time holds berth build's (and its go builds').
		sched.Spent(t, ps.UserTime()+ps.SystemTime())
	}
	if err != nil {
		t.Fatalf("second build: %v\n%s", err, tailOf(logPath, 30))
	}
	data, err := os.ReadFile(filepath.Join(dirs["out"], "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var second build.Manifest
	if err := json.Unmarshal(data, &second); err != nil {
		t.Fatal(err)
	}
	first := map[string]build.Artifact{}
	for _, a := range mainManifest.Artifacts {
		first[a.Name] = a
	}
	if len(second.Artifacts) != len(mainManifest.Artifacts) {
		t.Errorf("second build made %d artifacts, first %d", len(second.Artifacts), len(mainManifest.Artifacts))
	}
	for _, a := range second.Artifacts {
		if f := first[a.Name]; a != f {
			t.Errorf("%s differs between builds: %s (%d bytes) vs %s (%d bytes)", a.Name, f.SHA256, f.Size, a.SHA256, a.Size)
		} else {
			t.Logf("%s: same sha256 %s", a.Name, a.SHA256)
		}
	}
}

// reproBuilder is nobody when the test runs as root, else the test's user.
func reproBuilder(t *testing.T) builder {
	t.Helper()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatalf("running as root, the second build runs as nobody: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return builder{name: u.Username, uid: uid, gid: gid, other: true}
	}
	t.Logf("not root: the second build runs as the same uid, with another HOME, USER and LOGNAME")
	return builder{name: "berth-repro", uid: os.Getuid(), gid: os.Getgid()}
}

// copyRepo puts the repository's files (tracked, and untracked but not
// ignored) under dst for b, as placeFile does.
func copyRepo(root, dst string, b builder) error {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %w", err)
	}
	if err := mkdirOwned(dst, b); err != nil {
		return err
	}
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		info, err := os.Lstat(filepath.Join(root, rel))
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		}
		if err != nil {
			return err
		}
		var dirs []string
		for d := filepath.Dir(rel); d != "."; d = filepath.Dir(d) {
			dirs = append([]string{d}, dirs...)
		}
		for _, d := range dirs {
			if err := mkdirOwned(filepath.Join(dst, d), b); err != nil {
				return err
			}
		}
		if err := placeFile(filepath.Join(root, rel), filepath.Join(dst, rel), info, b); err != nil {
			return err
		}
	}
	return nil
}

// linkTree gives b a tree of its own at dst with src's files, as
// placeFile puts them. Lock files and unfinished stage entries are left
// out.
func linkTree(src, dst string, b builder) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(rel, ".lock") || strings.Contains(rel, ".tmp-") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			return mkdirOwned(target, b)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return placeFile(p, target, info, b)
	})
}

// placeFile puts the file p at target for b: a hard link when b can read
// it (b cannot change it: it stays the test user's), else a copy b owns.
// The folders are b's.
func placeFile(p, target string, info fs.FileInfo, b builder) error {
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		l, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if err := os.Symlink(l, target); err != nil {
			return err
		}
		return os.Lchown(target, b.uid, b.gid)
	case !b.other || info.Mode().Perm()&0o004 != 0:
		return os.Link(p, target)
	}
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chmod(target, info.Mode().Perm()|0o444); err != nil {
		return err
	}
	return os.Lchown(target, b.uid, b.gid)
}

// copyKey copies the builder's signing key to the place
// image.DefaultSigningKey finds it under home, owned by b.
func copyKey(home string, b builder) error {
	src, err := image.DefaultSigningKey()
	if err != nil {
		return err
	}
	sbKey, sbCert, err := image.DefaultSecureBootKey()
	if err != nil {
		return err
	}
	dir := home
	for _, d := range []string{".config", "berth"} {
		dir = filepath.Join(dir, d)
		if err := mkdirOwned(dir, b); err != nil {
			return err
		}
	}
	// And the Secure Boot pair, which signs shim, GRUB and the UKIs.
	for _, f := range [][2]string{{src, "upgrade.key"}, {sbKey, "secureboot.key"}, {sbCert, "secureboot.pem"}} {
		data, err := os.ReadFile(f[0])
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, f[1])
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			return err
		}
		if err := os.Lchown(dst, b.uid, b.gid); err != nil {
			return err
		}
	}
	return nil
}

func mkdirOwned(dir string, b builder) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	return os.Lchown(dir, b.uid, b.gid)
}

func goEnv(t *testing.T, goTool, name string) string {
	t.Helper()
	out, err := exec.Command(goTool, "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

func tailOf(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
