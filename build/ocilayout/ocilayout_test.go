package ocilayout

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const epoch = 1735689600

// tree makes a small root: a folder, a set-user-ID program, a file, a
// symlink.
func tree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{"usr/bin", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "usr/bin/prog"), []byte("#!/bin/sh\n"), 0o755)
	os.Chmod(filepath.Join(root, "usr/bin/prog"), os.ModeSetuid|0o755)
	os.WriteFile(filepath.Join(root, "etc/conf"), []byte("a=1\n"), 0o600)
	os.Symlink("usr/bin", filepath.Join(root, "bin"))
	return root
}

func write(t *testing.T, root string, img Image) ([]byte, *Result) {
	t.Helper()
	var buf bytes.Buffer
	res, err := Write(&buf, root, t.TempDir(), img)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), res
}

// files reads a tar into name → content (and header).
func files(t *testing.T, r io.Reader) (map[string][]byte, map[string]*tar.Header, []string) {
	t.Helper()
	tr := tar.NewReader(r)
	data, hdrs := map[string][]byte{}, map[string]*tar.Header{}
	var order []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return data, hdrs, order
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		data[h.Name], hdrs[h.Name] = b, h
		order = append(order, h.Name)
	}
}

var img = Image{
	Refs:   []string{"berth.local/x:1.0", "berth.local/x:latest"},
	Config: ocispec.ImageConfig{Cmd: []string{"/usr/bin/prog"}, Env: []string{"PATH=/usr/bin"}},
	Epoch:  epoch,
}

// The layout is complete and consistent: index.json names the image by
// every reference, each blob is stored under its digest, the config's
// diff ID is the layer's uncompressed digest, and the layer holds the
// tree, owned by root, stamped with the epoch, modes kept.
func TestWriteLayout(t *testing.T) {
	out, res := write(t, tree(t), img)
	data, hdrs, order := files(t, bytes.NewReader(out))
	for name, b := range data {
		if strings.HasPrefix(name, "blobs/sha256/") && !strings.HasSuffix(name, "/") {
			s := sha256.Sum256(b)
			if got := hex.EncodeToString(s[:]); "blobs/sha256/"+got != name {
				t.Errorf("blob %s has digest %s", name, got)
			}
		}
		if hdrs[name].ModTime.Unix() != epoch {
			t.Errorf("%s: mtime %v", name, hdrs[name].ModTime)
		}
	}
	if order[0] != "blobs/" || order[len(order)-1] != "oci-layout" {
		t.Errorf("layout entries %q", order)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, m := range idx.Manifests {
		if m.Digest != res.Manifest.Digest {
			t.Errorf("index entry %s, want the manifest %s", m.Digest, res.Manifest.Digest)
		}
		refs = append(refs, m.Annotations[ContainerdNameAnnotation]+" "+m.Annotations[ocispec.AnnotationRefName])
	}
	if diff := cmp.Diff([]string{"berth.local/x:1.0 1.0", "berth.local/x:latest latest"}, refs); diff != "" {
		t.Errorf("index refs (-want +got):\n%s", diff)
	}
	var man ocispec.Manifest
	json.Unmarshal(data["blobs/sha256/"+res.Manifest.Digest.Encoded()], &man)
	var cfg ocispec.Image
	json.Unmarshal(data["blobs/sha256/"+man.Config.Digest.Encoded()], &cfg)
	if diff := cmp.Diff(img.Config, cfg.Config); diff != "" {
		t.Errorf("image config (-want +got):\n%s", diff)
	}
	if cfg.Created.Unix() != epoch || cfg.Architecture != "amd64" || cfg.OS != "linux" {
		t.Errorf("config created %v, platform %s/%s", cfg.Created, cfg.OS, cfg.Architecture)
	}
	layer := data["blobs/sha256/"+man.Layers[0].Digest.Encoded()]
	zr, err := gzip.NewReader(bytes.NewReader(layer))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	if s := sha256.Sum256(raw); "sha256:"+hex.EncodeToString(s[:]) != string(cfg.RootFS.DiffIDs[0]) {
		t.Errorf("diff ID %s is not the layer's", cfg.RootFS.DiffIDs[0])
	}
	lfiles, lhdrs, lorder := files(t, bytes.NewReader(raw))
	if diff := cmp.Diff([]string{"bin", "etc/", "etc/conf", "usr/", "usr/bin/", "usr/bin/prog"}, lorder); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}
	for name, h := range lhdrs {
		if h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != epoch {
			t.Errorf("%s: owner %d:%d, mtime %v", name, h.Uid, h.Gid, h.ModTime)
		}
	}
	if lhdrs["usr/bin/prog"].Mode != 0o4755 || lhdrs["etc/conf"].Mode != 0o600 || lhdrs["bin"].Linkname != "usr/bin" {
		t.Errorf("modes %o %o, link %q", lhdrs["usr/bin/prog"].Mode, lhdrs["etc/conf"].Mode, lhdrs["bin"].Linkname)
	}
	if string(lfiles["etc/conf"]) != "a=1\n" {
		t.Errorf("etc/conf = %q", lfiles["etc/conf"])
	}
}

// The same tree gives the same bytes, whatever the files' own times and
// the umask; a changed file gives another digest.
func TestWriteReproducible(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	a, b := tree(t), tree(t)
	os.Chtimes(filepath.Join(b, "etc/conf"), timeAgo(), timeAgo())
	outA, resA := write(t, a, img)
	outB, resB := write(t, b, img)
	if !bytes.Equal(outA, outB) || resA.Manifest.Digest != resB.Manifest.Digest {
		t.Errorf("two writes differ: %s, %s", resA.Manifest.Digest, resB.Manifest.Digest)
	}
	os.WriteFile(filepath.Join(b, "etc/conf"), []byte("a=2\n"), 0o600)
	if _, resC := write(t, b, img); resC.Manifest.Digest == resA.Manifest.Digest {
		t.Error("a changed file kept the digest")
	}
}

func TestWriteErrors(t *testing.T) {
	root := tree(t)
	for _, ref := range []string{"berth.local/x", "localhost:5000/x", "x@sha256:00"} {
		_, err := Write(io.Discard, root, t.TempDir(), Image{Refs: []string{ref}})
		if want := fmt.Sprintf("image reference %q: expected NAME:TAG", ref); err == nil || err.Error() != want {
			t.Errorf("ref %s: %v, want %s", ref, err, want)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(root, "etc/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Write(io.Discard, root, t.TempDir(), img)
	if err == nil || !strings.Contains(err.Error(), "etc/fifo: a p--------- has no place in an image layer") {
		t.Errorf("fifo: %v", err)
	}
}

func TestTag(t *testing.T) {
	for v, want := range map[string]string{
		"20.10.24+dfsg1-1+deb12u1+b2": "20.10.24_dfsg1-1_deb12u1_b2",
		"1:7.2+dfsg-7+deb12u18+b3":    "1_7.2_dfsg-7_deb12u18_b3",
		"2.0~rc1":                     "2.0_rc1",
	} {
		if got := Tag(v); got != want {
			t.Errorf("Tag(%q) = %q, want %q", v, got, want)
		}
	}
}

func timeAgo() time.Time { return time.Unix(1e9, 0) }
