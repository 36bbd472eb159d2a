//go:build qemu

package test

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/build"
	"github.com/berth-os/berth/build/image"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/test/sched"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The smallest catalogue image, qemu-guest-agent, built a second time
// alone (berth build --images-only) into an empty cache (but for the
// downloads), has the same
// bytes as the main build's, and holds qemu-ga and the CA bundle under
// the references the catalogue entry names.
func catalogueImage(t *testing.T) {
	const name = "images/qemu-guest-agent.oci.tar"
	first := artifact(t, name)
	spec, err := image.Load(filepath.Join(moduleRoot, "images", "berth.yaml"), filepath.Join(moduleRoot, "services"))
	if err != nil {
		t.Fatal(err)
	}
	spec.CatalogueImages = []string{"qemu-guest-agent"}
	// A cache of its own, empty but for the main cache's downloads (the
	// pinned .debs, by sha256): everything is built again, offline.
	c, err := assetCache.Fork(filepath.Join(t.TempDir(), "cache"), "dl")
	if err != nil {
		t.Fatal(err)
	}
	res, err := build.Build(sched.Ctx(t), build.Options{Spec: spec, OutDir: t.TempDir(), Cache: c,
		Progress: &progress.Plain{W: io.Discard}, ModuleRoot: moduleRoot, ImagesOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	for _, a := range mainManifest.Artifacts {
		sums[a.Name] = a.SHA256
	}
	if len(res.Manifest.Artifacts) != 1 || res.Manifest.Artifacts[0].SHA256 != sums[name] {
		t.Errorf("second build %+v, first %s", res.Manifest.Artifacts, sums[name])
	}

	// What is in it.
	_, blobs := readTar(t, first)
	var idx ocispec.Index
	if err := json.Unmarshal(blobs["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, m := range idx.Manifests {
		refs = append(refs, m.Annotations["io.containerd.image.name"])
	}
	if len(refs) != 2 || !strings.HasPrefix(refs[0], "berth.local/qemu-guest-agent:1_7.2") || refs[1] != "berth.local/qemu-guest-agent:latest" {
		t.Errorf("references %q", refs)
	}
	var man ocispec.Manifest
	json.Unmarshal(blobs["blobs/sha256/"+idx.Manifests[0].Digest.Encoded()], &man)
	if len(man.Layers) != 1 {
		t.Fatalf("manifest %+v", man)
	}
	zr, err := gzip.NewReader(strings.NewReader(string(blobs["blobs/sha256/"+man.Layers[0].Digest.Encoded()])))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int64{}
	lr := tar.NewReader(zr)
	for {
		h, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		found[h.Name] = h.Mode
	}
	if found["usr/sbin/qemu-ga"] != 0o755 || found["etc/ssl/certs/ca-certificates.crt"] != 0o644 {
		t.Errorf("layer: qemu-ga %o, CA bundle %o; %d entries", found["usr/sbin/qemu-ga"], found["etc/ssl/certs/ca-certificates.crt"], len(found))
	}
}
