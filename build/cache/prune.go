package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Policy says what a prune keeps. Whatever it says, a prune keeps the
// entries and downloads the pruning Cache value used, and every entry or
// work tree a build holds.
type Policy struct {
	// Builds: what the last Builds successful builds used (their records,
	// see Record) is kept: another image variant, another branch.
	Builds int
	// MaxAge: a build record older than this keeps nothing.
	MaxAge time.Duration
	// Grace: entries and downloads used this recently are kept. A build by
	// an older berth takes no locks and writes no record, and a build
	// does not lock the downloads it unpacks.
	Grace time.Duration
	// Work lists the work trees kept (relative to work/, such as
	// "kernel/6.12.57-1"): the kernel tree of the pinned source, which a
	// config change rebuilds incrementally.
	Work []string
	// DryRun reports what would go and removes nothing.
	DryRun bool
}

// DefaultPolicy is what a build prunes with when it succeeds.
var DefaultPolicy = Policy{Builds: 3, MaxAge: 7 * 24 * time.Hour, Grace: time.Hour}

// StrayAge is how long what is left of an unfinished entry (a temporary
// folder) is kept after its last change when no build holds the entry:
// a build by an older berth, which took no locks, may still be making it.
const StrayAge = 24 * time.Hour

// Removed is one thing a prune removed, or would have but for a build
// holding it.
type Removed struct {
	Path  string // relative to the cache root
	Bytes int64  // disk space it took
}

// Report is what a prune did.
type Report struct {
	Removed []Removed
	Busy    []string // left alone: a build holds them
}

// Freed is the disk space the prune gave back.
func (r *Report) Freed() int64 {
	var n int64
	for _, x := range r.Removed {
		n += x.Bytes
	}
	return n
}

// candidate is a stage entry with its last use.
type candidate struct {
	e    Entry
	used time.Time
}

// Prune removes what p does not keep. Parts of the cache that are
// symbolic links (shared from another cache by Fork) are left alone.
func (c *Cache) Prune(p Policy) (*Report, error) {
	now := time.Now()
	keep, keepDL, err := c.kept(p, now)
	if err != nil {
		return nil, err
	}
	r := &Report{}
	var errs []error
	stages, err := c.ownDirs("stage")
	if err != nil {
		return nil, err
	}
	for _, stage := range stages {
		entries, strays, err := c.listStage(stage)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, cand := range entries {
			if !keep[cand.e] && now.Sub(cand.used) >= p.Grace {
				errs = append(errs, c.removeEntry(r, cand.e, p.DryRun))
			}
		}
		for _, key := range strays {
			errs = append(errs, c.removeStray(r, Entry{stage, key}, now, p.DryRun))
		}
	}
	errs = append(errs, c.pruneDownloads(r, keepDL, p.Grace, now, p.DryRun))
	errs = append(errs, c.pruneWork(r, p.Work, p.DryRun))
	errs = append(errs, c.pruneRecords(p, now))
	return r, errors.Join(errs...)
}

// ownDirs lists the folders under part (relative to the root) that are
// this cache's own, not links into another.
func (c *Cache) ownDirs(part string) ([]string, error) {
	dir := filepath.Join(c.Root, part)
	if st, err := os.Lstat(dir); err != nil || st.Mode()&fs.ModeSymlink != 0 {
		return nil, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("prune %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() { // a symbolic link is not
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// listStage returns a stage's entries with their last use, and the keys of
// what is left of builds that did not finish: temporary folders and lock
// files without an entry.
func (c *Cache) listStage(stage string) ([]candidate, []string, error) {
	dir := filepath.Join(c.Root, "stage", stage)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("prune %s: %w", dir, err)
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	var entries []candidate
	strays := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.Contains(name, ".tmp-"):
			strays[name[:strings.Index(name, ".tmp-")]] = true
		case strings.HasSuffix(name, ".lock"):
			if !names[strings.TrimSuffix(name, ".lock")] {
				strays[strings.TrimSuffix(name, ".lock")] = true
			}
		case e.IsDir():
			used, err := lastUse(filepath.Join(dir, name))
			if err != nil {
				return nil, nil, fmt.Errorf("prune %s: %w", dir, err)
			}
			entries = append(entries, candidate{Entry{stage, name}, used})
		}
	}
	keys := make([]string, 0, len(strays))
	for k := range strays {
		if !names[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return entries, keys, nil
}

// lastUse is the mtime of an entry's lock file, or of the entry itself
// when it has none (made before entries had locks).
func lastUse(dir string) (time.Time, error) {
	st, err := os.Stat(dir + ".lock")
	if errors.Is(err, fs.ErrNotExist) {
		st, err = os.Stat(dir)
	}
	if err != nil {
		return time.Time{}, err
	}
	return st.ModTime(), nil
}

// removeEntry removes an entry unless a build holds it. The exclusive
// lock is held while the entry goes, so a build that wants it waits, then
// finds it missing and makes it again.
func (c *Cache) removeEntry(r *Report, e Entry, dry bool) error {
	dir := c.entryDir(e)
	f, err := lockFile(dir+".lock", tryExclusive)
	if errors.Is(err, errBusy) {
		r.Busy = append(r.Busy, filepath.Join("stage", e.Stage, e.Key))
		return nil
	}
	if err != nil {
		return fmt.Errorf("prune %s: %w", e, err)
	}
	defer f.Close()
	r.Removed = append(r.Removed, Removed{Path: filepath.Join("stage", e.Stage, e.Key), Bytes: diskUsage(dir, map[inode]bool{})})
	if dry {
		return nil
	}
	if err := RemoveAll(dir); err != nil {
		return fmt.Errorf("prune %s: %w", e, err)
	}
	if err := os.Remove(dir + ".lock"); err != nil {
		return fmt.Errorf("prune %s: %w", e, err)
	}
	return nil
}

// removeStray removes the temporary folders and lock file of an entry
// that was never finished, unless a build is making it now or a folder
// changed within StrayAge.
func (c *Cache) removeStray(r *Report, e Entry, now time.Time, dry bool) error {
	dir := c.entryDir(e)
	f, err := lockFile(dir+".lock", tryExclusive)
	if errors.Is(err, errBusy) {
		return nil // being made
	}
	if err != nil {
		return fmt.Errorf("prune %s: %w", e, err)
	}
	defer f.Close()
	tmps, err := filepath.Glob(dir + ".tmp-*")
	if err != nil {
		return fmt.Errorf("prune %s: %w", e, err)
	}
	kept := false
	for _, t := range tmps {
		st, err := os.Stat(t)
		if err != nil {
			return fmt.Errorf("prune %s: %w", e, err)
		}
		if now.Sub(st.ModTime()) < StrayAge {
			kept = true
			continue
		}
		rel, err := filepath.Rel(c.Root, t)
		if err != nil {
			return fmt.Errorf("prune %s: %w", e, err)
		}
		r.Removed = append(r.Removed, Removed{Path: rel, Bytes: diskUsage(t, map[inode]bool{})})
		if dry {
			continue
		}
		if err := RemoveAll(t); err != nil {
			return fmt.Errorf("prune %s: %w", e, err)
		}
	}
	if _, err := os.Stat(dir); !dry && !kept && errors.Is(err, fs.ErrNotExist) {
		if err := os.Remove(dir + ".lock"); err != nil {
			return fmt.Errorf("prune %s: %w", e, err)
		}
	}
	return nil
}

// pruneDownloads removes the downloads not in keep that nobody used
// within grace.
func (c *Cache) pruneDownloads(r *Report, keep map[string]bool, grace time.Duration, now time.Time, dry bool) error {
	dir := filepath.Join(c.Root, "dl")
	if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
		return nil // missing, or shared from another cache
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("prune %s: %w", dir, err)
	}
	var errs []error
	for _, e := range ents {
		if keep[e.Name()] || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			errs = append(errs, fmt.Errorf("prune download %s: %w", e.Name(), err))
			continue
		}
		if now.Sub(info.ModTime()) < grace {
			continue
		}
		p := filepath.Join(dir, e.Name())
		r.Removed = append(r.Removed, Removed{Path: filepath.Join("dl", e.Name()), Bytes: diskUsage(p, map[inode]bool{})})
		if dry {
			continue
		}
		if err := os.Remove(p); err != nil {
			errs = append(errs, fmt.Errorf("prune download %s: %w", e.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// pruneWork removes the work trees not in keep that no build holds. A work
// tree is a folder with a lock file beside it, at most two levels under
// work/ ("kernel/<version>").
func (c *Cache) pruneWork(r *Report, keep []string, dry bool) error {
	kept := map[string]bool{}
	for _, k := range keep {
		kept[filepath.Clean(k)] = true
	}
	trees, err := c.workTrees()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range trees {
		if kept[name] {
			continue
		}
		tree := c.WorkDir(name)
		f, err := lockFile(tree+".lock", tryExclusive)
		if errors.Is(err, errBusy) {
			r.Busy = append(r.Busy, filepath.Join("work", name))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("prune work tree %s: %w", name, err))
			continue
		}
		r.Removed = append(r.Removed, Removed{Path: filepath.Join("work", name), Bytes: diskUsage(tree, map[inode]bool{})})
		if !dry {
			if err := RemoveAll(tree); err != nil {
				errs = append(errs, fmt.Errorf("prune work tree %s: %w", name, err))
			} else if err := os.Remove(tree + ".lock"); err != nil {
				errs = append(errs, fmt.Errorf("prune work tree %s: %w", name, err))
			}
		}
		f.Close()
	}
	return errors.Join(errs...)
}

// workTrees lists the work trees, relative to work/.
func (c *Cache) workTrees() ([]string, error) {
	var out []string
	var walk func(rel string, depth int) error
	walk = func(rel string, depth int) error {
		dir := filepath.Join(c.Root, "work", rel)
		if st, err := os.Lstat(dir); err != nil || st.Mode()&fs.ModeSymlink != 0 {
			return nil
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("prune %s: %w", dir, err)
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			name := filepath.Join(rel, e.Name())
			if _, err := os.Stat(filepath.Join(dir, e.Name()) + ".lock"); err == nil {
				out = append(out, name)
			} else if depth < 2 {
				if err := walk(name, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk("", 1); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}
