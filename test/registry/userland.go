package registry

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/berth-os/berth/build/cache"
	"github.com/klauspost/compress/gzip"
)

// Userland is a Debian root filesystem that mmdebstrap makes: what the
// test registry serves as debian and ubuntu images. Building it needs
// root (the QEMU tests run as root) and Debian's archive.
type Userland struct {
	Suite   string   // bookworm
	Variant string   // minbase
	Sources []string // one-line apt sources, pinned suites
	Include []string // packages beyond the variant's
}

// Bookworm is a minbase Debian 12 with its updates and security suites.
var Bookworm = Userland{
	Suite:   "bookworm",
	Variant: "minbase",
	Sources: []string{
		"deb http://deb.debian.org/debian bookworm main",
		"deb http://deb.debian.org/debian bookworm-updates main",
		"deb http://deb.debian.org/debian-security bookworm-security main",
	},
}

// Built is a userland in the cache.
type Built struct {
	// Layer is the root filesystem as a gzipped tar, ready to be a layer.
	Layer string
	// OSRelease is its /usr/lib/os-release.
	OSRelease []byte
	Key       string // the cache key: the resolved package set
	Hit       bool   // it came from the cache
}

// args are mmdebstrap's arguments but the output.
func (u Userland) args() []string {
	a := []string{
		"--variant=" + u.Variant, "--mode=root", "--skip=output/dev",
		// No documentation, manuals or translations: a smaller layer.
		"--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-include=/usr/share/doc/*/copyright",
		"--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/info/*",
		"--dpkgopt=path-exclude=/usr/share/locale/*",
	}
	if len(u.Include) > 0 {
		a = append(a, "--include="+strings.Join(u.Include, ","))
	}
	return a
}

var instRe = regexp.MustCompile(`(?m)^Inst (\S+) \((\S+) `)

// Resolve asks mmdebstrap, in simulation (a few seconds: the package
// lists only), which packages at which versions the userland is made of:
// sorted name=version lines.
func (u Userland) Resolve(ctx context.Context) ([]string, error) {
	args := append([]string{"--simulate", "--verbose"}, u.args()...)
	args = append(args, u.Suite, "/dev/null")
	args = append(args, u.Sources...)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "mmdebstrap", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("mmdebstrap --simulate: %w\n%s", err, tail(out.String(), 20))
	}
	var pkgs []string
	for _, m := range instRe.FindAllStringSubmatch(out.String(), -1) {
		pkgs = append(pkgs, m[1]+"="+m[2])
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("mmdebstrap --simulate listed no package\n%s", tail(out.String(), 20))
	}
	sort.Strings(pkgs)
	return pkgs, nil
}

// Build returns the userland from the cache at c, built with mmdebstrap
// when the cache lacks its resolved package set. logf reports progress.
func (u Userland) Build(ctx context.Context, c *cache.Cache, logf func(string, ...any)) (Built, error) {
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		return Built{}, fmt.Errorf("test userland: mmdebstrap is missing: run scripts/install-deps.sh (apt-get install mmdebstrap)")
	}
	start := time.Now()
	pkgs, err := u.Resolve(ctx)
	if err != nil {
		return Built{}, fmt.Errorf("test userland: %w", err)
	}
	k := cache.NewKey("test-userland", 1).String("args", strings.Join(u.args(), "\n")).
		String("suite", u.Suite).String("sources", strings.Join(u.Sources, "\n")).String("packages", strings.Join(pkgs, "\n"))
	key, err := k.Key()
	if err != nil {
		return Built{}, err
	}
	logf("test userland: %d packages resolved in %.1fs (key %.12s)", len(pkgs), time.Since(start).Seconds(), key)
	dir, hit, err := c.Stage("test-userland", key, func(dir string) error {
		t := time.Now()
		raw := filepath.Join(dir, "rootfs.tar")
		args := append(u.args(), u.Suite, raw)
		args = append(args, u.Sources...)
		cmd := exec.CommandContext(ctx, "mmdebstrap", args...)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("test userland: mmdebstrap: %w\n%s", err, tail(out.String(), 30))
		}
		if err := os.WriteFile(filepath.Join(dir, "packages.txt"), []byte(strings.Join(pkgs, "\n")+"\n"), 0o644); err != nil {
			return err
		}
		if err := compress(raw, filepath.Join(dir, "rootfs.tar.gz"), filepath.Join(dir, "os-release")); err != nil {
			return fmt.Errorf("test userland: %w", err)
		}
		logf("test userland: built with mmdebstrap in %.1fs", time.Since(t).Seconds())
		return os.Remove(raw)
	})
	if err != nil {
		return Built{}, err
	}
	osr, err := os.ReadFile(filepath.Join(dir, "os-release"))
	if err != nil {
		return Built{}, fmt.Errorf("test userland: %w", err)
	}
	return Built{Layer: filepath.Join(dir, "rootfs.tar.gz"), OSRelease: osr, Key: key, Hit: hit}, nil
}

// compress gzips the tar at src into dst and keeps its os-release.
func compress(src, dst, osRelease string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	tr := tar.NewReader(io.TeeReader(in, zw))
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", src, err)
		}
		if strings.TrimPrefix(h.Name, "./") == "usr/lib/os-release" {
			b, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			if err := os.WriteFile(osRelease, b, 0o644); err != nil {
				return err
			}
			found = true
		}
	}
	// The tar reader stops at the end-of-archive marker: the padding after
	// it belongs in the layer too.
	if _, err := io.Copy(zw, in); err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s has no usr/lib/os-release", src)
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
