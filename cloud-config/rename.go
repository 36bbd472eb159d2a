package cloudconfig

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/berth-os/berth/internal/strictyaml"
)

// Schema is the version of the configuration's key names that this
// release reads and writes. A release that renames a key raises it by one
// and adds the rename to Renames; nothing else changes the schema.
//
// A host keeps its local layer (hostctl config set) in one file per
// schema (Store.LocalPath), so that every release reads the file written
// in its own names: an upgrade migrates the newest older file into a new
// one and leaves the old one as it was, and a rollback boots the older
// release with the file it wrote, which the migration did not touch.
const Schema = 2

// A Rename is a key that a schema renamed. Input in the old name (user-data
// written for an older release, the local layer of one) is read as the new
// name, with a warning.
type Rename struct {
	Schema   int    // the schema that renamed it
	From, To string // dotted keys, from the top of the document
	Why      string
}

// Renames are the renames of every schema, oldest first.
var Renames = []Rename{
	{Schema: 2, From: "berth.datasources", To: "berth.cloud_init.datasources",
		Why: "the name RancherOS gave it (rancher.cloud_init.datasources)"},
}

// RenamedTo is the key that key (a KEY as hostctl config takes it) is
// called now, and the rename, when a schema renamed it or a key above it.
func RenamedTo(key string) (string, *Rename) {
	for i := range Renames {
		r := &Renames[i]
		if key == r.From || strings.HasPrefix(key, r.From+".") || strings.HasPrefix(key, r.From+"[") {
			return r.To + key[len(r.From):], r
		}
	}
	return key, nil
}

// renamed rewrites, in place and before strict decoding, the keys of root
// that a schema renamed into their new names, each with a warning at its
// line; origins maps each new name to the old one, so that problems are
// reported at the key as written. With both names given, the new one is
// used and the old one left out, with a warning.
func renamed(source string, root *yaml.Node, renames []Rename) (ws strictyaml.Errors, origins map[string]string) {
	if root.Kind != yaml.MappingNode {
		return nil, nil
	}
	for _, r := range renames {
		from, to := strings.Split(r.From, "."), strings.Split(r.To, ".")
		parent := walkMapping(root, from[:len(from)-1], false)
		if parent == nil {
			continue
		}
		old := from[len(from)-1]
		var key, val *yaml.Node
		for i := 0; i+1 < len(parent.Content); i += 2 {
			if k := parent.Content[i]; k.Kind == yaml.ScalarNode && k.Value == old {
				key, val = k, parent.Content[i+1]
				parent.Content = append(parent.Content[:i:i], parent.Content[i+2:]...)
				break
			}
		}
		if key == nil {
			continue
		}
		dst := walkMapping(root, to[:len(to)-1], true)
		if dst == nil {
			ws = append(ws, &strictyaml.FieldError{Source: source, Line: key.Line, Path: r.From,
				Msg: fmt.Sprintf("renamed %s in config schema %d, but %s is not a mapping here: left out", r.To, r.Schema, strings.Join(to[:len(to)-1], "."))})
			continue
		}
		if valueOf(dst, to[len(to)-1]) != nil {
			ws = append(ws, &strictyaml.FieldError{Source: source, Line: key.Line, Path: r.From,
				Msg: fmt.Sprintf("ignored: renamed %s in config schema %d, which is given too, and is used", r.To, r.Schema)})
			continue
		}
		dst.Content = append(dst.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: to[len(to)-1], Line: key.Line, Column: key.Column}, val)
		if origins == nil {
			origins = map[string]string{}
		}
		origins[r.To] = r.From
		ws = append(ws, &strictyaml.FieldError{Source: source, Line: key.Line, Path: r.From,
			Msg: fmt.Sprintf("renamed %s in config schema %d (%s): read as that", r.To, r.Schema, r.Why)})
	}
	return ws, origins
}

// walkMapping follows keys down from mapping m: the mapping at their end,
// or nil when one is missing (made, with create) or is not a mapping.
func walkMapping(m *yaml.Node, keys []string, create bool) *yaml.Node {
	for _, k := range keys {
		next := valueOf(m, k)
		if next == nil {
			if !create {
				return nil
			}
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			m.Content = append(m.Content, scalar(k, m.Line), next)
		}
		if next.Kind != yaml.MappingNode {
			return nil
		}
		m = next
	}
	return m
}
