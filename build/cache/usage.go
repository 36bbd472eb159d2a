package cache

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"
)

// Part is one part of the cache and the disk space it takes.
type Part struct {
	Name    string // "dl", "stage/rootfs", "work/kernel/6.12.57-1"
	Entries int    // stage entries, downloads; 1 for a work tree
	Bytes   int64  // allocated on disk (a sparse raw image counts its data only)
	// LastUse is the most recent use of any of its entries.
	LastUse time.Time
	// Shared parts are links into another cache (Fork); their size is not counted.
	Shared bool
}

// Usage lists the parts of the cache: downloads, each stage, each work
// tree. A file hard-linked into several places counts once, in the first
// part that has it.
func (c *Cache) Usage() ([]Part, error) {
	seen := map[inode]bool{}
	var parts []Part
	add := func(name, path string, count func() (int, time.Time, error)) error {
		st, err := os.Lstat(path)
		if err != nil {
			return nil // not there: nothing to count
		}
		p := Part{Name: name}
		if st.Mode()&fs.ModeSymlink != 0 {
			p.Shared = true
			parts = append(parts, p)
			return nil
		}
		if p.Entries, p.LastUse, err = count(); err != nil {
			return fmt.Errorf("cache usage of %s: %w", name, err)
		}
		p.Bytes = diskUsage(path, seen)
		parts = append(parts, p)
		return nil
	}
	dl := filepath.Join(c.Root, "dl")
	if err := add("dl", dl, func() (int, time.Time, error) { return countFiles(dl) }); err != nil {
		return nil, err
	}
	stageRoot := filepath.Join(c.Root, "stage")
	ents, err := os.ReadDir(stageRoot)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("cache usage: %w", err)
	}
	for _, e := range ents {
		stage := e.Name()
		err := add("stage/"+stage, filepath.Join(stageRoot, stage), func() (int, time.Time, error) {
			entries, _, err := c.listStage(stage)
			var last time.Time
			for _, cand := range entries {
				if cand.used.After(last) {
					last = cand.used
				}
			}
			return len(entries), last, err
		})
		if err != nil {
			return nil, err
		}
	}
	trees, err := c.workTrees()
	if err != nil {
		return nil, err
	}
	for _, t := range trees {
		path := c.WorkDir(t)
		err := add("work/"+t, path, func() (int, time.Time, error) {
			st, err := os.Stat(path + ".lock")
			if err != nil {
				return 1, time.Time{}, nil
			}
			return 1, st.ModTime(), nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].Name < parts[j].Name })
	return parts, nil
}

func countFiles(dir string) (int, time.Time, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, time.Time{}, err
	}
	n := 0
	var last time.Time
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		n++
		if info, err := e.Info(); err == nil && info.ModTime().After(last) {
			last = info.ModTime()
		}
	}
	return n, last, nil
}

type inode struct{ dev, ino uint64 }

// diskUsage is the space allocated to the files under path (like du),
// counting each inode once across calls that share seen. Files that
// vanish meanwhile are not counted.
func diskUsage(path string, seen map[inode]bool) int64 {
	var n int64
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			n += info.Size()
			return nil
		}
		id := inode{uint64(st.Dev), st.Ino}
		if seen[id] {
			return nil
		}
		seen[id] = true
		n += st.Blocks * 512
		return nil
	})
	return n
}
