package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/deb"
)

// The lock pins every package the request names.
func TestUserlandLockCoversRequest(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	req, err := deb.LoadRequest(filepath.Join(root, Bookworm.Request))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := deb.LoadLock(filepath.Join(root, Bookworm.Lock))
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := lock.Set(Bookworm.Set)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, p := range pinned {
		if len(p.SHA256) != 64 || !strings.HasPrefix(p.URL, "http://deb.debian.org/") {
			t.Errorf("%s: pin %q at %q", p.Name, p.SHA256, p.URL)
		}
		have[p.Name] = true
	}
	for _, n := range req.Sets[Bookworm.Set].Packages {
		if !have[n] {
			t.Errorf("%s is in %s but not pinned in %s: run `%s`", n, Bookworm.Request, Bookworm.Lock, lockCommand)
		}
	}
}

// writeUserland writes a request and a lock of one package served by srv
// at path with sha256 sum, and returns the module root and the userland.
func writeUserland(t *testing.T, url, sum string) (string, Userland) {
	t.Helper()
	root := t.TempDir()
	u := Bookworm
	u.Request, u.Lock = "userland.yaml", "userland.lock"
	req := "mirrors: {debian: http://deb.debian.org/debian}\nsuites: [{mirror: debian, suite: bookworm}]\nsets:\n  userland: {packages: [dash]}\n"
	lock := "packages:\n  - {name: dash, version: 0.5.12-2, url: " + url + ", sha256: " + sum + ", size: 5}\nsets:\n  userland: [dash]\n"
	for name, data := range map[string]string{u.Request: req, u.Lock: lock} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, u
}

// A .deb whose bytes are not the pinned ones is refused, naming the
// package; one that Debian dropped says how to move the pins.
func TestUserlandRefusesWrongPins(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "gone.deb") {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("not the pinned bytes"))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name, file string
		kind       error
		want       []string
	}{
		{"wrong sha256", "dash.deb", cache.ErrChecksum, []string{"package dash 0.5.12-2", "pinned " + strings.Repeat("ab", 32)}},
		{"gone", "gone.deb", cache.ErrGone, []string{"package dash 0.5.12-2", "no longer in Debian's pool", lockCommand}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, u := writeUserland(t, srv.URL+"/pool/"+tc.file, strings.Repeat("ab", 32))
			c, err := cache.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			_, err = u.Build(context.Background(), c, root, t.Logf)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if ents, _ := os.ReadDir(filepath.Join(c.Root, "stage", "test-userland")); len(ents) > 1 {
				t.Errorf("a refused build left %d entries in the cache", len(ents))
			}
		})
	}
}
