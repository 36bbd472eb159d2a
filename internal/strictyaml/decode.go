package strictyaml

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Unmarshaler is implemented by types that decode themselves from a node.
// An error it returns is reported at the node's path and line.
type Unmarshaler interface {
	UnmarshalYAML(n *yaml.Node) error
}

// Decode decodes the YAML document in data into v, a non-nil pointer.
// source names the document in errors. An empty document leaves v as it is.
func Decode(data []byte, source string, v any) error {
	d := Decoder{Source: source}
	return d.Decode(data, v)
}

// DecodeNode decodes one node (not a document node) into v.
func DecodeNode(n *yaml.Node, source string, v any) error {
	d := Decoder{Source: source}
	return d.DecodeNode(n, v)
}

// Decoder decodes with options and keeps what it learns about the document.
type Decoder struct {
	// Source names the document in errors, e.g. "user-data (nocloud)".
	Source string
	// Ignore, when set, is asked about each unknown key. A non-empty reason
	// makes the key a warning (the key is skipped) instead of an error.
	Ignore func(path, key string) (reason string)
	// Known, when set, adds names to the "did you mean" of an unknown key
	// at path: keys that are known, though not fields of the type (such
	// as the ones Ignore warns about).
	Known func(path string) []string
	// Warnings collects the ignored keys.
	Warnings Errors
	// Lines maps each decoded field path to its line, for errors found
	// after decoding (validation).
	Lines map[string]int
}

// Decode decodes a document; see the package function.
func (dc *Decoder) Decode(data []byte, v any) error {
	doc, err := Parse(data)
	if err != nil {
		return ParseError(dc.Source, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil
	}
	return dc.DecodeNode(doc.Content[0], v)
}

// ParseError is Parse's error as Decode reports it: invalid YAML with its
// line, or a document too big once its aliases are expanded.
func ParseError(source string, err error) Errors {
	if errors.Is(err, ErrTooManyNodes) {
		return Errors{{Source: source, Msg: "not accepted: " + err.Error()}}
	}
	return Errors{{Source: source, Line: yamlErrLine(err), Msg: "not valid YAML: " + yamlErrMsg(err)}}
}

// DecodeNode decodes one node (not a document node) into v.
func (dc *Decoder) DecodeNode(n *yaml.Node, v any) error {
	return dc.DecodeNodeAt(n, "", v)
}

// DecodeNodeAt decodes one node of a document, found at field path, into
// v: errors, warnings and lines name the fields below path. It lets a
// caller decode parts of a document into types it picks as it goes, such as
// the entries of a list whose type field says what they are.
func (dc *Decoder) DecodeNodeAt(n *yaml.Node, path string, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("strictyaml: Decode needs a non-nil pointer")
	}
	if dc.Lines == nil {
		dc.Lines = map[string]int{}
	}
	d := &decoder{source: dc.Source, opt: dc}
	d.decode(n, rv.Elem(), path)
	return d.errs.Err()
}

// Error makes a FieldError for path, with the line the decoder saw it on.
func (dc *Decoder) Error(path, format string, args ...any) *FieldError {
	line := 0
	for p := path; p != "" && line == 0; p = parent(p) {
		line = dc.Lines[p]
	}
	return &FieldError{Source: dc.Source, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
}

type decoder struct {
	source string
	opt    *Decoder
	errs   Errors
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &FieldError{Source: d.source, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

var unmarshalerType = reflect.TypeFor[Unmarshaler]()

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if path != "" && d.opt != nil {
		d.opt.Lines[path] = n.Line
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if isNull(n) {
			return
		}
		if err := v.Addr().Interface().(Unmarshaler).UnmarshalYAML(n); err != nil {
			d.fail(n, path, "%v", err)
		}
		return
	}
	if isNull(n) {
		return // an empty value leaves the zero value
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(n, path, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	default:
		d.decodeScalar(n, v, path)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// Describe says what a node is, for "expected X, got Y" messages: a map,
// a list, the string "x", the integer 3...
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!int":
			return "the integer " + n.Value
		case "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		}
		return "the value " + n.Value
	}
	return "something else"
}

// TypeName says what a Go type expects, in words.
func TypeName(t reflect.Type) string {
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		if d, ok := reflect.Zero(t).Interface().(interface{ Expected() string }); ok {
			return d.Expected()
		}
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a map"
	case reflect.Pointer:
		return TypeName(t.Elem())
	}
	return t.String()
}

func (d *decoder) expect(n *yaml.Node, t reflect.Type, path string) {
	d.fail(n, path, "expected %s, got %s", TypeName(t), Describe(n))
}

type fieldInfo struct {
	name  string
	index []int
}

// Fields lists the YAML keys of a struct type, in declaration order.
func Fields(t reflect.Type) []string {
	fs := structFields(t)
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out
}

func structFields(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			for _, sub := range structFields(f.Type) {
				out = append(out, fieldInfo{sub.name, append([]int{i}, sub.index...)})
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, fieldInfo{name, []int{i}})
	}
	return out
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	fields := structFields(v.Type())
	byName := make(map[string]fieldInfo, len(fields))
	names := make([]string, len(fields))
	for i, f := range fields {
		byName[f.name] = f
		names[i] = f.name
	}
	d.mapping(n, v.Type(), path, func(k, val *yaml.Node, p string) {
		f, ok := byName[k.Value]
		if !ok {
			if d.opt != nil && d.opt.Ignore != nil {
				if reason := d.opt.Ignore(path, k.Value); reason != "" {
					d.opt.Warnings = append(d.opt.Warnings, &FieldError{Source: d.source, Line: k.Line, Path: p, Msg: reason})
					return
				}
			}
			hint := SuggestPath(path, k.Value, names)
			if d.opt != nil && d.opt.Known != nil && !strings.Contains(hint, "did you mean") {
				// A close known key is suggested; otherwise the type's own
				// fields are listed.
				if h := SuggestPath(path, k.Value, d.opt.Known(path)); strings.Contains(h, "did you mean") {
					hint = h
				}
			}
			d.fail(k, p, "unknown key%s", hint)
			return
		}
		d.decode(val, v.FieldByIndex(f.index), p)
	})
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if v.Type().Key().Kind() != reflect.String {
		panic("strictyaml: map keys must be strings")
	}
	if n.Kind == yaml.MappingNode && v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	d.mapping(n, v.Type(), path, func(k, val *yaml.Node, p string) {
		kv := reflect.New(v.Type().Key()).Elem()
		kv.SetString(k.Value)
		ev := reflect.New(v.Type().Elem()).Elem()
		before := len(d.errs)
		d.decode(val, ev, p)
		if len(d.errs) == before {
			v.SetMapIndex(kv, ev)
		}
	})
}

// mapping calls f with each key of the mapping node n, its value and its
// field path, in document order. A node that is not a mapping is an error
// (t is what was expected), and so are keys that are not strings or are
// given twice: f does not see them.
func (d *decoder) mapping(n *yaml.Node, t reflect.Type, path string, f func(k, val *yaml.Node, p string)) {
	if n.Kind != yaml.MappingNode {
		d.expect(n, t, path)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "a key must be a string, got %s", Describe(k))
			continue
		}
		p := Join(path, k.Value)
		if seen[k.Value] {
			d.fail(k, p, "duplicate key")
			continue
		}
		seen[k.Value] = true
		f(k, val, p)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.expect(n, v.Type(), path)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.expect(n, v.Type(), path)
		return
	}
	switch v.Kind() {
	case reflect.String:
		if n.Tag != "!!str" {
			d.expect(n, v.Type(), path)
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		if n.Tag != "!!bool" {
			d.expect(n, v.Type(), path)
			return
		}
		b, _ := strconv.ParseBool(strings.ToLower(n.Value))
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.Tag != "!!int" {
			d.expect(n, v.Type(), path)
			return
		}
		var i int64
		if err := n.Decode(&i); err != nil || v.OverflowInt(i) {
			d.fail(n, path, "%s is out of range for %s", n.Value, TypeName(v.Type()))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.Tag != "!!int" {
			d.expect(n, v.Type(), path)
			return
		}
		var i uint64
		if err := n.Decode(&i); err != nil || v.OverflowUint(i) {
			d.fail(n, path, "%s is out of range for %s", n.Value, TypeName(v.Type()))
			return
		}
		v.SetUint(i)
	case reflect.Float32, reflect.Float64:
		if n.Tag != "!!int" && n.Tag != "!!float" {
			d.expect(n, v.Type(), path)
			return
		}
		var f float64
		if err := n.Decode(&f); err != nil || math.IsNaN(f) {
			d.expect(n, v.Type(), path)
			return
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("strictyaml: unsupported type %s", v.Type()))
	}
}
