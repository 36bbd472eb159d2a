// Package images pulls, imports and lists OCI images in a containerd: the
// catalogue's services (consoles, docker...) and the user's images. Pulls
// follow the registry mirrors configured in containerd's hosts.toml layout
// (HostsDir), send the configured credentials and go through the
// configured proxy; what is pulled or imported is unpacked into the
// overlayfs snapshotter, and stays in the content store (on the state
// partition) so that a later boot needs no network for it.
package images

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth-os/berth/internal/errkind"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/distribution/reference"
	"github.com/docker/go-units"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
)

// Namespace is the containerd namespace of the images the system
// containerd keeps for Berth's services.
const Namespace = "berth"

// Snapshotter is what images are unpacked into.
const Snapshotter = "overlayfs"

// Image is one image in the store, as hostctl image list shows it.
type Image struct {
	Name    string    `json:"name"`
	Digest  string    `json:"digest"`
	Size    int64     `json:"size"` // of its content in the store (packed)
	Type    string    `json:"type"` // the target's media type
	Created time.Time `json:"created"`
}

// Normalize makes a reference full, as Docker reads it: debian is
// docker.io/library/debian:latest.
func Normalize(ref string) (string, error) {
	n, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", errkind.Mark(errkind.ErrInvalidConfig, fmt.Errorf("image reference %q: %w", ref, err))
	}
	return n.String(), nil
}

// Store is the images of one namespace of a containerd.
type Store struct {
	Client    *containerd.Client
	Namespace string
	// Options are read at each pull, so a config change applies to the
	// next pull.
	Options func() Options

	mu sync.Mutex // one pull or import at a time: they share the disk and the network
}

func (s *Store) ctx(ctx context.Context) context.Context {
	ns := s.Namespace
	if ns == "" {
		ns = Namespace
	}
	return namespaces.WithNamespace(ctx, ns)
}

// Pull fetches ref (normalized) and unpacks it, writing a line to
// progress for each piece fetched. An image the registry and its mirrors
// do not have is errkind.ErrNotFound; nothing is stored then.
func (s *Store) Pull(ctx context.Context, ref string, progress io.Writer) (Image, error) {
	name, err := Normalize(ref)
	if err != nil {
		return Image{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx = s.ctx(ctx)
	var o Options
	if s.Options != nil {
		o = s.Options()
	}
	ctx = quiet(ctx, progress)
	start := time.Now()
	fmt.Fprintf(progress, "pull %s\n", name)
	var pmu sync.Mutex
	report := images.HandlerFunc(func(_ context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		pmu.Lock()
		fmt.Fprintf(progress, "fetch %s %s (%s)\n", kind(d.MediaType), d.Digest.Encoded()[:12], units.HumanSize(float64(d.Size)))
		pmu.Unlock()
		return nil, nil
	})
	img, err := s.Client.Pull(ctx, name,
		containerd.WithResolver(o.Resolver(ctx)),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(Snapshotter),
		containerd.WithImageHandler(report),
	)
	if err != nil {
		return Image{}, pullError(name, err)
	}
	fmt.Fprintf(progress, "unpacked %s into %s in %.1fs\n", name, Snapshotter, time.Since(start).Seconds())
	return describe(ctx, img)
}

// quiet keeps containerd's client from logging on PID 1's output (the
// consoles): its warnings go to progress, its notes (a mirror that failed
// before the next was tried) nowhere, as the pull's error says what failed.
func quiet(ctx context.Context, progress io.Writer) context.Context {
	l := logrus.New()
	l.Out = progress
	l.Level = logrus.WarnLevel
	l.Formatter = &logrus.TextFormatter{DisableColors: true, DisableTimestamp: true}
	return log.WithLogger(ctx, logrus.NewEntry(l))
}

// pullError says what a failed pull means for the user.
func pullError(name string, err error) error {
	switch {
	case errdefs.IsNotFound(err):
		return errkind.Mark(errkind.ErrNotFound, fmt.Errorf("pull %s: no such image in its registry or the registry's mirrors (%v)", name, err))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("pull %s: %w", name, err)
	case strings.Contains(err.Error(), "dial tcp"), strings.Contains(err.Error(), "no such host"), strings.Contains(err.Error(), "connection refused"):
		return errkind.Mark(errkind.ErrUnavailable, fmt.Errorf("pull %s: registry unreachable: %w", name, err))
	}
	return fmt.Errorf("pull %s: %w", name, err)
}

// List is every image of the namespace, by name.
func (s *Store) List(ctx context.Context) ([]Image, error) {
	ctx = s.ctx(ctx)
	imgs, err := s.Client.ListImages(ctx)
	if err != nil {
		return nil, errkind.Mark(errkind.ErrUnavailable, fmt.Errorf("list images: %w", err))
	}
	out := make([]Image, 0, len(imgs))
	for _, img := range imgs {
		d, err := describe(ctx, img)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Import loads the images of a tarball (an OCI image layout or a docker
// save archive, as k3s's air-gap images come; gzipped or not) and unpacks
// them.
func (s *Store) Import(ctx context.Context, r io.Reader, progress io.Writer) ([]Image, error) {
	r, err := gunzip(r)
	if err != nil {
		return nil, errkind.Mark(errkind.ErrInvalidConfig, fmt.Errorf("import: %w", err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx = quiet(s.ctx(ctx), progress)
	imgs, err := s.Client.Import(ctx, r,
		// An OCI layout's ref.name may be a tag alone ("1.0"): keep only
		// full references.
		containerd.WithImageRefTranslator(func(ref string) string {
			if n, err := Normalize(ref); err == nil && strings.Contains(ref, ":") {
				return n
			}
			return ""
		}),
	)
	if err != nil {
		return nil, errkind.Mark(errkind.ErrInvalidConfig, fmt.Errorf("import: %w (expected an OCI image layout or docker save tarball)", err))
	}
	if len(imgs) == 0 {
		return nil, errkind.Mark(errkind.ErrInvalidConfig, errors.New("import: the archive names no image (expected an OCI image layout or docker save tarball; an OCI layout names its images in org.opencontainers.image.ref.name or io.containerd.image.name annotations)"))
	}
	var out []Image
	for _, m := range imgs {
		img := containerd.NewImage(s.Client, m)
		fmt.Fprintf(progress, "unpack %s\n", m.Name)
		if err := img.Unpack(ctx, Snapshotter); err != nil {
			return nil, fmt.Errorf("import: unpack %s: %w", m.Name, err)
		}
		d, err := describe(ctx, img)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// gunzip reads r through gzip when it starts with gzip's magic bytes.
func gunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if b, _ := br.Peek(2); len(b) == 2 && b[0] == 0x1f && b[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}

func describe(ctx context.Context, img containerd.Image) (Image, error) {
	m := img.Metadata()
	size, err := img.Size(ctx)
	if err != nil {
		return Image{}, fmt.Errorf("image %s: size: %w", m.Name, err)
	}
	return Image{Name: m.Name, Digest: m.Target.Digest.String(), Size: size, Type: m.Target.MediaType, Created: m.CreatedAt}, nil
}

// kind is a short name for a media type.
func kind(mt string) string {
	switch {
	case images.IsIndexType(mt):
		return "index"
	case images.IsManifestType(mt):
		return "manifest"
	case images.IsConfigType(mt):
		return "config"
	case images.IsLayerType(mt):
		return "layer"
	}
	return mt
}
