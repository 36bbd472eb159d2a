package cache

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// entry makes a finished entry last used age ago.
func entry(t *testing.T, c *Cache, stage, key string, age time.Duration) {
	t.Helper()
	s := c.Session()
	if _, _, err := s.Stage(stage, key, func(d string) error { return os.WriteFile(filepath.Join(d, "f"), []byte(key), 0o644) }); err != nil {
		t.Fatal(err)
	}
	s.Release()
	when := time.Now().Add(-age)
	if err := os.Chtimes(c.entryDir(Entry{stage, key})+".lock", when, when); err != nil {
		t.Fatal(err)
	}
}

// download makes a download last used age ago.
func download(t *testing.T, c *Cache, sum string, age time.Duration) {
	t.Helper()
	p := filepath.Join(c.Root, "dl", sum)
	if err := os.WriteFile(p, []byte(sum), 0o644); err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-age)
	if err := os.Chtimes(p, when, when); err != nil {
		t.Fatal(err)
	}
}

// contents lists what is left: entries, downloads, work trees.
func contents(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		parts := strings.Split(rel, string(filepath.Separator))
		switch {
		case parts[0] == "stage" && len(parts) == 3 && d.IsDir(),
			parts[0] == "stage" && len(parts) == 3 && strings.Contains(parts[2], ".tmp-"),
			parts[0] == "dl" && len(parts) == 2,
			parts[0] == "work" && len(parts) == 3 && d.IsDir():
			out = append(out, rel)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

const day = 24 * time.Hour

// recordBuild writes the record of a build that ended age ago having used
// entries ("stage/key") and downloads ("dl/sum").
func recordBuild(t *testing.T, c *Cache, age time.Duration, used ...string) {
	t.Helper()
	r := record{Time: time.Now().Add(-age).UTC()}
	for _, u := range used {
		if sum, ok := strings.CutPrefix(u, "dl/"); ok {
			r.Downloads = append(r.Downloads, sum)
		} else {
			r.Entries = append(r.Entries, u)
		}
	}
	data, _ := json.Marshal(r)
	os.MkdirAll(filepath.Join(c.Root, "builds"), 0o755)
	if err := os.WriteFile(filepath.Join(c.Root, "builds", fmt.Sprintf("%d.json", r.Time.UnixNano())), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPrunePolicy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policy   Policy
		setup    func(t *testing.T, c, build, other *Cache)
		want     []string
		wantBusy []string
	}{
		{
			name:   "keeps what this build and the last three builds used, every entry of a stage",
			policy: DefaultPolicy,
			setup: func(t *testing.T, c, build, _ *Cache) {
				for _, k := range []string{"udev", "console", "b1", "b2", "b3", "b4", "none"} {
					entry(t, c, "service", k, 5*day)
				}
				build.Use("service", "udev")
				build.Use("service", "console")
				for i, k := range []string{"b1", "b2", "b3", "b4"} {
					recordBuild(t, c, time.Duration(i+1)*time.Hour, "service/"+k)
				}
			},
			want: []string{"stage/service/b1", "stage/service/b2", "stage/service/b3", "stage/service/console", "stage/service/udev"},
		},
		{
			name:   "a build older than MaxAge keeps nothing",
			policy: DefaultPolicy,
			setup: func(t *testing.T, c, _, _ *Cache) {
				entry(t, c, "rootfs", "new", 2*time.Hour)
				entry(t, c, "rootfs", "old", 9*day)
				recordBuild(t, c, 2*time.Hour, "rootfs/new")
				recordBuild(t, c, 8*day, "rootfs/old")
			},
			want: []string{"stage/rootfs/new"},
		},
		{
			name:   "entries used within the grace period stay (an older berth records nothing)",
			policy: DefaultPolicy,
			setup: func(t *testing.T, c, _, _ *Cache) {
				entry(t, c, "rootfs", "recent", 10*time.Minute)
				entry(t, c, "rootfs", "stale", 2*time.Hour)
			},
			want: []string{"stage/rootfs/recent"},
		},
		{
			name:   "all removes everything no build uses",
			policy: Policy{},
			setup: func(t *testing.T, c, build, _ *Cache) {
				entry(t, c, "rootfs", "a", time.Hour)
				entry(t, c, "rootfs", "b", time.Minute)
				entry(t, c, "gobin", "g", time.Minute)
				recordBuild(t, c, time.Minute, "rootfs/b")
				build.Use("gobin", "g")
			},
			want: []string{"stage/gobin/g"},
		},
		{
			name:   "an entry another build holds stays",
			policy: Policy{},
			setup: func(t *testing.T, c, _, other *Cache) {
				entry(t, c, "raw", "theirs", 30*day)
				entry(t, c, "raw", "stale", 30*day)
				other.Use("raw", "theirs")
			},
			want:     []string{"stage/raw/theirs"},
			wantBusy: []string{"stage/raw/theirs"},
		},
		{
			name:   "what is left of an unfinished build goes, what is being built stays",
			policy: Policy{},
			setup: func(t *testing.T, c, _, other *Cache) {
				for _, k := range []string{"crashed", "building", "old-berth-building"} {
					tmp := filepath.Join(c.Root, "stage", "iso", k+".tmp-0001")
					os.MkdirAll(tmp, 0o755)
					if k != "old-berth-building" {
						os.WriteFile(filepath.Join(c.Root, "stage", "iso", k+".lock"), nil, 0o644)
						when := time.Now().Add(-2 * day)
						os.Chtimes(tmp, when, when)
					}
				}
				other.hold(Entry{"iso", "building"})
			},
			// A berth that takes no locks may be making the recent one.
			want: []string{"stage/iso/building.tmp-0001", "stage/iso/old-berth-building.tmp-0001"},
		},
		{
			name:   "downloads the build or the last builds used, or anyone used lately, stay",
			policy: DefaultPolicy,
			setup: func(t *testing.T, c, build, _ *Cache) {
				for _, sum := range []string{"aa", "bb", "cc", "dd"} {
					download(t, c, sum, 30*day)
				}
				build.useDownload("aa")
				recordBuild(t, c, day, "dl/bb")
				download(t, c, "ee", time.Minute)
			},
			want: []string{"dl/aa", "dl/bb", "dl/ee"},
		},
		{
			name:   "work trees: the pinned one and a held one stay",
			policy: Policy{Work: []string{"kernel/2"}},
			setup: func(t *testing.T, c, _, other *Cache) {
				for _, v := range []string{"1", "2", "3"} {
					os.MkdirAll(c.WorkDir("kernel/"+v), 0o755)
					os.WriteFile(c.WorkDir("kernel/"+v)+".lock", nil, 0o644)
				}
				unlock, err := other.LockWork("kernel/3")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(unlock)
			},
			want:     []string{"work/kernel/2", "work/kernel/3"},
			wantBusy: []string{"work/kernel/3"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			build, other := c.Session(), c.Session()
			defer build.Release()
			defer other.Release()
			tc.setup(t, c, build, other)
			r, err := build.Prune(tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, contents(t, c.Root)); diff != "" {
				t.Errorf("left after prune (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantBusy, r.Busy); diff != "" {
				t.Errorf("busy (-want +got):\n%s", diff)
			}
		})
	}
}

// A build's record keeps what it used for the next builds, and a prune
// drops records beyond the policy's count.
func TestRecord(t *testing.T) {
	c, _ := Open(t.TempDir())
	entry(t, c, "rootfs", "r", 5*day)
	download(t, c, "dd", 5*day)
	b := c.Session()
	b.Use("rootfs", "r")
	b.useDownload("dd")
	if err := b.Record(); err != nil {
		t.Fatal(err)
	}
	b.Release()
	for i := 0; i < 3; i++ {
		recordBuild(t, c, time.Duration(i+1)*time.Hour) // three older builds that used nothing
	}
	if _, err := c.Prune(Policy{Builds: 1, MaxAge: day}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"dl/dd", "stage/rootfs/r"}, contents(t, c.Root)); diff != "" {
		t.Errorf("left after prune (-want +got):\n%s", diff)
	}
	recs, err := c.records()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || !cmp.Equal(recs[0].Entries, []string{"rootfs/r"}) {
		t.Errorf("records left: %+v, want the newest one only", recs)
	}
}

// What a named user (the test assets) recorded stays after more builds than
// Policy.Builds and past Grace, until MaxAge; RecordAs replaces its record.
func TestRecordAs(t *testing.T) {
	c, _ := Open(t.TempDir())
	entry(t, c, "test-userland", "old", 5*day)
	entry(t, c, "test-userland", "u", 5*day)
	download(t, c, "dd", 5*day)
	for _, key := range []string{"old", "u"} {
		a := c.Session()
		a.Use("test-userland", key)
		if key == "u" {
			a.useDownload("dd")
		}
		if err := a.RecordAs("test-assets"); err != nil {
			t.Fatal(err)
		}
		a.Release()
	}
	for i := 0; i < 4; i++ {
		recordBuild(t, c, time.Duration(i+1)*time.Hour) // later builds that used nothing
	}
	if _, err := c.Prune(Policy{Builds: 3, MaxAge: 7 * day}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"dl/dd", "stage/test-userland/u"}, contents(t, c.Root)); diff != "" {
		t.Errorf("left after prune (-want +got):\n%s", diff)
	}
	recs, err := c.records()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Errorf("%d records left, want the 3 newest builds' and the named one", len(recs))
	}
	if err := c.RecordAs("../x"); err == nil {
		t.Error("RecordAs(../x): no error")
	}
	// Past MaxAge the named record keeps nothing, and goes.
	named := filepath.Join(c.Root, "builds", "named-test-assets.json")
	var r record
	if data, err := os.ReadFile(named); err != nil || json.Unmarshal(data, &r) != nil {
		t.Fatalf("the named record: %v", err)
	}
	r.Time = r.Time.Add(-8 * day)
	data, _ := json.Marshal(r)
	if err := os.WriteFile(named, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Prune(Policy{Builds: 3, MaxAge: 7 * day}); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, c.Root); len(got) != 0 {
		t.Errorf("left after a prune past MaxAge: %v", got)
	}
	if _, err := os.Stat(named); !os.IsNotExist(err) {
		t.Errorf("the named record is still there past MaxAge: %v", err)
	}
}

// A symbolic link into another cache (Fork) is that cache's: pruning the
// fork leaves it alone.
func TestPruneLeavesSharedParts(t *testing.T) {
	main, _ := Open(filepath.Join(t.TempDir(), "main"))
	entry(t, main, "kernel", "k", 30*day)
	download(t, main, "dd", 30*day)
	fork, err := main.Fork(filepath.Join(t.TempDir(), "fork"), "dl", "stage/kernel")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fork.Prune(Policy{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"dl/dd", "stage/kernel/k"}, contents(t, main.Root)); diff != "" {
		t.Errorf("main cache after pruning the fork (-want +got):\n%s", diff)
	}
}

// Builds and prunes at once: an entry Stage returned is there until the
// build releases it, however often a prune runs meanwhile.
func TestPruneConcurrentWithBuilds(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var pruned atomic.Int64
	var pruner sync.WaitGroup
	pruner.Add(1)
	go func() {
		defer pruner.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := c.Prune(Policy{})
			if err != nil {
				t.Error(err)
				return
			}
			pruned.Add(int64(len(r.Removed)))
		}
	}()
	var builds sync.WaitGroup
	var missing atomic.Int64
	for w := 0; w < 4; w++ {
		builds.Add(1)
		go func() {
			defer builds.Done()
			for i := 0; i < 200; i++ {
				s := c.Session()
				key := fmt.Sprint(i % 3)
				dir, _, err := s.Stage("s", key, func(d string) error { return os.WriteFile(filepath.Join(d, "f"), []byte(key), 0o644) })
				if err != nil {
					t.Error(err)
					s.Release()
					return
				}
				for j := 0; j < 3; j++ {
					if b, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(b) != key {
						missing.Add(1)
					}
					time.Sleep(50 * time.Microsecond)
				}
				s.Release()
			}
		}()
	}
	builds.Wait()
	close(stop)
	pruner.Wait()
	if n := missing.Load(); n > 0 {
		t.Errorf("%d reads of an entry a build held failed: a prune removed it", n)
	}
	if pruned.Load() == 0 {
		t.Error("the prune never removed anything: the test proved nothing")
	}
}

func TestUsage(t *testing.T) {
	c, _ := Open(t.TempDir())
	s := c.Session()
	dir, _, err := s.Stage("raw", "r", func(d string) error {
		f, err := os.Create(filepath.Join(d, "disk.raw"))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := f.Truncate(1 << 30); err != nil { // sparse: 1 GiB with 64 KiB of data
			return err
		}
		_, err = f.WriteAt(make([]byte, 64<<10), 1<<20)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The same file linked into a second stage counts once.
	if _, _, err := s.Stage("qcow2", "q", func(d string) error {
		return os.Link(filepath.Join(dir, "disk.raw"), filepath.Join(d, "disk.raw"))
	}); err != nil {
		t.Fatal(err)
	}
	s.Release()
	parts, err := c.Usage()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Part{}
	for _, p := range parts {
		got[p.Name] = p
	}
	raw, q := got["stage/raw"], got["stage/qcow2"]
	if raw.Entries != 1 || q.Entries != 1 {
		t.Errorf("entries: raw %d, qcow2 %d; want 1 each", raw.Entries, q.Entries)
	}
	// 64 KiB of data, counted once (not 128 KiB), and not the 1 GiB size.
	if sum := raw.Bytes + q.Bytes; sum < 64<<10 || sum >= 128<<10 {
		t.Errorf("raw %d + qcow2 %d bytes, want 64 KiB of data counted once", raw.Bytes, q.Bytes)
	}
}

func TestPruneDryRun(t *testing.T) {
	c, _ := Open(t.TempDir())
	entry(t, c, "raw", "old", 30*day)
	download(t, c, "dd", 30*day)
	r, err := c.Prune(Policy{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var said []string
	for _, x := range r.Removed {
		said = append(said, x.Path)
	}
	if diff := cmp.Diff([]string{"stage/raw/old", "dl/dd"}, said); diff != "" {
		t.Errorf("would remove (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dl/dd", "stage/raw/old"}, contents(t, c.Root)); diff != "" {
		t.Errorf("a dry run removed something (-want +got):\n%s", diff)
	}
}

// A stage found in the cache marks the downloads it was made from: a
// prune keeps them, however old.
func TestUseDownload(t *testing.T) {
	c, _ := Open(t.TempDir())
	download(t, c, "aa", 30*day)
	download(t, c, "bb", 30*day)
	b := c.Session()
	if ok, err := b.UseDownload("AA"); !ok || err != nil {
		t.Fatalf("UseDownload(present) = %v, %v", ok, err)
	}
	if ok, err := b.UseDownload("cc"); ok || err != nil {
		t.Errorf("UseDownload(absent) = %v, %v; want false, nil", ok, err)
	}
	if _, err := b.Prune(Policy{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"dl/aa"}, contents(t, c.Root)); diff != "" {
		t.Errorf("left after prune (-want +got):\n%s", diff)
	}
}
