package registry

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// MarkKey is the line of /etc/os-release that names the reference an
// image was served as, so a test can tell which tag it got.
const MarkKey = "BERTH_TEST_IMAGE"

// Image wraps the userland as an OCI image for ref: the userland's layer,
// then a layer whose /etc/os-release (the userland's, plus a
// BERTH_TEST_IMAGE=ref line) replaces Debian's link to /usr/lib/os-release.
func (b Built) Image(ref string) (v1.Image, error) {
	base, err := tarball.LayerFromFile(b.Layer)
	if err != nil {
		return nil, fmt.Errorf("test image %s: %w", ref, err)
	}
	osr := append(bytes.TrimRight(b.OSRelease, "\n"), []byte("\n"+MarkKey+"="+ref+"\n")...)
	mark, err := FileLayer(map[string][]byte{"etc/os-release": osr})
	if err != nil {
		return nil, fmt.Errorf("test image %s: %w", ref, err)
	}
	return NewImage(ref, base, mark)
}

// created is the images' creation time: fixed, so the same layers make
// the same image.
var created = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// NewImage is a linux/amd64 image of layers, with a shell as its command.
func NewImage(ref string, layers ...v1.Layer) (v1.Image, error) {
	var adds []mutate.Addendum
	for _, l := range layers {
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "berth test registry: " + ref, Created: v1.Time{Time: created}}})
	}
	img, err := mutate.Append(empty.Image, adds...)
	if err != nil {
		return nil, fmt.Errorf("test image %s: %w", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("test image %s: %w", ref, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: created}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Cmd = []string{"/bin/bash"}
	cf.Config.Labels = map[string]string{"org.opencontainers.image.ref.name": ref}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("test image %s: %w", ref, err)
	}
	return img, nil
}

// FileLayer is an uncompressed layer of regular files, by path.
func FileLayer(files map[string][]byte) (v1.Layer, error) { return layerOf(files, 0o644) }

// ProgramLayer is an uncompressed layer of executable files, by path.
func ProgramLayer(files map[string][]byte) (v1.Layer, error) { return layerOf(files, 0o755) }

// layerOf is an uncompressed layer of regular files of one mode, by path.
func layerOf(files map[string][]byte, mode int64) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: mode, Size: int64(len(files[p])), Typeflag: tar.TypeReg, ModTime: created, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		tw.Write(files[p])
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// Tarball is img as docker save writes it, named ref: what hostctl image
// import and the preload folder take.
func Tarball(ref string, img v1.Image) ([]byte, error) {
	tag, err := name.NewTag(ref)
	if err != nil {
		return nil, fmt.Errorf("test tarball %s: %w", ref, err)
	}
	var buf bytes.Buffer
	if err := tarball.Write(tag, img, &buf); err != nil {
		return nil, fmt.Errorf("test tarball %s: %w", ref, err)
	}
	return buf.Bytes(), nil
}
