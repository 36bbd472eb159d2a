package build

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/deb"
	"github.com/berth-os/berth/build/progress"
)

// debSets extracts package sets of the lock, each once per build.
type debSets struct {
	cache *cache.Cache
	lock  *deb.Lock
	rep   progress.Reporter
	dirs  map[string]string
}

// get returns the folder a set is extracted in, keyed by its pins.
func (s *debSets) get(ctx context.Context, name string) (string, error) {
	if d, ok := s.dirs[name]; ok {
		return d, nil
	}
	pkgs, err := s.lock.Set(name)
	if err != nil {
		return "", err
	}
	k := cache.NewKey("debs", 1)
	for _, p := range pkgs {
		k.String(p.Name, p.SHA256)
	}
	key, err := k.Key()
	if err != nil {
		return "", fmt.Errorf("package set %s: %w", name, err)
	}
	step := cache.Step{Stage: "debs", Key: key, Title: "packages " + name, Total: int64(len(pkgs)), Made: "extracted"}
	dir, hit, err := s.cache.Reported(s.rep, step, func(out string, task progress.Task) error {
		for _, p := range pkgs {
			path, err := s.cache.Fetch(ctx, p.Download(), nil)
			if errors.Is(err, cache.ErrGone) {
				return fmt.Errorf("package %s %s, pinned in images/packages.lock, is no longer in Debian's pool (%w); Debian drops superseded versions: "+
					"move the pins with `bin/berth debs lock` and commit images/packages.lock", p.Name, p.Version, err)
			}
			if err != nil {
				return fmt.Errorf("package %s %s: %w", p.Name, p.Version, err)
			}
			if err := deb.Extract(path, out, deb.Options{Keep: deb.DefaultKeep}); err != nil {
				return fmt.Errorf("package %s %s: %w", p.Name, p.Version, err)
			}
			task.Add(1)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("package set %s: %w", name, err)
	}
	if hit {
		for _, p := range pkgs {
			if _, err := s.cache.UseDownload(p.SHA256); err != nil {
				return "", fmt.Errorf("package set %s: %w", name, err)
			}
		}
	}
	s.dirs[name] = dir
	return dir, nil
}
