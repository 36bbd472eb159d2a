package images

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/berth-os/berth/build/ocibundle"
	"github.com/berth-os/berth/internal/osbundle"
	"github.com/berth-os/berth/test/registry"
)

// writeBundle writes a small signed bundle of version v.
func writeBundle(t *testing.T, v string) string {
	t.Helper()
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var srcs []osbundle.Source
	for _, n := range osbundle.Files {
		p := filepath.Join(dir, n)
		os.WriteFile(p, []byte(n+" "+v), 0o644)
		srcs = append(srcs, osbundle.Source{Name: n, Path: p})
	}
	p := filepath.Join(dir, "x.bundle")
	f, _ := os.Create(p)
	defer f.Close()
	if err := osbundle.Write(f, osbundle.Manifest{Name: "berth", Version: v, Arch: "x86_64"}, srcs, key, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	return p
}

// A bundle pushed as an artifact is fetched back whole through a mirror,
// and its repository's tags listed.
func TestFetchArtifact(t *testing.T) {
	srv, err := registry.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := ctxT(t)
	files := map[string]string{}
	for _, v := range []string{"1.0", "1.1"} {
		files[v] = writeBundle(t, v)
		ref, _ := name.ParseReference(srv.Addr+"/berth/os:"+v, name.Insecure)
		if _, err := ocibundle.Push(ctx, files[v], ref); err != nil {
			t.Fatal(err)
		}
	}
	o := Options{HostsDir: hostsDir(t, map[string][]string{"127.0.0.1:1": {srv.URL()}})}
	rc, desc, err := o.FetchArtifact(ctx, "127.0.0.1:1/berth/os:1.1", osbundle.ArtifactType, osbundle.LayerType)
	if err != nil {
		t.Fatalf("fetch: %v\naccess log: %q", err, srv.Requests())
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	want, _ := os.ReadFile(files["1.1"])
	if !bytes.Equal(got, want) || desc.Size != int64(len(want)) {
		t.Errorf("fetched %d bytes (descriptor %d), want the bundle's %d", len(got), desc.Size, len(want))
	}
	tags, err := o.Tags(ctx, "127.0.0.1:1/berth/os")
	if err != nil || strings.Join(tags, " ") != "1.0 1.1" {
		t.Errorf("tags %v, %v", tags, err)
	}
	// An image is not a bundle.
	l, _ := registry.FileLayer(map[string][]byte{"etc/hello": []byte("hi\n")})
	img, _ := registry.NewImage("127.0.0.1:1/berth/os:image", l)
	if err := srv.Push("127.0.0.1:1/berth/os:image", img); err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.FetchArtifact(ctx, "127.0.0.1:1/berth/os:image", osbundle.ArtifactType, osbundle.LayerType); err == nil || !strings.Contains(err.Error(), "expected an OCI manifest of application/vnd.berth.bundle.v1") {
		t.Errorf("an image: %v", err)
	}
	if _, _, err := o.FetchArtifact(ctx, "127.0.0.1:1/berth/os:2.0", osbundle.ArtifactType, osbundle.LayerType); err == nil || !strings.Contains(err.Error(), "no such image") {
		t.Errorf("a missing tag: %v", err)
	}
	if _, err := o.Tags(ctx, "127.0.0.1:1/berth/none"); err == nil {
		t.Error("tags of a missing repository")
	}
}
