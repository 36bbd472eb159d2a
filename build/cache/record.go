package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-os/berth/build/tree"
)

// record is what one successful build used: builds/<unix nanoseconds>.json.
type record struct {
	Time      time.Time `json:"time"`
	Entries   []string  `json:"entries"`   // stage/key
	Downloads []string  `json:"downloads"` // sha256
	path      string
}

// Record notes what this value has used, as one successful build: a prune
// keeps what the last few builds used (Policy.Builds).
func (c *Cache) Record() error {
	c.mu.Lock()
	r := record{Time: time.Now().UTC()}
	for e := range c.held {
		r.Entries = append(r.Entries, e.String())
	}
	for s := range c.dl {
		r.Downloads = append(r.Downloads, s)
	}
	c.mu.Unlock()
	sort.Strings(r.Entries)
	sort.Strings(r.Downloads)
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("record build: %w", err)
	}
	dir := filepath.Join(c.Root, "builds")
	if err := tree.MkdirAll(dir); err != nil {
		return fmt.Errorf("record build: %w", err)
	}
	name := strconv.FormatInt(r.Time.UnixNano(), 10) + "-" + randHex(4) + ".json"
	if err := tree.WriteFile(filepath.Join(dir, name), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("record build: %w", err)
	}
	return nil
}

// records are the build records, newest first.
func (c *Cache) records() ([]record, error) {
	dir := filepath.Join(c.Root, "builds")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read build records: %w", err)
	}
	var out []record
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read build record: %w", err)
		}
		var r record
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("read build record %s: %w", p, err)
		}
		r.path = p
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out, nil
}

// kept is what a prune by p keeps whatever its age: what this value used,
// and what the last p.Builds builds within p.MaxAge used.
func (c *Cache) kept(p Policy, now time.Time) (map[Entry]bool, map[string]bool, error) {
	keep, keepDL := map[Entry]bool{}, map[string]bool{}
	c.mu.Lock()
	for e := range c.held {
		keep[e] = true
	}
	for s := range c.dl {
		keepDL[s] = true
	}
	c.mu.Unlock()
	recs, err := c.records()
	if err != nil {
		return nil, nil, err
	}
	for i, r := range recs {
		if i >= p.Builds || now.Sub(r.Time) > p.MaxAge {
			break
		}
		for _, e := range r.Entries {
			stage, key, _ := strings.Cut(e, "/")
			keep[Entry{stage, key}] = true
		}
		for _, s := range r.Downloads {
			keepDL[s] = true
		}
	}
	return keep, keepDL, nil
}

// pruneRecords removes the records that keep nothing any more.
func (c *Cache) pruneRecords(p Policy, now time.Time) error {
	if p.DryRun {
		return nil
	}
	recs, err := c.records()
	if err != nil {
		return err
	}
	var errs []error
	for i, r := range recs {
		if i >= p.Builds || now.Sub(r.Time) > p.MaxAge {
			if err := os.Remove(r.path); err != nil {
				errs = append(errs, fmt.Errorf("prune build record: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}
