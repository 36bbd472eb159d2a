package cloudconfig

import (
	"errors"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/berth-os/berth/internal/strictyaml"
	"go.yaml.in/yaml/v3"
)

// ErrInvalid is the kind of every configuration error.
var ErrInvalid = strictyaml.ErrInvalid

// Document is parsed user-data: its cloud-config parts merged in order,
// and its scripts.
type Document struct {
	Source   string         // e.g. "user-data (nocloud)"
	Config   Config         // the typed configuration
	Tree     map[string]any // the same, as a tree, for merging layers
	Scripts  []Part
	Warnings strictyaml.Errors
	// Origins maps each key translated from RancherOS's rancher: to the
	// rancher key it came from (see rancher.go), for hostctl config get
	// --source.
	Origins map[string]string
}

// Parse reads user-data from source (a name for messages, such as
// "user-data (nocloud)"). It reports every problem at once: decoding and
// validation errors as strictyaml.Errors, with each field's path and line.
func Parse(source string, data []byte) (*Document, error) {
	parts, err := SplitUserData(data)
	if err != nil {
		return nil, strictyaml.Errors{{Source: source, Msg: err.Error()}}
	}
	doc := &Document{Source: source, Tree: map[string]any{}}
	var errs strictyaml.Errors
	multi := len(parts) > 1
	for _, p := range parts {
		src := source
		if multi {
			src = source + " " + p.Name
		}
		if p.Kind == KindScript {
			doc.Scripts = append(doc.Scripts, p)
			continue
		}
		if p.Kind == KindIgnored {
			doc.Warnings = append(doc.Warnings, &strictyaml.FieldError{Source: source + " " + p.Name, Msg: string(p.Data)})
			continue
		}
		cfg, tree, origins, warnings, err := decodePart(src, p.Data)
		doc.Warnings = append(doc.Warnings, warnings...)
		if err != nil {
			var es strictyaml.Errors
			if errors.As(err, &es) {
				errs = append(errs, es...)
			} else {
				errs = append(errs, &strictyaml.FieldError{Source: src, Msg: err.Error()})
			}
			continue
		}
		_ = cfg
		mergeTree(doc.Tree, tree, nil, "")
		doc.Origins = mergeOrigins(doc.Origins, tree, origins)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	// The merged tree is valid part by part; decode it once more for the
	// typed view of the whole document.
	cfg, err := FromTree(source, doc.Tree)
	if err != nil {
		return nil, err
	}
	doc.Config = *cfg
	return doc, nil
}

// decodePart strictly decodes and validates one #cloud-config document.
// RancherOS's rancher: is translated first (fromRancher); problems of the
// translated keys are reported at the rancher key they came from.
func decodePart(source string, data []byte) (*Config, map[string]any, map[string]string, strictyaml.Errors, error) {
	dc := strictyaml.Decoder{Source: source, Ignore: ignore, Known: knownKeys}
	tree := map[string]any{}
	doc, err := strictyaml.Parse(data)
	if err != nil {
		return nil, nil, nil, nil, strictyaml.ParseError(source, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return &Config{}, tree, nil, nil, nil
	}
	root := doc.Content[0]
	// RancherOS's keys, then cloud-init's forms: their warnings name what
	// they have already left out of root.
	early, rancherErrs, origins := fromRancher(source, root)
	renames, renamedFrom := renamed(source, root, Renames)
	early = append(early, renames...)
	for to, from := range renamedFrom {
		if origins == nil {
			origins = map[string]string{}
		}
		origins[to] = from
	}
	fileWarnings, dropFiles := rancherWriteFiles(source, root)
	early = append(early, fileWarnings...)
	early = append(early, normalize(source, root)...)
	var cfg Config
	decErr := dc.DecodeNode(root, &cfg)
	warnings := append(early, dc.Warnings...)
	sort.SliceStable(warnings, func(i, j int) bool { return warnings[i].Line < warnings[j].Line })
	// Validate what did decode too, so every problem shows at once; a field
	// that failed to decode is not reported again as invalid.
	err = joinFieldErrors(decErr, Validate(&cfg, &dc))
	if len(rancherErrs) > 0 {
		var es strictyaml.Errors
		errors.As(err, &es)
		err = append(rancherErrs, es...).Err()
	}
	if err != nil {
		var es strictyaml.Errors
		errors.As(err, &es)
		atOrigin(es, origins)
		atOrigin(warnings, origins)
		return nil, nil, nil, warnings, err
	}
	if err := root.Decode(&tree); err != nil {
		return nil, nil, nil, warnings, err
	}
	if tree == nil {
		tree = map[string]any{}
	}
	for _, w := range dc.Warnings {
		if segs, err := ParseKey(w.Path); err == nil && w.Path != "" {
			Unset(tree, segs)
		}
	}
	if fw := dropFlagOnly(tree, &dc); len(fw) > 0 {
		warnings = append(warnings, fw...)
		sort.SliceStable(warnings, func(i, j int) bool { return warnings[i].Line < warnings[j].Line })
	}
	dropEntries(tree, "write_files", dropFiles)
	atOrigin(warnings, origins)
	return &cfg, tree, origins, warnings, nil
}

// flagOnly are keys that cloud-config may hold, and that are decoded and
// validated there, but that only the kernel command line or QEMU's fw_cfg
// (flags of the same name) can set: in user-data or the local layer they
// are warnings, and left out of the tree, so that they change nothing.
var flagOnly = map[string]string{
	// A datasource is untrusted input: no user-data may open a root
	// console without a password.
	"berth.autologin": "console autologin comes from the kernel command line or QEMU's fw_cfg only (berth.autologin), never from cloud-config",
}

// FlagOnly says why key (a KEY as hostctl config takes it) is honoured
// only as a kernel command line or fw_cfg flag; ok is false for any other
// key.
func FlagOnly(key string) (why string, ok bool) {
	segs, err := ParseKey(key)
	if err != nil {
		return "", false
	}
	why, ok = flagOnly[FormatKey(segs)]
	return why, ok
}

// dropFlagOnly removes the flag-only keys from a decoded tree and returns
// a warning for each, at its line.
func dropFlagOnly(tree map[string]any, dc *strictyaml.Decoder) strictyaml.Errors {
	var ws strictyaml.Errors
	for _, key := range slices.Sorted(maps.Keys(flagOnly)) {
		segs, err := ParseKey(key)
		if err != nil {
			continue
		}
		if Unset(tree, segs) {
			ws = append(ws, dc.Error(key, "ignored: %s", flagOnly[key]))
		}
	}
	return ws
}

// FromTree decodes and validates a tree (a merged configuration).
func FromTree(source string, tree map[string]any) (*Config, error) {
	// Made into a node directly, not through text: yaml.v3 writes some
	// strings (a blank first line, then indented lines) as block scalars
	// it cannot read back, and Node.Encode goes through that text.
	n, err := treeNode(tree)
	if err != nil {
		return nil, err
	}
	dc := strictyaml.Decoder{Source: source, Ignore: ignore, Known: knownKeys}
	var cfg Config
	if err := dc.DecodeNode(n, &cfg); err != nil {
		return nil, err
	}
	if err := Validate(&cfg, &dc); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// treeNode is the YAML node of a tree of maps, lists and scalars, which
// yaml.v3 writes as text it reads back.
func treeNode(v any) (*yaml.Node, error) {
	switch x := v.(type) {
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			c, err := treeNode(x[k])
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, c)
		}
		return n, nil
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range x {
			c, err := treeNode(e)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	case string:
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: x}
		if strings.Contains(x, "\n") && (x[0] == '\n' || x[0] == ' ' || x[0] == '\t') {
			// yaml.v3 writes these as a block scalar with an indentation
			// indicator, wrongly when nested: it cannot read them back.
			n.Style = yaml.DoubleQuotedStyle
		}
		return n, nil
	}
	// Numbers, booleans, null and anything else: yaml.v3 writes one
	// scalar, which it reads back.
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	return &n, nil
}

// Keys lists the top-level keys a document sets, sorted.
func (d *Document) Keys() []string {
	var out []string
	for k := range d.Tree {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// joinFieldErrors lists decoding errors, then validation errors of fields
// (and their children) that decoded.
func joinFieldErrors(decErr, valErr error) error {
	var dec, val strictyaml.Errors
	errors.As(decErr, &dec)
	errors.As(valErr, &val)
	out := append(strictyaml.Errors(nil), dec...)
	for _, v := range val {
		dup := false
		for _, d := range dec {
			if v.Path == d.Path || strings.HasPrefix(v.Path, d.Path+".") || strings.HasPrefix(v.Path, d.Path+"[") {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out.Err()
}
