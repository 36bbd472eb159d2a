package main

import (
	"context"
	"errors"
	"io"
	"os"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/init/preload"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/internal/images"
	"github.com/berth-os/berth/internal/layout"
)

// The host's image store: what the system containerd keeps for services,
// pulled or imported through the host API (hostctl image).
var _ api.ImageHost = (*host)(nil)

// imageOptions are read at each pull, so that a change of
// berth.registry_auths or berth.proxy applies to the next one; the
// mirrors are in /etc's hosts.toml files, rendered with /etc.
func (h *host) imageOptions() images.Options {
	o := images.Options{HostsDir: images.HostsDir}
	configMu.Lock()
	defer configMu.Unlock()
	if h.cfg == nil || h.cfg.merged == nil {
		return o
	}
	b := h.cfg.merged.Config.Berth
	o.Proxy = imageProxy(b.Proxy)
	if len(b.RegistryAuths) > 0 {
		o.Auths = map[string]images.Auth{}
		for host, a := range b.RegistryAuths {
			o.Auths[host] = images.Auth{Username: a.Username, Password: a.Password, Auth: a.Auth}
		}
	}
	return o
}

func imageProxy(p cloudconfig.Proxy) images.Proxy {
	return images.Proxy{HTTP: p.HTTPProxy, HTTPS: p.HTTPSProxy, No: p.NoProxy}
}

func (h *host) imageStore() (*images.Store, error) {
	if h.images == nil {
		return nil, errkind.Mark(errkind.ErrUnavailable, errors.New("the system containerd is not running yet"))
	}
	return h.images, nil
}

func (h *host) Images(ctx context.Context) ([]api.Image, error) {
	s, err := h.imageStore()
	if err != nil {
		return nil, err
	}
	imgs, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	return apiImages(imgs), nil
}

func (h *host) PullImage(ctx context.Context, ref string, progress io.Writer) (api.Image, error) {
	s, err := h.imageStore()
	if err != nil {
		return api.Image{}, err
	}
	img, err := s.Pull(ctx, ref, progress)
	if err != nil {
		h.logf("image: %v", err)
		return api.Image{}, err
	}
	h.logf("image: pulled %s (%s)", img.Name, img.Digest)
	return apiImages([]images.Image{img})[0], nil
}

func (h *host) ImportImages(ctx context.Context, r io.Reader, progress io.Writer) ([]api.Image, error) {
	s, err := h.imageStore()
	if err != nil {
		return nil, err
	}
	imgs, err := s.Import(ctx, r, progress)
	if err != nil {
		h.logf("image: %v", err)
		return nil, err
	}
	for _, img := range imgs {
		h.logf("image: imported %s (%s)", img.Name, img.Digest)
	}
	return apiImages(imgs), nil
}

func apiImages(imgs []images.Image) []api.Image {
	out := make([]api.Image, len(imgs))
	for i, img := range imgs {
		out[i] = api.Image{Name: img.Name, Digest: img.Digest, Size: img.Size, Type: img.Type, Created: img.Created}
	}
	return out
}

// preload imports the image tarballs copied to the preload folder
// (init/preload: each once, again when it changes), so that the services
// that run from them find them with no registry.
func (h *host) preload(ctx context.Context) error {
	return preload.Import(ctx, layout.PreloadDir, func(ctx context.Context, path string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		imgs, err := h.images.Import(ctx, f, io.Discard)
		for _, img := range imgs {
			h.logf("preload: imported %s (%s) from %s", img.Name, img.Digest, path)
		}
		return err
	})
}

// newImageStore is the image store of the system containerd.
func (h *host) newImageStore() *images.Store {
	return &images.Store{Client: h.ctr.Client, Namespace: images.Namespace, Options: h.imageOptions}
}
