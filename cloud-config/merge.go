package cloudconfig

import (
	"fmt"
	"sort"
	"strings"

	"github.com/berth-os/berth/internal/strictyaml"
)

// Layer names, lowest first.
const (
	LayerImage      = "image"
	LayerDatasource = "datasource"
	LayerLocal      = "local"
	LayerCmdline    = "cmdline"
)

// Layer is one source of configuration.
type Layer struct {
	Name   string // image, datasource, local or cmdline
	Source string // where it came from, for messages: "user-data (nocloud)"
	Tree   map[string]any
	// Origins maps keys translated from RancherOS's rancher: to the key
	// they came from (Document.Origins).
	Origins map[string]string
}

// Merged is layers merged: maps merge key by key, lists and values of a
// higher layer replace the lower one's.
type Merged struct {
	Tree   map[string]any
	Config Config
	// from maps each leaf's path (a value or a list) to its layer.
	from map[string]string
	// origins are each layer's Origins, by layer name.
	origins map[string]map[string]string
}

// Merge merges layers in order and validates the result.
func Merge(layers ...Layer) (*Merged, error) {
	m := &Merged{Tree: map[string]any{}, from: map[string]string{}, origins: map[string]map[string]string{}}
	for _, l := range layers {
		mergeTree(m.Tree, l.Tree, m.from, l.Name)
		if len(l.Origins) > 0 {
			m.origins[l.Name] = l.Origins
		}
	}
	cfg, err := FromTree("merged configuration", m.Tree)
	if err != nil {
		return nil, err
	}
	m.Config = *cfg
	return m, nil
}

// mergeTree merges src into dst. With from set, it records which layer
// each replaced path came from (prefix is the path of dst).
func mergeTree(dst, src map[string]any, from map[string]string, layer string, prefix ...string) {
	pre := ""
	if len(prefix) > 0 {
		pre = prefix[0]
	}
	for _, k := range sortedKeys(src) {
		v := src[k]
		p := strictyaml.Join(pre, k)
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				mergeTree(dv, sv, from, layer, p)
				continue
			}
		}
		dst[k] = deepCopy(v)
		if from != nil {
			for q := range from {
				if q == p || strings.HasPrefix(q, p+".") || strings.HasPrefix(q, p+"[") {
					delete(from, q)
				}
			}
			recordLeaves(from, p, v, layer)
		}
	}
}

// recordLeaves attributes every leaf under p (values and lists; maps are
// walked) to layer, so that a later layer merging into a map leaves the
// rest of it attributed right.
func recordLeaves(from map[string]string, p string, v any, layer string) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		from[p] = layer
		return
	}
	for k, e := range m {
		recordLeaves(from, strictyaml.Join(p, k), e, layer)
	}
}

// MergeInto merges src into dst the way layers merge (maps merge, the rest
// replaces), copying what it takes.
func MergeInto(dst, src map[string]any) { mergeTree(dst, src, nil, "") }

// Source says which layer a key's value came from. A map filled by several
// layers names them all, e.g. "image, local". A value translated from
// RancherOS's rancher: names the key it came from too:
// "datasource, as rancher.network.dns.nameservers".
func (m *Merged) Source(key string) (string, error) {
	segs, err := ParseKey(key)
	if err != nil {
		return "", err
	}
	path := FormatKey(segs)
	if _, ok := Get(m.Tree, segs); !ok {
		return "", fmt.Errorf("%s: not set", path)
	}
	// A leaf, or inside one (a list element).
	for p := path; p != ""; p = parentKey(p) {
		if l, ok := m.from[p]; ok {
			if from, ok := originOf(m.origins[l], path); ok {
				return l + ", as " + from, nil
			}
			return l, nil
		}
	}
	// A map merged from several layers.
	seen := map[string]bool{}
	for p, l := range m.from {
		if strings.HasPrefix(p, path+".") || strings.HasPrefix(p, path+"[") {
			seen[l] = true
		}
	}
	var out []string
	for _, l := range []string{LayerImage, LayerDatasource, LayerLocal, LayerCmdline} {
		if seen[l] {
			out = append(out, l)
		}
	}
	return strings.Join(out, ", "), nil
}

func parentKey(p string) string {
	segs, err := ParseKey(p)
	if err != nil || len(segs) <= 1 {
		return ""
	}
	return FormatKey(segs[:len(segs)-1])
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
