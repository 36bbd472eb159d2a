package images

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-os/berth/internal/errkind"
)

// Root is a writable root made from an image in the store: the mounts of
// its snapshot, and the image's config (entrypoint, command,
// environment...).
type Root struct {
	Mounts []mount.Mount
	Config ocispec.ImageConfig
	Key    string // the snapshot's key
}

// WritableRoot gives the writable snapshot named key (and the image's
// layers) on top of ref's layers, made the first time and the same one
// later (it lives on the
// state partition with the store, so what was written into it is kept
// across restarts and reboots). The image must be in the store already:
// nothing is pulled, so that a boot with no network works or fails at
// once. An image not in the store is errkind.ErrNotFound.
func (s *Store) WritableRoot(ctx context.Context, ref, key string) (Root, error) {
	name, err := Normalize(ref)
	if err != nil {
		return Root{}, err
	}
	ctx = s.ctx(ctx)
	img, err := s.Client.GetImage(ctx, name)
	if errdefs.IsNotFound(err) {
		return Root{}, errkind.Mark(errkind.ErrNotFound, fmt.Errorf("image %s is not in the local store (hostctl image pull %s)", name, name))
	}
	if err != nil {
		return Root{}, fmt.Errorf("image %s: %w", name, err)
	}
	if ok, err := img.IsUnpacked(ctx, Snapshotter); err != nil || !ok {
		if err := img.Unpack(ctx, Snapshotter); err != nil {
			return Root{}, fmt.Errorf("unpack %s: %w", name, err)
		}
	}
	spec, err := img.Spec(ctx)
	if err != nil {
		return Root{}, fmt.Errorf("image %s: config: %w", name, err)
	}
	diffs, err := img.RootFS(ctx)
	if err != nil {
		return Root{}, fmt.Errorf("image %s: layers: %w", name, err)
	}
	parent := identity.ChainID(diffs).String()
	// A newer image gets a new snapshot; the old one stays until removed.
	key += "@" + identity.ChainID(diffs).Encoded()[:12]
	sn := s.Client.SnapshotService(Snapshotter)
	mounts, err := sn.Mounts(ctx, key)
	if errdefs.IsNotFound(err) {
		// The GC label keeps the snapshot, and through it the image's
		// layers, while no container record holds it.
		mounts, err = sn.Prepare(ctx, key, parent, snapshots.WithLabels(map[string]string{"containerd.io/gc.root": "berth"}))
	}
	if err != nil {
		return Root{}, fmt.Errorf("snapshot %s of %s: %w", key, name, err)
	}
	return Root{Mounts: mounts, Config: spec.Config, Key: key}, nil
}
