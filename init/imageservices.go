package main

// Catalogue services that run from an image (docker, the guest agents...):
// hostctl service lists them, enable makes sure their image is in the
// system containerd's store (pulled through the mirrors, or imported or
// preloaded before), and PID 1 runs each from a writable snapshot of its
// image, mounted on the host, with the OCI spec made from its catalogue
// entry. The catalogue's consoles are not here: berth.console chooses
// among them (consoles.go).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/init/etc"
	"github.com/berth-os/berth/init/supervise"
	consoles "github.com/berth-os/berth/internal/console"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/services"
)

var (
	// serviceRootsAt is where the snapshots of image services are mounted.
	serviceRootsAt = "/run/service-roots"
)

// dockerService is the catalogue's docker entry, which reads files PID 1
// renders (dockerInputs).
const dockerService = "docker"

// dockerInputs is what dockerd reads of /etc at its start: its daemon.json
// (berth.registry_mirrors) and berth.proxy. When a configuration change
// changes them, docker restarts, if it is up.
func dockerInputs(etcDir string) string {
	var b strings.Builder
	for _, f := range []string{etc.DockerConfigFile, etc.ProxyEnvFile} {
		data, _ := os.ReadFile(filepath.Join(etcDir, f))
		b.WriteString(f + "\x00" + string(data) + "\x00")
	}
	return b.String()
}

// dockerRunDir holds the docker service's socket, bound into the consoles.
const dockerRunDir = "/run/docker"

// imageDefs are the catalogue's entries that run from an image, but the
// consoles, by name. A bad entry is left out, and said with berth.debug;
// starting it reports it.
func (h *host) imageDefs() map[string]*services.Definition {
	out := map[string]*services.Definition{}
	ents, _ := os.ReadDir(catalogueAt)
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok || consoles.IsConsole(name) {
			continue
		}
		d, err := services.LoadEntry(catalogueAt, name)
		if err != nil {
			h.debugf("catalogue %s: %v", name, err)
			continue
		}
		out[name] = d
	}
	return out
}

// imageEntries are the image services as hostctl service lists them,
// sorted by name.
func (h *host) imageEntries() []serviceEntry {
	defs := h.imageDefs()
	var out []serviceEntry
	for _, n := range slices.Sorted(maps.Keys(defs)) {
		e := serviceEntry{Name: n, Source: api.SourceCatalogue, Image: defs[n].Image}
		for _, d := range defs[n].DependsOn {
			e.Needs = append(e.Needs, d.Name)
		}
		out = append(out, e)
	}
	return out
}

// loadAnyService is what the supervisor runs for name: a built-in's
// bundle, or an image service made ready from its image.
func (h *host) loadAnyService(ctx context.Context, name string) (supervise.Service, error) {
	if _, err := os.Stat(filepath.Join(servicesAt, name)); err != nil {
		if d, ok := h.imageDefs()[name]; ok {
			return h.imageService(ctx, d)
		}
		if d, ok := h.userDefs()[name]; ok {
			return h.imageService(ctx, d)
		}
		if e, ok := findEntry(h.catalogue(), name); ok && e.Origin == cloudOrigin {
			return h.cloudService(ctx, name)
		}
	}
	svc, err := loadService(name)
	svc.Env = h.serviceEnv()
	return svc, err
}

// imageService mounts a writable snapshot of d's image (from the local
// store: nothing is pulled at start, so a boot needs no network) and makes
// the service's spec for it. The snapshot is kept across restarts and
// reboots, with what the service wrote into its root.
func (h *host) imageService(ctx context.Context, d *services.Definition) (supervise.Service, error) {
	if h.images == nil {
		return supervise.Service{}, errkind.Mark(errkind.ErrUnavailable, errors.New("the system containerd is not running"))
	}
	root, err := h.images.WritableRoot(ctx, d.Image, "berth/service/"+d.Name)
	if err != nil {
		return supervise.Service{}, err
	}
	target := filepath.Join(serviceRootsAt, d.Name)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return supervise.Service{}, err
	}
	unix.Unmount(target, unix.MNT_DETACH) // an earlier start's
	if err := mount.All(root.Mounts, target); err != nil {
		return supervise.Service{}, fmt.Errorf("mount the snapshot of %s on %s: %w", d.Image, target, err)
	}
	spec, err := h.withConfig(d).SpecFor(target, root.Config)
	if err != nil {
		return supervise.Service{}, err
	}
	if err := makeBindSources(spec, "/var/lib", "/run"); err != nil {
		return supervise.Service{}, fmt.Errorf("service %s: %w", d.Name, err)
	}
	svc, err := supervisedService(d.Runtime(), spec)
	if err != nil {
		return supervise.Service{}, err
	}
	svc.Name = d.Name
	svc.Env = h.serviceEnv()
	return svc, nil
}

// makeBindSources makes the missing source folders of spec's binds that
// are under one of the roots (a service's state folder, /var/lib/docker,
// or its socket's, /run/docker, the first time it starts), as Docker does
// for a volume's host path. A missing file, or a folder elsewhere, is left
// to fail the start.
func makeBindSources(spec *specs.Spec, roots ...string) error {
	for _, m := range spec.Mounts {
		if m.Type != "bind" || !slices.Contains(m.Options, "bind") && !slices.Contains(m.Options, "rbind") {
			continue
		}
		under := false
		for _, r := range roots {
			under = under || strings.HasPrefix(m.Source, r+"/")
		}
		if !under {
			continue
		}
		if _, err := os.Stat(m.Source); errors.Is(err, os.ErrNotExist) && !isFileBind(m.Source) {
			if err := os.MkdirAll(m.Source, 0o755); err != nil {
				return fmt.Errorf("make %s for its bind on %s: %w", m.Source, m.Destination, err)
			}
		}
	}
	return nil
}

// isFileBind tells the binds of files by their names, as the services
// package does (a dot in the name).
func isFileBind(p string) bool {
	return strings.Contains(filepath.Base(p), ".") && !strings.HasSuffix(p, ".d")
}

// ensureImage makes sure an image service's image is in the store before
// it is enabled: pulled through the mirrors when it is not there. An image
// that cannot be had fails the enable, which then changes nothing.
func (h *host) ensureImage(ctx context.Context, d *services.Definition) error {
	if h.images == nil {
		return errkind.Mark(errkind.ErrUnavailable, errors.New("the system containerd is not running"))
	}
	ok, err := h.images.Has(ctx, d.Image)
	if err != nil || ok {
		return err
	}
	if _, err := h.images.Pull(ctx, d.Image, io.Discard); err != nil {
		return fmt.Errorf("service %s: its image %s is not in the local store (hostctl image import or the preload folder) and cannot be pulled: %w", d.Name, d.Image, err)
	}
	return nil
}

// withConfig is d with what cloud-config adds to a catalogue entry: the
// k3s service's berth.k3s (K3S_URL and K3S_TOKEN, and command agent with a
// URL). Other definitions come back as they are.
func (h *host) withConfig(d *services.Definition) *services.Definition {
	if d.Name != "k3s" || h.cfg == nil || h.cfg.merged == nil {
		return d
	}
	env, command := h.cfg.merged.Config.Berth.K3s.Env()
	if len(env) == 0 {
		return d
	}
	c := *d
	c.Environment = append(slices.Clone(d.Environment), env...)
	if command != nil {
		c.Command = command
	}
	return &c
}
