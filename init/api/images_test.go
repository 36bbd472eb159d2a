package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/errkind"
	"github.com/google/go-cmp/cmp"
)

// imageHost is a host with an image store: debian:bookworm exists.
type imageHost struct {
	fakeHost
	imported [sha256.Size]byte
	size     int64
}

func (f *imageHost) Images(context.Context) ([]Image, error) {
	return []Image{{Name: "docker.io/library/debian:bookworm", Digest: "sha256:ab", Size: 42}}, nil
}

func (f *imageHost) PullImage(_ context.Context, ref string, progress io.Writer) (Image, error) {
	fmt.Fprintf(progress, "pull %s\nfetch manifest 1234", ref) // the last line unfinished
	if ref != "debian:bookworm" {
		return Image{}, errkind.Mark(errkind.ErrNotFound, fmt.Errorf("pull %s: no such image", ref))
	}
	return Image{Name: "docker.io/library/debian:bookworm", Digest: "sha256:ab"}, nil
}

func (f *imageHost) ImportImages(_ context.Context, r io.Reader, progress io.Writer) ([]Image, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return nil, err
	}
	copy(f.imported[:], h.Sum(nil))
	f.size = n
	fmt.Fprintf(progress, "read %d bytes\n", n)
	return []Image{{Name: "docker.io/rancher/k3s:v1"}}, nil
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestPullImage(t *testing.T) {
	c := serve(t, &imageHost{})
	var progress bytes.Buffer
	img, err := c.PullImage(ctx(t), "debian:bookworm", &progress)
	if err != nil || img.Name != "docker.io/library/debian:bookworm" {
		t.Fatalf("pull: %+v, %v", img, err)
	}
	if want := "pull debian:bookworm\nfetch manifest 1234\n"; progress.String() != want {
		t.Errorf("progress %q; want %q", progress.String(), want)
	}
	// A missing image: the error's message and kind cross the socket,
	// after the progress lines.
	progress.Reset()
	_, err = c.PullImage(ctx(t), "debian:nope", &progress)
	if err == nil || err.Error() != "pull debian:nope: no such image" || !errors.Is(err, errkind.ErrNotFound) {
		t.Errorf("pull of a missing image: %v; want \"pull debian:nope: no such image\" of kind not found", err)
	}
	if !strings.HasPrefix(progress.String(), "pull debian:nope\n") {
		t.Errorf("progress %q", progress.String())
	}
	imgs, err := c.Images(ctx(t))
	if d := cmp.Diff([]Image{{Name: "docker.io/library/debian:bookworm", Digest: "sha256:ab", Size: 42}}, imgs); d != "" || err != nil {
		t.Errorf("images: %v (-want +got):\n%s", err, d)
	}
}

// An import streams a tarball far beyond the request limit.
func TestImportImagesUnlimited(t *testing.T) {
	h := &imageHost{}
	c := serve(t, h)
	data := bytes.Repeat([]byte("berth tarball "), 3*MaxRequest/14)
	var progress bytes.Buffer
	imgs, err := c.ImportImages(ctx(t), bytes.NewReader(data), &progress)
	if err != nil || len(imgs) != 1 || imgs[0].Name != "docker.io/rancher/k3s:v1" {
		t.Fatalf("import: %+v, %v", imgs, err)
	}
	if h.size != int64(len(data)) || h.imported != sha256.Sum256(data) {
		t.Errorf("the host read %d bytes; want all %d, unchanged", h.size, len(data))
	}
	if want := fmt.Sprintf("read %d bytes\n", len(data)); progress.String() != want {
		t.Errorf("progress %q; want %q", progress.String(), want)
	}
}

// A host without an image store answers 404: hostctl says so.
func TestImagesWithoutStore(t *testing.T) {
	c := serve(t, &fakeHost{})
	if _, err := c.Images(ctx(t)); !errors.Is(err, errkind.ErrNotFound) {
		t.Errorf("images on a host without a store: %v; want not found", err)
	}
}
