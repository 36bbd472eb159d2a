package services

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/berth-os/berth/internal/strictyaml"
	"github.com/docker/go-units"
	"go.yaml.in/yaml/v3"
)

// The value types of this file decode themselves from YAML where Compose
// allows more than one shape (a string or a list, a list or a map). An
// error they return is reported at their field path.

// Command is an argv: a list of strings, or one string split into words
// as a shell would (quotes and backslashes, no expansion), as Compose's
// command and entrypoint.
type Command []string

// Expected says what a Command looks like, for error messages.
func (Command) Expected() string { return "a list of strings or a string" }

func (c *Command) UnmarshalYAML(n *yaml.Node) error {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str":
		w, err := splitWords(n.Value)
		if err != nil {
			return err
		}
		// An empty string is an empty argv, set: entrypoint: "" drops
		// the image's.
		*c = append(Command{}, w...)
		return nil
	case n.Kind == yaml.SequenceNode:
		l, err := stringList(n)
		if err != nil {
			return err
		}
		*c = l
		return nil
	}
	return fmt.Errorf("expected %s, got %s", c.Expected(), strictyaml.Describe(n))
}

// splitWords splits s into words as sh does, without expansions.
func splitWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				w.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inWord = true
		case ch == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			inWord = true
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// stringList reads a sequence of strings.
func stringList(n *yaml.Node) ([]string, error) {
	l := make([]string, 0, len(n.Content))
	for i, it := range n.Content {
		if it.Kind != yaml.ScalarNode || it.Tag != "!!str" {
			return nil, fmt.Errorf("[%d]: expected a string, got %s", i, strictyaml.Describe(it))
		}
		l = append(l, it.Value)
	}
	return l, nil
}

// Strings is one string or a list of them, as Compose's tmpfs.
type Strings []string

// Expected says what Strings look like, for error messages.
func (Strings) Expected() string { return "a string or a list of strings" }

func (s *Strings) UnmarshalYAML(n *yaml.Node) error {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str":
		*s = Strings{n.Value}
		return nil
	case n.Kind == yaml.SequenceNode:
		l, err := stringList(n)
		*s = l
		return err
	}
	return fmt.Errorf("expected %s, got %s", s.Expected(), strictyaml.Describe(n))
}

// KeyValues is Compose's environment or labels: a list of "KEY=VALUE" or
// a map of KEY: VALUE (a string, number or boolean), kept in the order
// written as "KEY=VALUE".
type KeyValues []string

// Expected says what KeyValues look like, for error messages.
func (KeyValues) Expected() string { return "a list of KEY=VALUE or a map of KEY: VALUE" }

func (kv *KeyValues) UnmarshalYAML(n *yaml.Node) error {
	seen := map[string]bool{}
	add := func(k, v string) error {
		if k == "" || strings.ContainsAny(k, "= \t\n") {
			return fmt.Errorf("expected a KEY without spaces or '=', got %q", k)
		}
		if seen[k] {
			return fmt.Errorf("%s is given twice", k)
		}
		seen[k] = true
		*kv = append(*kv, k+"="+v)
		return nil
	}
	*kv = KeyValues{}
	switch n.Kind {
	case yaml.SequenceNode:
		l, err := stringList(n)
		if err != nil {
			return err
		}
		for i, s := range l {
			k, v, ok := strings.Cut(s, "=")
			if !ok {
				return fmt.Errorf("[%d]: expected KEY=VALUE, got %q", i, s)
			}
			if err := add(k, v); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				return fmt.Errorf("%s: expected a string, number or boolean, got %s", k.Value, describeValue(v))
			}
			if err := add(k.Value, v.Value); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("expected %s, got %s", kv.Expected(), strictyaml.Describe(n))
}

func describeValue(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return "nothing"
	}
	return strictyaml.Describe(n)
}

// Map returns the pairs as a map.
func (kv KeyValues) Map() map[string]string {
	if len(kv) == 0 {
		return nil
	}
	m := make(map[string]string, len(kv))
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	return m
}

// Conditions of depends_on, as Compose names them.
const (
	ServiceStarted               = "service_started"
	ServiceHealthy               = "service_healthy"
	ServiceCompletedSuccessfully = "service_completed_successfully"
)

// Dependency is one entry of depends_on: the service waits, before it
// starts, until Name is started (ready, for a notify service), healthy or
// has exited 0. A dependency that is not Required may be absent from the
// set.
type Dependency struct {
	Name      string `json:"name"`
	Condition string `json:"condition"`
	Required  bool   `json:"required"`
}

// DependsOn is Compose's depends_on: a list of names (each
// service_started and required) or a map of name to {condition, required}.
type DependsOn []Dependency

// Expected says what a DependsOn looks like, for error messages.
func (DependsOn) Expected() string {
	return "a list of service names or a map of name to {condition, required}"
}

func (d *DependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = DependsOn{}
	seen := map[string]bool{}
	add := func(dep Dependency) error {
		if seen[dep.Name] {
			return fmt.Errorf("%s is given twice", dep.Name)
		}
		seen[dep.Name] = true
		*d = append(*d, dep)
		return nil
	}
	switch n.Kind {
	case yaml.SequenceNode:
		l, err := stringList(n)
		if err != nil {
			return err
		}
		for _, name := range l {
			if err := add(Dependency{Name: name, Condition: ServiceStarted, Required: true}); err != nil {
				return err
			}
		}
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			dep := Dependency{Name: k.Value, Condition: ServiceStarted, Required: true}
			if v.Kind != yaml.MappingNode {
				return fmt.Errorf("%s: expected a map of condition and required, got %s", k.Value, strictyaml.Describe(v))
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				key, val := v.Content[j], v.Content[j+1]
				switch key.Value {
				case "condition":
					switch val.Value {
					case ServiceStarted, ServiceHealthy, ServiceCompletedSuccessfully:
						dep.Condition = val.Value
					default:
						return fmt.Errorf("%s.condition: expected service_started, service_healthy or service_completed_successfully, got %s", k.Value, strictyaml.Describe(val))
					}
				case "required":
					if val.Tag != "!!bool" {
						return fmt.Errorf("%s.required: expected a boolean (true or false), got %s", k.Value, strictyaml.Describe(val))
					}
					dep.Required, _ = strconv.ParseBool(strings.ToLower(val.Value))
				default:
					return fmt.Errorf("%s.%s: unknown key (expected condition or required)", k.Value, key.Value)
				}
			}
			if err := add(dep); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("expected %s, got %s", d.Expected(), strictyaml.Describe(n))
}

// Bytes is a size in bytes, written as Compose's mem_limit: an integer
// (bytes) or a string such as 128M, 1g or 512k.
type Bytes int64

// Expected says what Bytes look like, for error messages.
func (Bytes) Expected() string { return "a size such as 128M" }

func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		v, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil || v <= 0 {
			return fmt.Errorf("expected %s or a positive number of bytes, got %s", b.Expected(), n.Value)
		}
		*b = Bytes(v)
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		v, err := units.RAMInBytes(n.Value)
		if err == nil && v > 0 && strings.ContainsAny(n.Value, "bBkKmMgGtT") {
			*b = Bytes(v)
			return nil
		}
	}
	return fmt.Errorf("expected %s, got %s", b.Expected(), strictyaml.Describe(n))
}

// CPUs is Compose's cpus: a number of CPUs, possibly fractional (0.5),
// written as a number or a string.
type CPUs float64

// Expected says what CPUs look like, for error messages.
func (CPUs) Expected() string { return "a number of CPUs such as 0.5" }

func (c *CPUs) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" && n.Tag != "!!bool" {
		if v, err := strconv.ParseFloat(n.Value, 64); err == nil && v > 0 && v <= 1024 {
			*c = CPUs(v)
			return nil
		}
	}
	return fmt.Errorf("expected %s, got %s", c.Expected(), strictyaml.Describe(n))
}

// Duration is a Compose duration: a Go duration such as 30s, 1m30s or
// 500ms.
type Duration time.Duration

// Expected says what a Duration looks like, for error messages.
func (Duration) Expected() string { return "a duration such as 30s or 1m30s" }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		if v, err := time.ParseDuration(n.Value); err == nil && v >= 0 {
			*d = Duration(v)
			return nil
		}
	}
	return fmt.Errorf("expected %s, got %s", d.Expected(), strictyaml.Describe(n))
}

// HealthTest is a healthcheck's test: [CMD, arg...] runs a program,
// [CMD-SHELL, "command"] (or a plain string) runs /bin/sh -c command,
// [NONE] turns the check off.
type HealthTest []string

// Expected says what a HealthTest looks like, for error messages.
func (HealthTest) Expected() string { return "[CMD, ...], [CMD-SHELL, command], [NONE] or a string" }

func (h *HealthTest) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		*h = HealthTest{"CMD-SHELL", n.Value}
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("expected %s, got %s", h.Expected(), strictyaml.Describe(n))
	}
	l, err := stringList(n)
	if err != nil {
		return err
	}
	switch {
	case len(l) == 1 && l[0] == "NONE",
		len(l) >= 2 && l[0] == "CMD",
		len(l) == 2 && l[0] == "CMD-SHELL":
		*h = l
		return nil
	}
	return fmt.Errorf("expected %s, got %q", h.Expected(), l)
}

// Volume is one entry of volumes: a bind mount of a host path, in
// Compose's short syntax "SRC:DST[:OPTS]" or its long form {type: bind,
// source, target, read_only, bind: {propagation}}.
type Volume struct {
	Bind
	// Text is the entry as written (the short syntax), for messages.
	Text string
}

// Expected says what a Volume looks like, for error messages.
func (Volume) Expected() string { return "SRC:DST[:OPTS] or a map {type: bind, source, target}" }

func (v *Volume) UnmarshalYAML(n *yaml.Node) error {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str":
		b, err := ParseBind(n.Value)
		if err != nil {
			return err
		}
		*v = Volume{Bind: b, Text: n.Value}
		return nil
	case n.Kind == yaml.MappingNode:
		return v.long(n)
	}
	return fmt.Errorf("expected %s, got %s", v.Expected(), strictyaml.Describe(n))
}

// long reads the long form.
func (v *Volume) long(n *yaml.Node) error {
	var b Bind
	typ := ""
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		str := func() (string, error) {
			if val.Kind != yaml.ScalarNode || val.Tag != "!!str" {
				return "", fmt.Errorf("%s: expected a string, got %s", k.Value, strictyaml.Describe(val))
			}
			return val.Value, nil
		}
		var err error
		switch k.Value {
		case "type":
			typ, err = str()
		case "source":
			b.Source, err = str()
		case "target":
			b.Target, err = str()
		case "read_only":
			if val.Tag != "!!bool" {
				return fmt.Errorf("read_only: expected a boolean (true or false), got %s", strictyaml.Describe(val))
			}
			b.ReadOnly, _ = strconv.ParseBool(strings.ToLower(val.Value))
		case "bind":
			if val.Kind != yaml.MappingNode {
				return fmt.Errorf("bind: expected a map {propagation}, got %s", strictyaml.Describe(val))
			}
			for j := 0; j+1 < len(val.Content); j += 2 {
				bk, bv := val.Content[j], val.Content[j+1]
				if bk.Value != "propagation" {
					return fmt.Errorf("bind.%s: unknown key (expected propagation)", bk.Value)
				}
				switch bv.Value {
				case "rslave":
					b.Recursive, b.Slave = true, true
				case "rshared":
					b.Recursive, b.Shared = true, true
				case "rprivate":
					b.Recursive = true
				case "private":
				default:
					return fmt.Errorf("bind.propagation: expected private, rprivate, rslave or rshared, got %s", strictyaml.Describe(bv))
				}
			}
		default:
			return fmt.Errorf("%s: unknown key (expected type, source, target, read_only or bind)", k.Value)
		}
		if err != nil {
			return err
		}
	}
	if typ != "bind" {
		return fmt.Errorf("type: expected bind (Berth has no named volumes), got %q", typ)
	}
	if !strings.HasPrefix(b.Source, "/") || !strings.HasPrefix(b.Target, "/") {
		return fmt.Errorf("expected an absolute source and target, got %q and %q", b.Source, b.Target)
	}
	*v = Volume{Bind: b, Text: b.Source + ":" + b.Target}
	return nil
}
