// Package ocilayout writes a folder tree as a reproducible OCI image: one
// gzip layer of the tree, the image config and manifest, in an OCI image
// layout (index.json, oci-layout, blobs/sha256/) packed as one tar, which
// `ctr images import`, `docker load` (25 and later) and `berth push` read.
//
// Every byte follows from the tree, the config and the time stamp: the
// layer's entries are sorted, owned by root and stamped with the epoch;
// gzip is written with no name or time; the layout tar's entries are
// sorted and stamped likewise. Two builds of the same input give the same
// manifest digest.
package ocilayout

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"
	specsgo "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ContainerdNameAnnotation names an image in index.json for containerd's
// import (the full reference, with registry and tag).
const ContainerdNameAnnotation = "io.containerd.image.name"

// Image is what goes into the image besides the tree.
type Image struct {
	// Refs are the image's full references, e.g. berth.local/docker:20.10
	// and berth.local/docker:latest, each an entry of index.json.
	Refs []string
	// Config is the runtime config (entrypoint, command, environment).
	Config ocispec.ImageConfig
	// Annotations go on the manifest (org.opencontainers.image.version...).
	Annotations map[string]string
	// Epoch stamps every file and the image's creation time.
	Epoch int64
}

// Result describes a written image.
type Result struct {
	Manifest ocispec.Descriptor // the manifest: its digest names the image
	Config   ocispec.Descriptor
	Layer    ocispec.Descriptor
	DiffID   digest.Digest // the uncompressed layer's digest
}

// Write writes the image of the tree at root as an OCI layout tar to out.
// work is a folder for the layer while it is written.
func Write(out io.Writer, root, work string, img Image) (*Result, error) {
	if len(img.Refs) == 0 {
		return nil, fmt.Errorf("image of %s: no reference to name it by", root)
	}
	layerPath := filepath.Join(work, "layer.tar.gz")
	lf, err := os.Create(layerPath)
	if err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	defer os.Remove(layerPath)
	defer lf.Close()
	zsum := sha256.New()
	zcount := &counter{w: io.MultiWriter(lf, zsum)}
	zw, err := gzip.NewWriterLevel(zcount, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	tsum := sha256.New()
	if err := WriteTree(io.MultiWriter(zw, tsum), root, img.Epoch); err != nil {
		return nil, fmt.Errorf("image layer of %s: %w", root, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	res := &Result{
		DiffID: sum(tsum),
		Layer:  ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: sum(zsum), Size: zcount.n},
	}
	created := time.Unix(img.Epoch, 0).UTC()
	cfg := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		Config:   img.Config,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{res.DiffID}},
		History:  []ocispec.History{{Created: &created, CreatedBy: "berth build"}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	res.Config = blobDesc(ocispec.MediaTypeImageConfig, cfgJSON)
	man := ocispec.Manifest{
		Versioned:   specsgo.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      res.Config,
		Layers:      []ocispec.Descriptor{res.Layer},
		Annotations: img.Annotations,
	}
	manJSON, err := json.Marshal(man)
	if err != nil {
		return nil, fmt.Errorf("image manifest: %w", err)
	}
	res.Manifest = blobDesc(ocispec.MediaTypeImageManifest, manJSON)
	res.Manifest.Platform = &cfg.Platform
	idx := ocispec.Index{Versioned: specsgo.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for _, ref := range img.Refs {
		i := strings.LastIndex(ref, ":")
		if i < 0 || strings.ContainsAny(ref[i:], "/@") || strings.Contains(ref, "@") {
			return nil, fmt.Errorf("image reference %q: expected NAME:TAG", ref)
		}
		tag := ref[i+1:]
		d := res.Manifest
		d.Annotations = map[string]string{ocispec.AnnotationRefName: tag, ContainerdNameAnnotation: ref}
		idx.Manifests = append(idx.Manifests, d)
	}
	idxJSON, err := json.Marshal(idx)
	if err != nil {
		return nil, fmt.Errorf("image index: %w", err)
	}
	layoutJSON, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})

	// The layout tar: folders, blobs by digest, index.json, oci-layout.
	blobs := []struct {
		d    digest.Digest
		data []byte
	}{{res.Config.Digest, cfgJSON}, {res.Manifest.Digest, manJSON}, {res.Layer.Digest, nil}}
	sort.Slice(blobs, func(i, j int) bool { return blobs[i].d < blobs[j].d })
	tw := tar.NewWriter(out)
	mtime := time.Unix(img.Epoch, 0)
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	for _, b := range blobs {
		name := "blobs/sha256/" + b.d.Encoded()
		if b.data != nil {
			if err := writeFile(tw, name, b.data, mtime); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := lf.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("image layer: %w", err)
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: res.Layer.Size, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, lf); err != nil {
			return nil, fmt.Errorf("image layer: %w", err)
		}
	}
	if err := writeFile(tw, "index.json", idxJSON, mtime); err != nil {
		return nil, err
	}
	if err := writeFile(tw, ocispec.ImageLayoutFile, layoutJSON, mtime); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image layout: %w", err)
	}
	return res, nil
}

func writeFile(tw *tar.Writer, name string, data []byte, mtime time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("image layout %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("image layout %s: %w", name, err)
	}
	return nil
}

func blobDesc(mediaType string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

func sum(h hash.Hash) digest.Digest {
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WriteTree writes the tree at root as a layer tar: entries in lexical
// order, folders before what they hold, owned by 0:0, stamped with epoch,
// modes (with set-user-ID, set-group-ID and sticky bits) as in the tree.
// Hard links are written as files of their own. Only folders, files and
// symlinks are allowed: a build tree has nothing else.
func WriteTree(w io.Writer, root string, epoch int64) error {
	tw := tar.NewWriter(w)
	mtime := time.Unix(epoch, 0)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mtime, Mode: tarMode(info.Mode()), Format: tar.FormatPAX}
		switch {
		case d.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, l, 0o777
		case d.Type().IsRegular():
			h.Typeflag, h.Size = tar.TypeReg, info.Size()
		default:
			return fmt.Errorf("%s: a %s has no place in an image layer", rel, info.Mode().Type())
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if n, err := io.Copy(tw, f); err != nil || n != h.Size {
			return fmt.Errorf("%s: copied %d of %d bytes: %v", rel, n, h.Size, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

var tagBad = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// Tag turns a Debian version into an image tag: what a tag may not hold
// (the epoch's colon, +, ~) becomes _, e.g. 1:7.2+dfsg-7 → 1_7.2_dfsg-7.
func Tag(version string) string {
	t := tagBad.ReplaceAllString(version, "_")
	if len(t) > 128 {
		t = t[:128]
	}
	if t == "" || t[0] == '.' || t[0] == '-' {
		t = "v" + t
	}
	return t
}
