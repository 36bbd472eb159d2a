// Package cache keeps build outputs keyed by a content hash of their inputs,
// so that a rebuild with nothing changed does no work, and keeps verified
// downloads keyed by their sha256.
//
// Layout under the root ($XDG_CACHE_HOME/berth or ~/.cache/berth):
//
//	dl/<sha256>               verified downloads
//	stage/<stage>/<key>/      one finished stage output, made atomically
//	stage/<stage>/<key>.lock  held (shared) by every build using the entry;
//	                          its mtime is when the entry was last used
//	work/                     fixed-path work trees (the kernel build tree),
//	                          each with a <tree>.lock held while it is used
//
// A Cache value records the entries it uses and holds their locks until
// Release, so that Prune (in this process or another) never removes an
// entry a build is using. Prune removes what no build holds: entries beyond
// the few most recently used of each stage, or unused for days.
package cache

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/build/tree"
)

// Cache is a cache root, and the entries this value has used.
type Cache struct {
	Root string

	mu   sync.Mutex
	held map[Entry]*os.File // shared locks on the entries used
	dl   map[string]bool    // downloads used, by sha256
}

// Entry names one stage output.
type Entry struct {
	Stage, Key string
}

func (e Entry) String() string { return e.Stage + "/" + e.Key }

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
		if err := tree.MkdirAll(filepath.Join(root, d)); err != nil {
			return nil, fmt.Errorf("open cache %s: %w", root, err)
		}
	}
	return &Cache{Root: root}, nil
}

// Session returns a Cache on the same root that records its own uses: a
// build takes one, and releases it when done.
func (c *Cache) Session() *Cache { return &Cache{Root: c.Root} }

// Used lists the entries this value has used, sorted.
func (c *Cache) Used() []Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Entry, 0, len(c.held))
	for e := range c.held {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Release lets go of every entry this value holds: a prune may remove them
// from now on.
func (c *Cache) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e, f := range c.held {
		f.Close()
		delete(c.held, e)
	}
}

// WorkDir is a fixed path, under work/, for trees that must not move
// between builds (the kernel's objtool records absolute paths). Whoever
// uses one holds LockWork on it.
func (c *Cache) WorkDir(name string) string { return filepath.Join(c.Root, "work", name) }

// LockWork takes the exclusive lock of a work tree (waiting for another
// build that holds it); Prune never removes a held tree.
func (c *Cache) LockWork(name string) (unlock func(), err error) {
	dir := c.WorkDir(name)
	if err := tree.MkdirAll(filepath.Dir(dir)); err != nil {
		return nil, fmt.Errorf("lock work tree %s: %w", name, err)
	}
	f, err := lockFile(dir+".lock", lockExclusive)
	if err != nil {
		return nil, fmt.Errorf("lock work tree %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}

func (c *Cache) entryDir(e Entry) string { return filepath.Join(c.Root, "stage", e.Stage, e.Key) }

// hold takes the shared lock of an entry for this value and stamps its
// use, once per entry.
func (c *Cache) hold(e Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.held[e]; ok {
		return nil
	}
	dir := c.entryDir(e)
	if err := tree.MkdirAll(filepath.Dir(dir)); err != nil {
		return err
	}
	f, err := lockFile(dir+".lock", lockShared)
	if err != nil {
		return err
	}
	if err := stamp(dir + ".lock"); err != nil {
		f.Close()
		return err
	}
	if c.held == nil {
		c.held = map[Entry]*os.File{}
	}
	c.held[e] = f
	return nil
}

// buildingLock is the suffix of the lock file that whoever makes an entry
// holds. A prune removes one left behind, as an unfinished entry's.
const buildingLock = ".building.lock"

// Stage returns the output directory of stage for key, running build into a
// fresh temporary directory and renaming it into place when it is missing.
// hit says whether the output was already there (or made by another while
// this one waited). The entry stays held until Release.
func (c *Cache) Stage(stage, key string, build func(dir string) error) (dir string, hit bool, err error) {
	e := Entry{stage, key}
	if err := c.hold(e); err != nil {
		return "", false, fmt.Errorf("stage %s: %w", e, err)
	}
	dir = c.entryDir(e)
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, true, nil
	}
	// One makes an entry, the others wait for it (in this process or
	// another): an exclusive lock per key, then a second look.
	building := dir + buildingLock
	bl, err := lockFile(building, lockExclusive)
	if err != nil {
		return "", false, fmt.Errorf("stage %s: %w", e, err)
	}
	defer func() {
		os.Remove(building) // a waiter then locks a new file
		bl.Close()
	}()
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, true, nil
	}
	tmp := dir + ".tmp-" + randHex(6)
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return "", false, fmt.Errorf("stage %s: %w", e, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // whatever the umask
		return "", false, fmt.Errorf("stage %s: %w", e, err)
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
		return "", false, fmt.Errorf("stage %s: %w", e, err)
	}
	return dir, false, nil
}

// Use holds an entry that exists, as Stage would, without building it: a
// stage whose output is gathered from others (the Go programs) uses them
// even when its own output is cached. ok is false when it is missing.
func (c *Cache) Use(stage, key string) (dir string, ok bool, err error) {
	e := Entry{stage, key}
	if err := c.hold(e); err != nil {
		return "", false, fmt.Errorf("use %s: %w", e, err)
	}
	dir = c.entryDir(e)
	st, err := os.Stat(dir)
	return dir, err == nil && st.IsDir(), nil
}

// Step describes a stage entry and its progress task.
type Step struct {
	Stage string // the folder under stage/
	Key   string
	Title string // what the progress task is called
	Total int64  // what the task counts up to; 0 for a spinner
	Made  string // what the task says when it made the entry ("built"); "cached" otherwise
}

// Reported is Stage with a progress task. build gets the task to count on.
func (c *Cache) Reported(rep progress.Reporter, s Step, build func(dir string, task progress.Task) error) (dir string, hit bool, err error) {
	task := rep.Start(s.Title, s.Total)
	dir, hit, err = c.Stage(s.Stage, s.Key, func(out string) error { return build(out, task) })
	if err != nil {
		task.Fail(err)
		return "", false, err
	}
	made := s.Made
	if hit {
		made = "cached"
	}
	task.Done(made)
	return dir, hit, nil
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

// Fork makes an empty cache at dir that shares the listed parts of c (for
// instance "dl" and "stage/kernel") through symbolic links: a build in it
// redoes everything else from scratch. Prune leaves shared parts alone:
// they belong to c.
func (c *Cache) Fork(dir string, share ...string) (*Cache, error) {
	RemoveAll(dir)
	f, err := Open(dir)
	if err != nil {
		return nil, err
	}
	for _, s := range share {
		src := filepath.Join(c.Root, s)
		if err := tree.MkdirAll(src); err != nil {
			return nil, fmt.Errorf("fork cache: %w", err)
		}
		dst := filepath.Join(dir, s)
		if err := os.RemoveAll(dst); err != nil {
			return nil, fmt.Errorf("fork cache: %w", err)
		}
		if err := tree.MkdirAll(filepath.Dir(dst)); err != nil {
			return nil, fmt.Errorf("fork cache: %w", err)
		}
		if err := os.Symlink(src, dst); err != nil {
			return nil, fmt.Errorf("fork cache: %w", err)
		}
	}
	return f, nil
}
