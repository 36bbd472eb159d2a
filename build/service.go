package build

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/build/tree"
	"github.com/berth-os/berth/services"
)

// bundleLayout is a service's rootfs: its package set less what it
// excludes, its Go programs, its files, and the mount points runc cannot
// make in a read-only root.
func bundleLayout(d *services.Definition, mountDirs, mountFiles []string) tree.Layout {
	l := tree.Layout{tree.Skeleton{}}
	r := d.XBerth.Rootfs
	if r.Debs != "" {
		l = append(l, tree.Merge{From: packages(r.Debs), To: "/"})
		for i, x := range r.Exclude {
			l = append(l, tree.Exclude{Path: x, Field: fmt.Sprintf("%s: %s.x-berth.rootfs.exclude[%d]", d.Source, d.Path, i)})
		}
		l = append(l, tree.BusyboxLinks{Busybox: "/usr/bin/busybox", IfExists: true})
	}
	l = append(l, installGo(r.Go)...)
	if r.Files != "" {
		l = append(l, tree.Merge{From: tree.Source{Kind: "files", Name: d.Name}, To: "/"})
	}
	for _, m := range mountDirs {
		l = append(l, tree.Dir{Path: m, Mode: 0o755, IfMissing: true})
	}
	for _, m := range mountFiles {
		l = append(l, tree.File{Path: m, Mode: 0o644, What: "mount point", IfMissing: true})
	}
	return l
}

// buildBundles makes /usr/lib/berth/services/<name> for each service:
// rootfs/, config.json (its OCI spec) and service.json (how PID 1 runs it).
func (j *job) buildBundles(ctx context.Context) error {
	rts := services.Runtimes(j.defs)
	for i, d := range j.defs {
		dir, err := j.serviceBundle(ctx, d, rts[i])
		if err != nil {
			return fmt.Errorf("service %s: %w", d.Name, err)
		}
		j.bundles[d.Name] = dir
	}
	return nil
}

func (j *job) serviceBundle(ctx context.Context, d *services.Definition, rt services.Runtime) (string, error) {
	spec, err := d.Spec()
	if err != nil {
		return "", err
	}
	specJSON, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return "", fmt.Errorf("OCI spec: %w", err)
	}
	rtJSON, err := json.MarshalIndent(rt, "", "  ")
	if err != nil {
		return "", fmt.Errorf("runtime settings: %w", err)
	}
	mountDirs, mountFiles := services.Mountpoints(spec)
	l := bundleLayout(d, mountDirs, mountFiles)
	r := j.resolver(ctx)
	k := cache.NewKey("service", 3).String("name", d.Name).Bytes("spec", specJSON).Bytes("runtime", rtJSON)
	if err := j.layoutKey(k, l, r); err != nil {
		return "", err
	}
	key, err := k.Key()
	if err != nil {
		return "", err
	}
	step := cache.Step{Stage: "service", Key: key, Title: "service " + d.Name, Made: "assembled"}
	dir, _, err := j.c.Reported(j.rep, step, func(out string, _ progress.Task) error {
		if err := l.Apply(&tree.Tree{Root: filepath.Join(out, "rootfs")}, r); err != nil {
			return err
		}
		for name, data := range map[string][]byte{"config.json": specJSON, "service.json": rtJSON} {
			if err := tree.WriteFile(filepath.Join(out, name), append(data, '\n'), 0o644); err != nil {
				return fmt.Errorf("write %s: %w", name, err)
			}
		}
		return nil
	})
	return dir, err
}
