package deb

import (
	"fmt"
	"sort"
	"strings"
)

// Universe is every package of a set of indexes, newest version per name.
type Universe struct {
	byName    map[string]Package
	providers map[string][]string
}

// NewUniverse keeps the newest version of each package name.
func NewUniverse(pkgs []Package) *Universe {
	u := &Universe{byName: map[string]Package{}, providers: map[string][]string{}}
	for _, p := range pkgs {
		if p.Arch != "amd64" && p.Arch != "all" {
			continue
		}
		if old, ok := u.byName[p.Name]; ok && CompareVersions(old.Version, p.Version) >= 0 {
			continue
		}
		u.byName[p.Name] = p
	}
	for _, p := range u.byName {
		for _, v := range p.Provides {
			u.providers[v] = append(u.providers[v], p.Name)
		}
	}
	for _, v := range u.providers {
		sort.Strings(v)
	}
	return u
}

// Get returns the newest package of that name.
func (u *Universe) Get(name string) (Package, bool) {
	p, ok := u.byName[name]
	return p, ok
}

// Closure returns roots and, when deps is set, everything they depend on,
// skipping excluded names. For each dependency the first alternative that
// is a real package (or is provided by one) is taken. The result is sorted.
func (u *Universe) Closure(roots []string, deps bool, exclude map[string]bool) ([]Package, error) {
	seen := map[string]bool{}
	var out []Package
	var missing []string
	var visit func(name, from string)
	visit = func(name, from string) {
		if seen[name] || exclude[name] {
			return
		}
		p, ok := u.byName[name]
		if !ok {
			missing = append(missing, fmt.Sprintf("%s (needed by %s)", name, from))
			return
		}
		seen[name] = true
		out = append(out, p)
		if !deps {
			return
		}
		for _, alts := range p.Depends {
			chosen := ""
			for _, a := range alts {
				if exclude[a] {
					chosen = "-" // an excluded alternative satisfies the clause
					break
				}
				if _, ok := u.byName[a]; ok {
					chosen = a
					break
				}
				if prov := u.providers[a]; len(prov) > 0 {
					chosen = prov[0]
					break
				}
			}
			switch chosen {
			case "-":
			case "":
				missing = append(missing, fmt.Sprintf("%s (needed by %s)", strings.Join(alts, " | "), p.Name))
			default:
				visit(chosen, p.Name)
			}
		}
	}
	for _, r := range roots {
		visit(r, "the request")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("resolve: not in the indexes: %s", strings.Join(missing, ", "))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
