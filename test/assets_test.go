//go:build qemu

package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/build/cache"
)

// assetCache is the cache session that the test assets are made and
// found in (the test userland, the docker image): TestAssets records what
// it holds, so that a prune keeps it.
var assetCache *cache.Cache

// assetsRecord names the record of the test assets in the cache.
const assetsRecord = "test-assets"

// TestAssets makes what the scenarios use that takes more than a few
// seconds to make: the test userland from its pinned .debs, the
// registry's images, the catalogue's docker image, the image variants and
// the helper programs. `make test-assets` runs it before the timed suite,
// with the network (the pinned .debs, the first time only); the suite then
// finds everything in the cache, and runs with only loopback. It records
// them in the cache (cache.RecordAs), so that a prune after later builds
// keeps them for a week.
func TestAssets(t *testing.T) {
	begin := time.Now()
	step := func(name string, f func(t *testing.T)) {
		start := time.Now()
		if t.Run(name, f) {
			t.Logf("asset %s ready in %.1fs", name, time.Since(start).Seconds())
		}
	}
	step("registry", func(t *testing.T) { testRegistry(t); checkUserland(t) })
	step("docker", func(t *testing.T) { dockerImage(t) })
	step("variant-xz", func(t *testing.T) { variant(t, "xz", xzOverlay) })
	step("variant-next", func(t *testing.T) { variant(t, "next", nextOverlay(t)) })
	step("variant-sb-next", func(t *testing.T) { variant(t, "sb-next", sbNextOverlay(t)) })
	step("variant-netfail", func(t *testing.T) { netFailBundle(t) })
	step("sleeper", func(t *testing.T) { buildSleeper(t) })
	if t.Failed() {
		return
	}
	if err := assetCache.RecordAs(assetsRecord); err != nil {
		t.Fatal(err)
	}
	// The record names the userland and the builds' entries (the docker
	// image's), which a prune then keeps.
	data, err := os.ReadFile(filepath.Join(assetCache.Root, "builds", "named-"+assetsRecord+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Entries []string }
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"test-userland/", "catalogue-image/", "rootfs/"} {
		if !slices.ContainsFunc(rec.Entries, func(e string) bool { return strings.HasPrefix(e, stage) }) {
			t.Errorf("the %s record has no %s entry: %v", assetsRecord, stage, rec.Entries)
		}
	}
	t.Logf("test assets ready in %.1fs, recorded in the cache as %s", time.Since(begin).Seconds(), assetsRecord)
}

// holdAssets holds the entries a build of a test asset used in assetCache,
// so that TestAssets records them (a build holds what it uses in a
// session of its own).
func holdAssets(t *testing.T, used []cache.Entry) {
	t.Helper()
	for _, e := range used {
		if _, _, err := assetCache.Use(e.Stage, e.Key); err != nil {
			t.Fatal(err)
		}
	}
}
