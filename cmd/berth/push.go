package main

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/berth-os/berth/build"
	"github.com/berth-os/berth/build/ocibundle"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
)

func pushCmd(stdout io.Writer) *cobra.Command {
	var out string
	var insecure bool
	c := &cobra.Command{
		Use:   "push FILE|NAME REF",
		Short: "Push a catalogue image the build made (an OCI layout tar, or NAME for OUT/images/NAME.oci.tar), or an upgrade bundle, to a registry",
		Long: `Push a catalogue image, or an upgrade bundle (NAME.bundle: an OCI
artifact that hostctl os upgrade --image REF pulls), to a registry, e.g.
  berth push docker registry.example:5000/berth/docker:20.10
  berth push --insecure out/images/qemu-guest-agent.oci.tar 10.0.2.2:5000/qga:1
  berth push out/berth.bundle registry.example:5000/berth/os:1.2.0
The registry's credentials come from ~/.docker/config.json, as docker login
leaves them. --insecure allows plain HTTP (127.0.0.1 and localhost always may).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			if !strings.ContainsAny(file, "/.") {
				file = filepath.Join(out, build.ImagesDir, file+".oci.tar")
			}
			var opts []name.Option
			if insecure {
				opts = append(opts, name.Insecure)
			}
			ref, err := name.ParseReference(args[1], opts...)
			if err != nil {
				return fmt.Errorf("push: reference %q: %w", args[1], err)
			}
			push := push
			if strings.HasSuffix(file, ".bundle") {
				push = pushBundle
			}
			d, err := push(cmd.Context(), file, ref)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "pushed %s (%s)\n", args[1], d)
			return nil
		},
	}
	c.Flags().StringVarP(&out, "out", "o", "out", "the build's output folder, where NAME is looked up")
	c.Flags().BoolVar(&insecure, "insecure", false, "allow a registry over plain HTTP")
	return c
}

// push sends the one image of the OCI layout tar file to ref and returns
// its manifest digest.
func push(ctx context.Context, file string, r name.Reference) (v1.Hash, error) {
	dir, err := os.MkdirTemp("", "berth-push-")
	if err != nil {
		return v1.Hash{}, err
	}
	defer os.RemoveAll(dir)
	if err := untarLayout(file, dir); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", file, err)
	}
	img, err := layoutImage(dir)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", file, err)
	}
	if err := remote.Write(r, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s to %s: %w", file, r, err)
	}
	return img.Digest()
}

// pushBundle sends an upgrade bundle to ref as an OCI artifact and
// returns its manifest digest.
func pushBundle(ctx context.Context, file string, r name.Reference) (v1.Hash, error) {
	return ocibundle.Push(ctx, file, r, remote.WithAuthFromKeychain(authn.DefaultKeychain))
}

// layoutImage is the image of an OCI layout whose index names one
// manifest (under one or more references).
func layoutImage(dir string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("not an OCI image layout: %w", err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	digests := map[v1.Hash]bool{}
	for _, d := range m.Manifests {
		digests[d.Digest] = true
	}
	if len(digests) != 1 {
		return nil, fmt.Errorf("index.json: expected one image, got %d", len(digests))
	}
	return idx.Image(m.Manifests[0].Digest)
}

// untarLayout unpacks an OCI layout tar into dir: folders and files only,
// each under dir.
func untarLayout(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		clean := path.Clean(h.Name)
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("entry %q: outside the layout", h.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(clean))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			w, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(w, tr)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("entry %s: %w", h.Name, err)
			}
		default:
			return fmt.Errorf("entry %q: expected a folder or a file in an OCI layout", h.Name)
		}
	}
}
