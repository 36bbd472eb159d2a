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
	"github.com/berth-os/berth/internal/atomicfile"
)

// record is what one successful build used: builds/<unix nanoseconds>.json;
// or what a named user of the cache used last: builds/named-<name>.json.
type record struct {
	Name      string    `json:"name,omitempty"`
	Time      time.Time `json:"time"`
	Entries   []string  `json:"entries"`   // stage/key
	Downloads []string  `json:"downloads"` // sha256
	path      string
}

// Record notes what this value has used, as one successful build: a prune
// keeps what the last few builds used (Policy.Builds).
func (c *Cache) Record() error {
	return c.record("")
}

// RecordAs notes what this value has used under name, replacing what was
// noted under it before: the test assets, say, which no build makes. A
// prune keeps it for Policy.MaxAge whatever the builds since, and it
// does not count among Policy.Builds.
func (c *Cache) RecordAs(name string) error {
	if name == "" || strings.ContainsAny(name, "/.") {
		return fmt.Errorf("record %q: a name is a word", name)
	}
	return c.record(name)
}

func (c *Cache) record(name string) error {
	c.mu.Lock()
	r := record{Name: name, Time: time.Now().UTC()}
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
	file := strconv.FormatInt(r.Time.UnixNano(), 10) + "-" + randHex(4) + ".json"
	if name != "" {
		file = "named-" + name + ".json"
	}
	if err := atomicfile.Write(filepath.Join(dir, file), append(data, '\n'), 0o644); err != nil {
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
	builds := 0
	for _, r := range recs {
		if now.Sub(r.Time) > p.MaxAge {
			continue
		}
		if r.Name == "" {
			if builds >= p.Builds {
				continue
			}
			builds++
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
	builds := 0
	for _, r := range recs {
		old := now.Sub(r.Time) > p.MaxAge
		if r.Name == "" && !old {
			builds++
			old = builds > p.Builds
		}
		if old {
			if err := os.Remove(r.path); err != nil {
				errs = append(errs, fmt.Errorf("prune build record: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}
