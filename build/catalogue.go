package build

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/ocilayout"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/build/tree"
	"github.com/berth-os/berth/services"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ImagesDir is the folder of the output folder that holds the catalogue
// images: images/NAME.oci.tar.
const ImagesDir = "images"

// imageLayout is a catalogue image's tree: its package set less what it
// excludes, its Go programs, and the CA bundle (dockerd pulls over TLS;
// ca-certificates' postinst, which would make it, never runs).
func imageLayout(d *services.Definition) tree.Layout {
	b := d.XBerth.Build
	l := tree.Layout{tree.Skeleton{}}
	if b.Debs != "" {
		l = append(l, tree.Merge{From: packages(b.Debs), To: "/"})
		for i, x := range b.Exclude {
			l = append(l, tree.Exclude{Path: x, Field: fmt.Sprintf("%s: %s.x-berth.build.exclude[%d]", d.Source, d.Path, i)})
		}
	}
	l = append(l, installGo(b.Go)...)
	return append(l, tree.Concat{From: packages("certs"), Sub: "usr/share/ca-certificates", Suffix: ".crt", To: "/etc/ssl/certs/ca-certificates.crt", Mode: 0o644})
}

// imageSpec is what the image says besides its tree: its references
// (berth.local/NAME:VERSION and :latest, VERSION that of the entry's
// package) and config.
func (j *job) imageSpec(d *services.Definition) (ocilayout.Image, error) {
	b := d.XBerth.Build
	version := "latest"
	ann := map[string]string{ocispec.AnnotationTitle: d.Name, ocispec.AnnotationDescription: d.XBerth.Description}
	if b.Debs != "" {
		pkgs, err := j.lock.Set(b.Debs)
		if err != nil {
			return ocilayout.Image{}, err
		}
		version = ""
		for _, p := range pkgs {
			if p.Name == b.Package {
				version = p.Version
			}
		}
		if version == "" {
			return ocilayout.Image{}, fmt.Errorf("x-berth.build.package: %s is not in package set %s of the lock", b.Package, b.Debs)
		}
		ann[ocispec.AnnotationVersion] = version
	}
	refs := []string{d.Image + ":" + ocilayout.Tag(version)}
	if version != "latest" {
		refs = append(refs, d.Image+":latest")
	}
	return ocilayout.Image{
		Refs: refs,
		Config: ocispec.ImageConfig{
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Entrypoint: d.Entrypoint,
			Cmd:        d.Command,
		},
		Annotations: ann,
		Epoch:       j.epoch,
	}, nil
}

// buildCatalogueImages writes each catalogue image the spec asks for as
// OUT/images/NAME.oci.tar, an artifact of the manifest.
func (j *job) buildCatalogueImages(ctx context.Context) error {
	dst := filepath.Join(j.o.OutDir, ImagesDir)
	if err := tree.MkdirAll(dst); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	for _, d := range j.images {
		start := time.Now()
		file, img, err := j.catalogueImage(ctx, d)
		if err != nil {
			return fmt.Errorf("catalogue image %s: %w", d.Name, err)
		}
		name := ImagesDir + "/" + d.Name + ".oci.tar"
		if err := sparseCopy(file, filepath.Join(j.o.OutDir, name)); err != nil {
			return fmt.Errorf("copy %s to %s: %w", name, j.o.OutDir, err)
		}
		a, err := artifact(file, name)
		if err != nil {
			return err
		}
		j.res.Manifest.Artifacts = append(j.res.Manifest.Artifacts, a)
		j.res.Files[name] = filepath.Join(j.o.OutDir, name)
		j.rep.Logf("build: catalogue image %s (%s) in %s, %.1fs", d.Name, img.Refs[0], name, time.Since(start).Seconds())
	}
	return nil
}

// catalogueImage makes one image in its cache stage.
func (j *job) catalogueImage(ctx context.Context, d *services.Definition) (string, ocilayout.Image, error) {
	img, err := j.imageSpec(d)
	if err != nil {
		return "", img, err
	}
	imgJSON, err := json.Marshal(img)
	if err != nil {
		return "", img, err
	}
	l := imageLayout(d)
	r := j.resolver(ctx)
	k := cache.NewKey("catalogue-image", 1).String("name", d.Name).Bytes("image", imgJSON).String("epoch", strconv.FormatInt(j.epoch, 10))
	if err := j.layoutKey(k, l, r); err != nil {
		return "", img, err
	}
	key, err := k.Key()
	if err != nil {
		return "", img, err
	}
	file := d.Name + ".oci.tar"
	step := cache.Step{Stage: "catalogue-image", Key: key, Title: "catalogue image " + d.Name, Made: "built"}
	dir, _, err := j.c.Reported(j.rep, step, func(out string, _ progress.Task) error {
		t := &tree.Tree{Root: filepath.Join(out, "tree")}
		defer cache.RemoveAll(t.Root)
		if err := l.Apply(t, r); err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(out, file))
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := ocilayout.Write(f, t.Root, out, img); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		_, err = cachedSHA(filepath.Join(out, file))
		return err
	})
	if err != nil {
		return "", img, err
	}
	return filepath.Join(dir, file), img, nil
}
