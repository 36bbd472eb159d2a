package build

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/deb"
	"github.com/berth-os/berth/build/progress"
)

// A pinned .deb that Debian's pool no longer has stops the build with the
// package, its pin and the command that moves the pins.
func TestGoneDebSaysHowToMoveIt(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lock := &deb.Lock{
		Packages: []deb.Pinned{{Name: "busybox", Version: "1:1.35.0-4+b3", URL: srv.URL + "/pool/main/b/busybox/busybox_1.35.0-4+b3_amd64.deb", SHA256: strings.Repeat("cd", 32)}},
		Sets:     map[string][]string{"rescue": {"busybox"}},
	}
	s := &debSets{cache: c, lock: lock, rep: progress.Discard{}, dirs: map[string]string{}}
	_, err = s.get(context.Background(), "rescue")
	if !errors.Is(err, cache.ErrGone) {
		t.Fatalf("err = %v, want ErrGone", err)
	}
	for _, want := range []string{"package busybox 1:1.35.0-4+b3", "images/packages.lock", "no longer in Debian's pool", "bin/berth debs lock"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
