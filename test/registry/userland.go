package registry

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/deb"
	"github.com/klauspost/compress/gzip"
)

// Userland is a Debian root filesystem that mmdebstrap makes from .debs
// pinned in a lock (`berth debs lock`): what the test registry serves as
// debian and ubuntu images. Building it needs root (the QEMU tests run as
// root) and, the first time only, Debian's archive for the pinned .debs;
// a cached one needs no network at all.
type Userland struct {
	// Request names the packages (its set's, installed with what they
	// depend on: the roots); Lock pins them and their dependencies. Both
	// are relative to the module root.
	Request string
	Lock    string
	Set     string // the set of both
	Suite   string // bookworm
	// Sources are the apt sources written into the userland, for a user
	// of the image; the build reads only the pinned .debs.
	Sources []string
}

// Bookworm is a minbase Debian 12 with its updates and security suites,
// pinned in test/registry/userland.lock.
var Bookworm = Userland{
	Request: "test/registry/userland.yaml",
	Lock:    "test/registry/userland.lock",
	Set:     "userland",
	Suite:   "bookworm",
	Sources: []string{
		"deb http://deb.debian.org/debian bookworm main",
		"deb http://deb.debian.org/debian bookworm-updates main",
		"deb http://deb.debian.org/debian-security bookworm-security main",
	},
}

// lockCommand moves the userland's pins.
const lockCommand = "bin/berth debs lock --request test/registry/userland.yaml --lock test/registry/userland.lock"

// Built is a userland in the cache.
type Built struct {
	// Layer is the root filesystem as a gzipped tar, ready to be a layer.
	Layer string
	// OSRelease is its /usr/lib/os-release.
	OSRelease []byte
	Key       string // the cache key: the pins and how they are installed
	Hit       bool   // it came from the cache
}

// args are mmdebstrap's arguments but the suite, the output and the
// source: the Essential packages and the roots, no documentation, and the
// user's apt sources. (mmdebstrap's minbase would take Priority: required
// from the index, which a local repository's index, made from the .debs,
// does not have as Debian's does.)
func (u Userland) args(roots []string) []string {
	return []string{
		"--variant=essential", "--include=" + strings.Join(roots, ","), "--mode=root", "--skip=output/dev",
		// Merged /usr from the start (bin, sbin and lib links to /usr)
		// with usr-is-merged installed, as debian:bookworm has it: no
		// usrmerge, which would pull in perl to convert a split /usr.
		"--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
		// No documentation, manuals or translations: a smaller layer.
		"--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-include=/usr/share/doc/*/copyright",
		"--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/info/*",
		"--dpkgopt=path-exclude=/usr/share/locale/*",
		// The local repository of pinned .debs is the build's; a user of
		// the image gets Debian's.
		"--customize-hook=printf '" + strings.Join(u.Sources, `\n`) + `\n' > "$1/etc/apt/sources.list"`,
	}
}

// Build returns the userland from the cache at c. When the cache lacks
// it, the pinned .debs are fetched (checked against their sha256) into a
// local repository that mmdebstrap installs from: the pins are exactly
// what the userland holds. root is the module root; logf reports progress.
func (u Userland) Build(ctx context.Context, c *cache.Cache, root string, logf func(string, ...any)) (Built, error) {
	req, err := deb.LoadRequest(filepath.Join(root, u.Request))
	if err != nil {
		return Built{}, fmt.Errorf("test userland: %w", err)
	}
	roots := req.Sets[u.Set].Packages
	if len(roots) == 0 {
		return Built{}, fmt.Errorf("test userland: %s: set %s names no package", u.Request, u.Set)
	}
	lock, err := deb.LoadLock(filepath.Join(root, u.Lock))
	if err != nil {
		return Built{}, fmt.Errorf("test userland: %w", err)
	}
	pkgs, err := lock.Set(u.Set)
	if err != nil {
		return Built{}, fmt.Errorf("test userland: %s: %w", u.Lock, err)
	}
	args := u.args(roots)
	k := cache.NewKey("test-userland", 2).String("args", strings.Join(args, "\n")).String("suite", u.Suite)
	for _, p := range pkgs {
		k.String(p.Name, p.Version+" "+p.SHA256)
	}
	key, err := k.Key()
	if err != nil {
		return Built{}, err
	}
	dir, hit, err := c.Stage("test-userland", key, func(dir string) error {
		t := time.Now()
		repo := filepath.Join(dir, "repo")
		if err := os.Mkdir(repo, 0o755); err != nil {
			return err
		}
		for _, p := range pkgs {
			path, err := c.Fetch(ctx, p.Download(), nil)
			if errors.Is(err, cache.ErrGone) {
				return fmt.Errorf("test userland: package %s %s, pinned in %s, is no longer in Debian's pool (%w); move the pins with `%s` and commit %s",
					p.Name, p.Version, u.Lock, err, lockCommand, u.Lock)
			}
			if err != nil {
				return fmt.Errorf("test userland: package %s %s: %w", p.Name, p.Version, err)
			}
			if err := os.Link(path, filepath.Join(repo, filepath.Base(p.URL))); err != nil {
				return fmt.Errorf("test userland: %w", err)
			}
		}
		logf("test userland: %d pinned packages in %.1fs", len(pkgs), time.Since(t).Seconds())
		for _, tool := range []string{"mmdebstrap", "dpkg-scanpackages"} {
			if _, err := exec.LookPath(tool); err != nil {
				return fmt.Errorf("test userland: %s is missing: run scripts/install-deps.sh", tool)
			}
		}
		scan := exec.CommandContext(ctx, "dpkg-scanpackages", "--multiversion", ".", "/dev/null")
		scan.Dir = repo
		index, err := scan.Output()
		if err != nil {
			return fmt.Errorf("test userland: dpkg-scanpackages: %w", err)
		}
		if err := os.WriteFile(filepath.Join(repo, "Packages"), index, 0o644); err != nil {
			return err
		}
		// mmdebstrap takes the Essential packages of the suite it is
		// given: the repository's Release names it. No signature: the
		// .debs were checked against their pins.
		sum := sha256.Sum256(index)
		release := fmt.Sprintf("Origin: berth-test\nSuite: %s\nCodename: %s\nArchitectures: amd64 all\nDate: Tue, 14 Nov 2023 22:13:20 UTC\nSHA256:\n %x %d Packages\n",
			u.Suite, u.Suite, sum, len(index))
		if err := os.WriteFile(filepath.Join(repo, "Release"), []byte(release), 0o644); err != nil {
			return err
		}
		raw := filepath.Join(dir, "rootfs.tar")
		// copy://: apt copies the .debs in, as file:// can't be read
		// from the chroot.
		cmd := exec.CommandContext(ctx, "mmdebstrap", append(args, u.Suite, raw, "deb [trusted=yes] copy://"+repo+" ./")...)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("test userland: mmdebstrap: %w\n%s", err, tail(out.String(), 30))
		}
		var names []string
		for _, p := range pkgs {
			names = append(names, p.Name+"="+p.Version)
		}
		if err := os.WriteFile(filepath.Join(dir, "packages.txt"), []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
			return err
		}
		if err := compress(raw, filepath.Join(dir, "rootfs.tar.gz"), filepath.Join(dir, "os-release")); err != nil {
			return fmt.Errorf("test userland: %w", err)
		}
		logf("test userland: built with mmdebstrap in %.1fs", time.Since(t).Seconds())
		if err := os.RemoveAll(repo); err != nil {
			return err
		}
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
