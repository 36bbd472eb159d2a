// Package ocibundle pushes an upgrade bundle (package osbundle) to an OCI
// registry as an artifact, which hostctl os upgrade --image REF pulls.
package ocibundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-os/berth/internal/osbundle"
)

// emptyConfig is the OCI empty descriptor's content.
var emptyConfig = []byte("{}")

const emptyType = "application/vnd.oci.empty.v1+json"

// Push sends the bundle file to ref as an artifact and returns its
// manifest's digest. The bundle's own manifest gives the version
// annotation; its signature is the host's to check.
func Push(ctx context.Context, file string, ref name.Reference, opts ...remote.Option) (v1.Hash, error) {
	m, err := osbundle.ReadManifest(file)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("%s: %w", file, err)
	}
	layer, err := fileLayer(file)
	if err != nil {
		return v1.Hash{}, err
	}
	opts = append(opts, remote.WithContext(ctx))
	config := static.NewLayer(emptyConfig, emptyType)
	for _, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(ref.Context(), l, opts...); err != nil {
			return v1.Hash{}, fmt.Errorf("push %s to %s: %w", file, ref, err)
		}
	}
	ld, err := descriptor(layer)
	if err != nil {
		return v1.Hash{}, err
	}
	ld.Annotations = map[string]string{"org.opencontainers.image.title": m.Name + ".bundle"}
	cd, err := descriptor(config)
	if err != nil {
		return v1.Hash{}, err
	}
	cd.Data = emptyConfig
	man := v1.Manifest{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: osbundle.ArtifactType,
		Config: *cd, Layers: []v1.Descriptor{*ld},
		Annotations: map[string]string{"org.opencontainers.image.version": m.Version, "org.opencontainers.image.title": m.Name},
	}
	raw, err := json.Marshal(man)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Put(ref, rawManifest{raw}, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s to %s: %w", file, ref, err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	return h, err
}

func descriptor(l v1.Layer) (*v1.Descriptor, error) {
	d, err := l.Digest()
	if err != nil {
		return nil, err
	}
	n, err := l.Size()
	if err != nil {
		return nil, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return nil, err
	}
	return &v1.Descriptor{MediaType: mt, Size: n, Digest: d}, nil
}

type rawManifest struct{ b []byte }

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// layer is a file sent as it is: its blob is the file.
type layer struct {
	path   string
	digest v1.Hash
	size   int64
}

func fileLayer(path string) (*layer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, err
	}
	return &layer{path: path, size: n, digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}}, nil
}

func (l *layer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *layer) DiffID() (v1.Hash, error)             { return l.digest, nil }
func (l *layer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *layer) Uncompressed() (io.ReadCloser, error) { return os.Open(l.path) }
func (l *layer) Size() (int64, error)                 { return l.size, nil }
func (l *layer) MediaType() (types.MediaType, error)  { return osbundle.LayerType, nil }
