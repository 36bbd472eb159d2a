package deb

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/berth-os/berth/internal/strictyaml"
	"go.yaml.in/yaml/v3"
)

// Request says which Debian packages an image is made of. It lives in
// images/packages.yaml; `berth debs lock` turns it into a Lock.
type Request struct {
	Mirrors map[string]string `yaml:"mirrors"` // name → base URL
	Suites  []Suite           `yaml:"suites"`
	Exclude []string          `yaml:"exclude"` // never pulled in as dependencies
	Sets    map[string]Set    `yaml:"sets"`
}

// Suite is one index to read.
type Suite struct {
	Mirror string `yaml:"mirror"`
	Suite  string `yaml:"suite"`
}

// Set is a named group of packages that is extracted together, e.g. the
// rootfs of one service.
type Set struct {
	Packages []string `yaml:"packages"`
	Deps     bool     `yaml:"deps"` // include the dependency closure
}

// Lock pins every package of every set by version and sha256.
type Lock struct {
	Packages []Pinned            `yaml:"packages"`
	Sets     map[string][]string `yaml:"sets"`
}

// Pinned is one .deb, pinned.
type Pinned struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
	URL     string `yaml:"url"`
	SHA256  string `yaml:"sha256"`
	Size    int64  `yaml:"size"`
}

// LoadRequest reads and checks a request file.
func LoadRequest(path string) (*Request, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read package request: %w", err)
	}
	var r Request
	if err := strictyaml.Decode(data, path, &r); err != nil {
		return nil, err
	}
	for i, s := range r.Suites {
		if _, ok := r.Mirrors[s.Mirror]; !ok {
			return nil, fmt.Errorf("%s: suites[%d].mirror: %q is not one of the mirrors", path, i, s.Mirror)
		}
	}
	return &r, nil
}

// LoadLock reads a lock file.
func LoadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read package lock: %w", err)
	}
	var l Lock
	if err := strictyaml.Decode(data, path, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Save writes the lock atomically, with a header saying how it was made.
func (l *Lock) Save(path, header string) error {
	var buf bytes.Buffer
	for _, line := range strings.Split(strings.TrimSpace(header), "\n") {
		fmt.Fprintf(&buf, "# %s\n", line)
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(l); err != nil {
		return fmt.Errorf("encode package lock: %w", err)
	}
	if err := atomicfile.Write(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write package lock: %w", err)
	}
	return nil
}

// Set returns the pinned packages of a set, in lock order.
func (l *Lock) Set(name string) ([]Pinned, error) {
	names, ok := l.Sets[name]
	if !ok {
		return nil, fmt.Errorf("package set %q is not in the lock; run `berth debs lock`", name)
	}
	byName := map[string]Pinned{}
	for _, p := range l.Packages {
		byName[p.Name] = p
	}
	out := make([]Pinned, 0, len(names))
	for _, n := range names {
		p, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("package %s of set %s is not pinned in the lock", n, name)
		}
		out = append(out, p)
	}
	return out, nil
}

// Download is the cache download of a pinned package.
func (p Pinned) Download() cache.Download {
	return cache.Download{URL: p.URL, SHA256: p.SHA256, Size: p.Size}
}

// Resolve pins every set of the request against the universe.
func Resolve(r *Request, u *Universe) (*Lock, error) {
	exclude := map[string]bool{}
	for _, e := range r.Exclude {
		exclude[e] = true
	}
	lock := &Lock{Sets: map[string][]string{}}
	pinned := map[string]Pinned{}
	names := make([]string, 0, len(r.Sets))
	for n := range r.Sets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := r.Sets[n]
		pkgs, err := u.Closure(s.Packages, s.Deps, exclude)
		if err != nil {
			return nil, fmt.Errorf("set %s: %w", n, err)
		}
		for _, p := range pkgs {
			lock.Sets[n] = append(lock.Sets[n], p.Name)
			pinned[p.Name] = Pinned{
				Name: p.Name, Version: p.Version, URL: p.MirrorBase + "/" + p.Filename,
				SHA256: p.SHA256, Size: p.Size,
			}
		}
	}
	for _, p := range pinned {
		lock.Packages = append(lock.Packages, p)
	}
	sort.Slice(lock.Packages, func(i, j int) bool { return lock.Packages[i].Name < lock.Packages[j].Name })
	return lock, nil
}
