package kernel

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/deb"
	"github.com/berth-os/berth/build/hosttool"
	"github.com/berth-os/berth/build/progress"
)

// recipeVersion changes whenever the steps below change what they produce.
const recipeVersion = 4

// Result is a built kernel.
type Result struct {
	Dir     string // stage directory
	Vmlinuz string // bzImage
	Config  string // the built .config
	Modules string // root of the module tree: <Modules>/lib/modules/<Release>
	Release string // uname -r
	Version string // Debian source version
	Key     string // the stage's cache key
	Cached  bool
}

// sourceMarker records which source a work tree was extracted from.
type sourceMarker struct {
	SHA256    string `json:"sha256"`
	Timestamp string `json:"timestamp"` // KBUILD_BUILD_TIMESTAMP: the source tarball's mtime
}

// Tools are the host programs the kernel stage runs (gcc's version is part
// of its cache key, so even a cached kernel asks for them).
var Tools = []string{"gcc", "make", "flex", "bison", "bc", "pahole", "depmod", "tar", "xz", "perl"}

// WorkName is the kernel's work tree in the cache (under work/) for a
// source version: a prune keeps the pinned one.
func WorkName(version string) string { return filepath.Join("kernel", version) }

// Build returns the tuned kernel, building it when the cache lacks it. The
// cache key is the source's sha256, the fragments, the recipe and the
// compiler version. The build tree stays at a fixed path, so that a rebuild
// after a config change is incremental.
func Build(ctx context.Context, c *cache.Cache, rep progress.Reporter) (Result, error) {
	pin, err := LoadPin("")
	if err != nil {
		return Result{}, err
	}
	tools, err := hosttool.Need(Tools...)
	if err != nil {
		return Result{}, fmt.Errorf("kernel: %w", err)
	}
	gccVer, err := exec.Command(tools["gcc"], "-dumpfullversion").Output()
	if err != nil {
		return Result{}, fmt.Errorf("kernel: gcc -dumpfullversion: %w", err)
	}
	sk, err := loadSigningKey(c)
	if err != nil {
		return Result{}, err
	}
	k := cache.NewKey("kernel", recipeVersion).
		String("source", pin.Source.SHA256).
		String("gcc", strings.TrimSpace(string(gccVer))).
		Bytes("module-signing-cert", sk.cert)
	for _, f := range Fragments() {
		k.Bytes(f.Name, f.Data)
	}
	key, err := k.Key()
	if err != nil {
		return Result{}, err
	}
	step := cache.Step{Stage: "kernel", Key: key, Title: "kernel " + pin.Source.Version, Made: "built"}
	dir, hit, err := c.Reported(rep, step, func(out string, _ progress.Task) error {
		return build(ctx, c, rep, pin.Source, sk, out)
	})
	if err != nil {
		return Result{}, err
	}
	if hit { // keep the source for the next config change
		if _, err := c.UseDownload(pin.Source.SHA256); err != nil {
			return Result{}, fmt.Errorf("kernel: %w", err)
		}
	}
	release, err := os.ReadFile(filepath.Join(dir, "release"))
	if err != nil {
		return Result{}, fmt.Errorf("kernel: %w", err)
	}
	return Result{
		Dir:     dir,
		Vmlinuz: filepath.Join(dir, "vmlinuz"),
		Config:  filepath.Join(dir, "config"),
		Modules: filepath.Join(dir, "modules"),
		Release: strings.TrimSpace(string(release)),
		Version: pin.Source.Version,
		Key:     key,
		Cached:  hit,
	}, nil
}

func build(ctx context.Context, c *cache.Cache, rep progress.Reporter, src Source, sk signingKey, out string) error {
	began := time.Now()
	m, unlock, err := openTree(ctx, c, rep, src, sk)
	if err != nil {
		return err
	}
	defer unlock()
	cfgTask := rep.Start("kernel config", 0)
	cfg, err := m.configure(Fragments())
	if err == nil {
		// olddefconfig silently drops what it cannot satisfy: refuse that.
		if bad := Check(ParseConfig(cfg), Wanted()); len(bad) > 0 {
			err = fmt.Errorf("kernel config: Kconfig did not keep these fragment settings (a dependency is missing or the symbol changed in this version):\n  %s", strings.Join(bad, "\n  "))
		}
	}
	if err != nil {
		cfgTask.Fail(err)
		return err
	}
	cfgTask.Done("")
	from := "incremental"
	if _, err := os.Stat(filepath.Join(m.tree, "vmlinux")); err != nil {
		from = "clean"
	}
	if err := m.compile(rep, filepath.Join(out, "build.log")); err != nil {
		return err
	}
	release, err := m.install(out)
	if err != nil {
		return err
	}
	if err := checkSigned(sk, m.tree, filepath.Join(out, "modules")); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "config"), cfg, 0o644); err != nil {
		return err
	}
	// The release, for Build; how long this stage took and whether its tree
	// held an earlier build, for `make bench` and the incremental check.
	meta := map[string]string{
		"build-seconds": fmt.Sprintf("%.0f\n", time.Since(began).Seconds()),
		"built-from":    from + "\n",
		"release":       release + "\n",
	}
	for name, v := range meta {
		if err := os.WriteFile(filepath.Join(out, name), []byte(v), 0o644); err != nil {
			return fmt.Errorf("kernel: %w", err)
		}
	}
	return normalizeModes(out)
}

// openTree makes the kernel's work tree ready to build in, whichever
// build comes: the source fetched, the tree locked (unlock releases it),
// unpacked or kept as it is, and our signing key in place.
func openTree(ctx context.Context, c *cache.Cache, rep progress.Reporter, src Source, sk signingKey) (maker, func(), error) {
	debPath, err := fetchSource(ctx, c, rep, src)
	if err != nil {
		return maker{}, nil, err
	}
	tree := c.WorkDir(WorkName(src.Version))
	unlock, err := c.LockWork(WorkName(src.Version))
	if err != nil {
		return maker{}, nil, fmt.Errorf("kernel: %w", err)
	}
	m, err := func() (maker, error) {
		marker, err := prepareTree(rep, debPath, src, tree)
		if err != nil {
			return maker{}, err
		}
		if err := installKey(sk, tree); err != nil {
			return maker{}, err
		}
		return newMaker(ctx, tree, marker)
	}()
	if err != nil {
		unlock()
		return maker{}, nil, err
	}
	return m, unlock, nil
}

// maker runs make in the kernel work tree with the settings that make the
// build reproducible.
type maker struct {
	ctx  context.Context
	tree string
	env  []string
}

// kcflags are the compiler flags the kernel's build adds. The debug info
// records the build folder (DW_AT_comp_dir), and the build-ids of vmlinux
// and every module hash it: -fdebug-prefix-map keeps the kernel from
// depending on where the cache is ($HOME). The debug info serves only
// pahole, which makes BTF from its types; nothing Berth ships carries it
// (vmlinuz and vmlinux are stripped, the modules too). -fno-var-tracking
// leaves out the variables' location lists, which BTF never reads: the
// code and the BTF are the same (compared object by object, with pahole
// 1.24). It saves 5.7% of the compiler's processor time: 342.9 s against
// 363.6 s for a sample of 301 objects (every 12th C file of the build, each
// compiled both ways, one after the other), 10-15% for the largest objects,
// which then compile as fast as with no debug info at all.
func kcflags(tree string) string {
	return prefixMap(tree) + " -fno-var-tracking"
}

// prefixMap is the flag that writes the build folder as /usr/src/linux in
// the debug info, for C (KCFLAGS) and assembler (KAFLAGS) alike.
func prefixMap(tree string) string {
	return "-fdebug-prefix-map=" + tree + "=/usr/src/linux"
}

func newMaker(ctx context.Context, tree string, marker sourceMarker) (maker, error) {
	// The compiler sees the folder with its symlinks resolved.
	realTree, err := filepath.EvalSymlinks(tree)
	if err != nil {
		return maker{}, err
	}
	env := append(os.Environ(),
		"KBUILD_BUILD_TIMESTAMP="+marker.Timestamp,
		"KBUILD_BUILD_USER=berth",
		"KBUILD_BUILD_HOST=berth",
		"KBUILD_BUILD_VERSION=1",
		"KCFLAGS="+kcflags(realTree),
		"KAFLAGS="+prefixMap(realTree),
		"LC_ALL=C",
		"TZ=UTC",
	)
	return maker{ctx: ctx, tree: tree, env: env}, nil
}

func (m maker) run(name string, args ...string) error {
	cmd := exec.CommandContext(m.ctx, name, args...)
	cmd.Dir = m.tree
	cmd.Env = m.env
	outb, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kernel: %s %s: %w\n%s", name, strings.Join(args, " "), err, tail(outb, 40))
	}
	return nil
}

// configure writes the tree's .config: defconfig, the fragments on top,
// then Kconfig resolves the rest. It returns the .config.
func (m maker) configure(frags []Fragment) ([]byte, error) {
	fragDir := filepath.Join(m.tree, ".berth-fragments")
	os.RemoveAll(fragDir)
	if err := os.MkdirAll(fragDir, 0o755); err != nil {
		return nil, err
	}
	args := []string{"-m", ".config"}
	for _, f := range frags {
		p := filepath.Join(fragDir, f.Name)
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return nil, err
		}
		args = append(args, p)
	}
	if err := m.run("make", "-s", "x86_64_defconfig"); err != nil {
		return nil, err
	}
	if err := m.run("scripts/kconfig/merge_config.sh", args...); err != nil {
		return nil, err
	}
	if err := m.run("make", "-s", "olddefconfig"); err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(m.tree, ".config"))
}

// compile makes bzImage and the modules, logging to logPath; progress
// counts the objects make reports.
func (m maker) compile(rep progress.Reporter, logPath string) error {
	jobs := fmt.Sprint(runtime.NumCPU())
	mk := rep.Start("kernel compile (make -j"+jobs+")", 0)
	if err := runLogged(m.ctx, m.tree, m.env, logPath, mk, "make", "-j"+jobs, "bzImage", "modules"); err != nil {
		mk.Fail(err)
		return err
	}
	mk.Done("")
	return nil
}

// install copies what compile made into out: vmlinuz and the signed,
// stripped modules under out/modules. It returns the kernel release.
func (m maker) install(out string) (string, error) {
	modRoot := filepath.Join(out, "modules")
	if err := m.run("make", "-s", "modules_install", "INSTALL_MOD_PATH="+modRoot, "INSTALL_MOD_STRIP=1"); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(m.ctx, "make", "-s", "kernelrelease")
	cmd.Dir, cmd.Env = m.tree, m.env
	rel, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("kernel: make kernelrelease: %w", err)
	}
	release := strings.TrimSpace(string(rel))
	// The build and source links point into the work tree; drop them.
	for _, l := range []string{"build", "source"} {
		os.Remove(filepath.Join(modRoot, "lib", "modules", release, l))
	}
	if err := copyFile(filepath.Join(m.tree, "arch/x86/boot/bzImage"), filepath.Join(out, "vmlinuz")); err != nil {
		return "", err
	}
	return release, nil
}

// normalizeModes gives the stage's files mode 0644 and its folders 0755:
// make modules_install and the writes above follow the umask, and the
// modules go into the root squashfs.
func normalizeModes(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			return os.Chmod(p, 0o755)
		case d.Type().IsRegular():
			return os.Chmod(p, 0o644)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kernel: set modes: %w", err)
	}
	return nil
}

// fetchSource downloads the pinned source package. A pin Debian's pool no
// longer has is an error that says how to move it; another version is
// never built quietly.
func fetchSource(ctx context.Context, c *cache.Cache, rep progress.Reporter, src Source) (string, error) {
	dl := rep.Start("fetch "+src.Package, 0)
	debPath, err := c.Fetch(ctx, cache.Download{URL: src.URL, SHA256: src.SHA256}, dl)
	if errors.Is(err, cache.ErrGone) {
		dl.Fail(err)
		return "", fmt.Errorf("kernel source %s %s is no longer in Debian's pool (%w); Debian drops superseded versions, "+
			"so move the pin with `berth kernel pin --latest` and commit %s. Berth never builds another version quietly", src.Package, src.Version, err, PinPath)
	}
	if err != nil {
		dl.Fail(err)
		return "", err
	}
	dl.Done("")
	return debPath, nil
}

// prepareTree makes sure tree holds the pinned source, extracting it when
// it does not, and returns what it was extracted from.
func prepareTree(rep progress.Reporter, debPath string, src Source, tree string) (sourceMarker, error) {
	markerPath := filepath.Join(tree, ".berth-source")
	var m sourceMarker
	if b, err := os.ReadFile(markerPath); err == nil && json.Unmarshal(b, &m) == nil && m.SHA256 == src.SHA256 {
		return m, nil
	}
	task := rep.Start("kernel source extract", 0)
	cache.RemoveAll(tree)
	if err := os.MkdirAll(tree, 0o755); err != nil {
		return m, err
	}
	found := false
	err := deb.WalkData(debPath, func(h *tar.Header, r io.Reader) error {
		if !strings.HasPrefix(filepath.Base(h.Name), "linux-source-") || !strings.HasSuffix(h.Name, ".tar.xz") {
			return nil
		}
		found = true
		m.Timestamp = h.ModTime.UTC().Format("2006-01-02 15:04:05 UTC")
		cmd := exec.Command("tar", "-xJ", "--strip-components=1", "-C", tree)
		cmd.Stdin = r
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("tar: %w: %s", err, tail(out, 10))
		}
		return nil
	})
	if err == nil && !found {
		err = errors.New("no linux-source tarball in the package")
	}
	if err != nil {
		err = fmt.Errorf("kernel: extract %s: %w", filepath.Base(debPath), err)
		task.Fail(err)
		return m, err
	}
	m.SHA256 = src.SHA256
	b, _ := json.Marshal(m)
	if err := os.WriteFile(markerPath, b, 0o644); err != nil {
		return m, err
	}
	task.Done("")
	return m, nil
}

// runLogged runs a command, writing its output to logPath and counting
// compiled objects on the task; on failure the error carries the log tail.
func runLogged(ctx context.Context, dir string, env []string, logPath string, task progress.Task, name string, args ...string) error {
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	var last []string
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			last = append(last, line)
			if len(last) > 40 {
				last = last[1:]
			}
			if strings.HasPrefix(line, "  CC") || strings.HasPrefix(line, "  LD") || strings.HasPrefix(line, "  AS") {
				task.Add(1)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	err = cmd.Wait()
	pw.Close()
	<-done
	if err != nil {
		return fmt.Errorf("kernel: %s %s: %w (log: %s)\n%s", name, strings.Join(args, " "), err, logPath, strings.Join(last, "\n"))
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
