package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestStageBuildsOnce(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	build := func(dir string) error {
		runs++
		return os.WriteFile(filepath.Join(dir, "out"), []byte("x"), 0o644)
	}
	d1, hit1, err := c.Stage("s", "k1", build)
	if err != nil || hit1 {
		t.Fatalf("first: hit=%v err=%v", hit1, err)
	}
	d2, hit2, err := c.Stage("s", "k1", build)
	if err != nil || !hit2 || d1 != d2 {
		t.Fatalf("second: hit=%v err=%v dirs %s %s", hit2, err, d1, d2)
	}
	if runs != 1 {
		t.Errorf("build ran %d times, want 1", runs)
	}
	if _, err := os.Stat(filepath.Join(d1, "out")); err != nil {
		t.Error(err)
	}
}

func TestStageFailureLeavesNothing(t *testing.T) {
	root := t.TempDir()
	c, _ := Open(root)
	boom := errors.New("boom")
	_, _, err := c.Stage("s", "k", func(dir string) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "stage", "s"))
	for _, e := range ents {
		if e.Name() != "k.lock" { // the entry's lock stays; a prune removes it
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestKeyChangesWithInputs(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte("1"), 0o644)
	k1, _ := NewKey("s", 1).Dir("d", dir).Key()
	k1again, _ := NewKey("s", 1).Dir("d", dir).Key()
	os.WriteFile(filepath.Join(dir, "a"), []byte("2"), 0o644)
	k2, _ := NewKey("s", 1).Dir("d", dir).Key()
	os.Chmod(filepath.Join(dir, "a"), 0o755)
	k3, _ := NewKey("s", 1).Dir("d", dir).Key()
	k4, _ := NewKey("s", 2).Dir("d", dir).Key()
	if k1 != k1again {
		t.Error("same input, different key")
	}
	seen := map[string]bool{}
	for _, k := range []string{k1, k2, k3, k4} {
		if seen[k] {
			t.Errorf("key %s repeated: content, mode or version not hashed", k)
		}
		seen[k] = true
	}
	// Framing: ("ab","c") must differ from ("a","bc").
	a, _ := NewKey("s", 1).String("x", "ab").String("y", "c").Key()
	b, _ := NewKey("s", 1).String("x", "a").String("y", "bc").Key()
	if a == b {
		t.Error("concatenation collision")
	}
	if _, err := NewKey("s", 1).File("f", filepath.Join(dir, "missing")).Key(); err == nil {
		t.Error("missing file hashed without error")
	}
}

func TestFetch(t *testing.T) {
	body := []byte("pinned content")
	sum := sha256.Sum256(body)
	hexsum := hex.EncodeToString(sum[:])
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write(body)
		case "/bad":
			w.Write([]byte("tampered"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, _ := Open(t.TempDir())
	ctx := context.Background()
	p, err := c.Fetch(ctx, Download{URL: srv.URL + "/ok", SHA256: hexsum}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != string(body) {
		t.Errorf("content %q", got)
	}
	// Cached: a second fetch does not need the server.
	srv.Close()
	if _, err := c.Fetch(ctx, Download{URL: srv.URL + "/ok", SHA256: hexsum}, nil); err != nil {
		t.Errorf("cached fetch: %v", err)
	}
}

func TestFetchErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.Write([]byte("tampered"))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	c, _ := Open(t.TempDir())
	sum := "0000000000000000000000000000000000000000000000000000000000000000"
	_, err := c.Fetch(context.Background(), Download{URL: srv.URL + "/gone", SHA256: sum}, nil)
	if !errors.Is(err, ErrGone) {
		t.Errorf("404: err = %v, want ErrGone", err)
	}
	_, err = c.Fetch(context.Background(), Download{URL: srv.URL + "/bad", SHA256: sum}, nil)
	if !errors.Is(err, ErrChecksum) {
		t.Errorf("tampered: err = %v, want ErrChecksum", err)
	}
	_, err = c.Fetch(context.Background(), Download{URL: srv.URL + "/bad", SHA256: "abc"}, nil)
	if err == nil || !strings.Contains(err.Error(), `pinned sha256 "abc" is not 64 hex digits`) {
		t.Errorf("short sha256: err = %v, want it refused as not 64 hex digits", err)
	}
}

func TestFork(t *testing.T) {
	main, _ := Open(filepath.Join(t.TempDir(), "main"))
	main.Stage("kernel", "k", func(d string) error { return os.WriteFile(filepath.Join(d, "vmlinuz"), []byte("k"), 0o644) })
	main.Stage("rootfs", "r", func(d string) error { return nil })
	f, err := main.Fork(filepath.Join(t.TempDir(), "fork"), "dl", "stage/kernel")
	if err != nil {
		t.Fatal(err)
	}
	if _, hit, _ := f.Stage("kernel", "k", func(string) error { return nil }); !hit {
		t.Error("shared kernel stage not seen in the fork")
	}
	if _, hit, _ := f.Stage("rootfs", "r", func(string) error { return nil }); hit {
		t.Error("unshared stage seen in the fork")
	}
}

// Two makers of one entry at once: one builds, the other waits and gets
// its output as a hit.
func TestStageOneBuilds(t *testing.T) {
	root := t.TempDir()
	var builds atomic.Int32
	started := make(chan struct{})
	type res struct {
		dir string
		hit bool
		err error
	}
	results := make(chan res, 2)
	for i := 0; i < 2; i++ {
		go func() {
			c, err := Open(root)
			if err != nil {
				results <- res{err: err}
				return
			}
			defer c.Release()
			dir, hit, err := c.Stage("asset", "k", func(dir string) error {
				if builds.Add(1) == 1 {
					close(started)
				}
				time.Sleep(200 * time.Millisecond) // the other arrives meanwhile
				return os.WriteFile(filepath.Join(dir, "out"), []byte("made once"), 0o644)
			})
			results <- res{dir, hit, err}
		}()
	}
	var hits int
	for i := 0; i < 2; i++ {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if b, err := os.ReadFile(filepath.Join(r.dir, "out")); err != nil || string(b) != "made once" {
			t.Errorf("%s/out: %q, %v", r.dir, b, err)
		}
		if r.hit {
			hits++
		}
	}
	if n := builds.Load(); n != 1 || hits != 1 {
		t.Errorf("%d builds and %d hits, want one build and one hit", n, hits)
	}
	if _, err := os.Stat(filepath.Join(root, "stage", "asset", "k"+buildingLock)); !os.IsNotExist(err) {
		t.Errorf("the building lock is left behind: %v", err)
	}
}
