// Package cache keeps build outputs keyed by a content hash of their inputs,
// so that a rebuild with nothing changed does no work, and keeps verified
// downloads keyed by their sha256.
//
// Layout under the root ($XDG_CACHE_HOME/berth or ~/.cache/berth):
//
//	dl/<sha256>            verified downloads
//	stage/<stage>/<key>/   one finished stage output, made atomically
//	work/                  fixed-path work trees (the kernel build tree)
package cache

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/berth-os/berth/build/progress"
)

// Cache is a cache root.
type Cache struct {
	Root string
}

// DefaultRoot is $BERTH_CACHE, else $XDG_CACHE_HOME/berth, else ~/.cache/berth.
func DefaultRoot() string {
	if d := os.Getenv("BERTH_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "berth")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "berth")
	}
	return filepath.Join(os.TempDir(), "berth-cache")
}

// Open makes the cache root if needed.
func Open(root string) (*Cache, error) {
	for _, d := range []string{"dl", "stage", "work"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, fmt.Errorf("open cache: %w", err)
		}
	}
	return &Cache{Root: root}, nil
}

// WorkDir is a fixed path, under work/, for trees that must not move
// between builds (the kernel's objtool records absolute paths).
func (c *Cache) WorkDir(name string) string { return filepath.Join(c.Root, "work", name) }

// Stage returns the output directory of stage for key, running build into a
// fresh temporary directory and renaming it into place when it is missing.
// hit says whether the output was already there.
func (c *Cache) Stage(stage, key string, build func(dir string) error) (dir string, hit bool, err error) {
	dir = filepath.Join(c.Root, "stage", stage, key)
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, true, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", false, fmt.Errorf("stage %s: %w", stage, err)
	}
	tmp := dir + ".tmp-" + randHex(6)
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return "", false, fmt.Errorf("stage %s: %w", stage, err)
	}
	if err := build(tmp); err != nil {
		RemoveAll(tmp)
		return "", false, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		RemoveAll(tmp)
		if _, serr := os.Stat(dir); serr == nil {
			return dir, false, nil // a concurrent build won the race
		}
		return "", false, fmt.Errorf("stage %s: %w", stage, err)
	}
	return dir, false, nil
}

// RemoveAll removes a tree even where directories were made read-only.
func RemoveAll(path string) error {
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(path)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Hasher builds a cache key from named inputs. Every input is framed with
// its name and length, so different inputs cannot collide by concatenation.
type Hasher struct {
	h   hashWriter
	err error
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

// NewKey starts a key for a stage; bump version when the stage's recipe changes.
func NewKey(stage string, version int) *Hasher {
	k := &Hasher{h: sha256.New()}
	k.String("stage", stage+"/"+strconv.Itoa(version))
	return k
}

// String adds a named string.
func (k *Hasher) String(name, v string) *Hasher {
	fmt.Fprintf(k.h, "%s\x00%d\x00%s\x00", name, len(v), v)
	return k
}

// Bytes adds named bytes.
func (k *Hasher) Bytes(name string, v []byte) *Hasher { return k.String(name, string(v)) }

// File adds a file's content and mode.
func (k *Hasher) File(name, path string) *Hasher {
	f, err := os.Open(path)
	if err != nil {
		k.err = errors.Join(k.err, fmt.Errorf("hash %s: %w", path, err))
		return k
	}
	defer f.Close()
	st, _ := f.Stat()
	h := sha256.New()
	io.Copy(h, f)
	return k.String(name, fmt.Sprintf("%o:%x", st.Mode()&fs.ModePerm, h.Sum(nil)))
}

// Dir adds every file under a directory: relative paths, modes, symlink
// targets and contents, in sorted order.
func (k *Hasher) Dir(name, root string) *Hasher {
	var entries []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			entries = append(entries, fmt.Sprintf("%s l %s", rel, t))
		case d.IsDir():
			entries = append(entries, fmt.Sprintf("%s d %o", rel, info.Mode()&fs.ModePerm))
		case d.Type().IsRegular():
			sum, err := FileSHA256(p)
			if err != nil {
				return err
			}
			entries = append(entries, fmt.Sprintf("%s f %o %s", rel, info.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid), sum))
		}
		return nil
	})
	if err != nil {
		k.err = errors.Join(k.err, fmt.Errorf("hash %s: %w", root, err))
	}
	sort.Strings(entries)
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintln(h, e)
	}
	return k.String(name, hex.EncodeToString(h.Sum(nil)))
}

// Key returns the hex key, or the first error met while hashing.
func (k *Hasher) Key() (string, error) {
	if k.err != nil {
		return "", k.err
	}
	return hex.EncodeToString(k.h.Sum(nil))[:32], nil
}

// Fork makes an empty cache at dir that shares the listed parts of c (for
// instance "dl" and "stage/kernel") through symbolic links: a build in it
// redoes everything else from scratch.
func (c *Cache) Fork(dir string, share ...string) (*Cache, error) {
	RemoveAll(dir)
	f, err := Open(dir)
	if err != nil {
		return nil, err
	}
	for _, s := range share {
		src := filepath.Join(c.Root, s)
		if err := os.MkdirAll(src, 0o755); err != nil {
			return nil, err
		}
		dst := filepath.Join(dir, s)
		os.RemoveAll(dst)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		if err := os.Symlink(src, dst); err != nil {
			return nil, fmt.Errorf("fork cache: %w", err)
		}
	}
	return f, nil
}

// Reported is Stage with a progress task named title: it ends "cached" when
// the output was there already, and made (e.g. "built") otherwise. build
// gets the task to count on (total sizes it; 0 for a spinner).
func (c *Cache) Reported(rep progress.Reporter, title string, total int64, stage, key, made string, build func(dir string, task progress.Task) error) (string, bool, error) {
	task := rep.Start(title, total)
	dir, hit, err := c.Stage(stage, key, func(out string) error { return build(out, task) })
	if err != nil {
		task.Fail(err)
		return "", false, err
	}
	if hit {
		made = "cached"
	}
	task.Done(made)
	return dir, hit, nil
}

// FileSHA256 is the hex sha256 of a file's content.
func FileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
