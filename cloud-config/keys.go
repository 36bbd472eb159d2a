package cloudconfig

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/berth-os/berth/internal/strictyaml"
)

// Seg is one element of a KEY: a map key, or a list index.
type Seg struct {
	Key   string
	Index int // -1 for a map key
}

// ParseKey reads the KEY syntax of hostctl config: dotted map keys, a key
// holding dots in double quotes, and list indexes in brackets:
//
//	berth.network.dns.nameservers
//	berth.sysctl."net.ipv4.ip_forward"
//	users[0].name
func ParseKey(s string) ([]Seg, error) {
	var segs []Seg
	i := 0
	expectKey := true
	for i < len(s) {
		switch {
		case s[i] == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("key %q: unclosed [", s)
			}
			n, err := strconv.Atoi(s[i+1 : i+j])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("key %q: [%s] is not a list index", s, s[i+1:i+j])
			}
			if len(segs) == 0 {
				return nil, fmt.Errorf("key %q: an index needs a key before it", s)
			}
			segs = append(segs, Seg{Index: n})
			i += j + 1
			expectKey = false
		case s[i] == '.':
			if expectKey {
				return nil, fmt.Errorf("key %q: empty element", s)
			}
			i++
			expectKey = true
		case s[i] == '"':
			if !expectKey {
				return nil, fmt.Errorf("key %q: a quoted element must follow a dot", s)
			}
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("key %q: unclosed quote", s)
			}
			k, err := strconv.Unquote(s[i : j+1])
			if err != nil || k == "" {
				return nil, fmt.Errorf("key %q: bad quoted element", s)
			}
			segs = append(segs, Seg{Key: k, Index: -1})
			i = j + 1
			expectKey = false
		default:
			if !expectKey {
				return nil, fmt.Errorf("key %q: expected . or [ after %q", s, FormatKey(segs))
			}
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' && s[j] != '"' {
				j++
			}
			segs = append(segs, Seg{Key: s[i:j], Index: -1})
			i = j
			expectKey = false
		}
	}
	if len(segs) == 0 || expectKey {
		return nil, fmt.Errorf("key %q: empty", s)
	}
	return joinMapKeys(reflect.TypeFor[Config](), segs), nil
}

// joinMapKeys lets a map key that holds dots go unquoted where the schema
// leaves one reading: berth.sysctl.net.ipv4.ip_forward is
// berth.sysctl."net.ipv4.ip_forward" (sysctl values are scalars), and
// berth.network.interfaces.eth0.100.mtu is interfaces."eth0.100".mtu. A
// shell strips the double quotes of an unquoted argument, so this is what
// hostctl config set berth.sysctl."vm.swappiness" 10 gets. At a map, the
// shortest run of plain elements after which the rest of the key fits the
// schema is the map key; a key the schema does not know is left as it is.
func joinMapKeys(t reflect.Type, segs []Seg) []Seg {
	out, ok := fitKey(t, segs)
	if !ok {
		return segs
	}
	return out
}

func fitKey(t reflect.Type, segs []Seg) ([]Seg, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if len(segs) == 0 {
		return nil, true
	}
	s := segs[0]
	switch t.Kind() {
	case reflect.Struct:
		if s.Index >= 0 {
			return nil, false
		}
		f, ok := fieldByYAML(t, s.Key)
		if !ok {
			return nil, false
		}
		rest, ok := fitKey(f.Type, segs[1:])
		return append([]Seg{s}, rest...), ok
	case reflect.Slice:
		if s.Index < 0 {
			return nil, false
		}
		rest, ok := fitKey(t.Elem(), segs[1:])
		return append([]Seg{s}, rest...), ok
	case reflect.Map:
		if s.Index >= 0 {
			return nil, false
		}
		key := s.Key
		for n := 1; n <= len(segs); n++ {
			if n > 1 {
				if segs[n-1].Index >= 0 {
					break
				}
				key += "." + segs[n-1].Key
			}
			if rest, ok := fitKey(t.Elem(), segs[n:]); ok {
				return append([]Seg{{Key: key, Index: -1}}, rest...), true
			}
		}
		return nil, false
	}
	// A scalar: nothing may follow.
	return nil, false
}

// FormatKey writes segments back in the KEY syntax, which is the field
// path errors use (strictyaml.Join).
func FormatKey(segs []Seg) string {
	var path string
	for _, s := range segs {
		if s.Index >= 0 {
			path += fmt.Sprintf("[%d]", s.Index)
			continue
		}
		path = strictyaml.Join(path, s.Key)
	}
	return path
}

// Get returns the value at a key.
func Get(tree map[string]any, segs []Seg) (any, bool) {
	var cur any = tree
	for _, s := range segs {
		switch c := cur.(type) {
		case map[string]any:
			if s.Index >= 0 {
				return nil, false
			}
			v, ok := c[s.Key]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			if s.Index < 0 || s.Index >= len(c) {
				return nil, false
			}
			cur = c[s.Index]
		default:
			return nil, false
		}
	}
	return cur, true
}

// Set puts value at a key, making maps on the way. A list element can be
// replaced but not added past the end.
func Set(tree map[string]any, segs []Seg, value any) error {
	if segs[0].Index >= 0 {
		return fmt.Errorf("%s: a key cannot start with an index", FormatKey(segs))
	}
	var cur any = tree
	for i, s := range segs {
		last := i == len(segs)-1
		switch c := cur.(type) {
		case map[string]any:
			if s.Index >= 0 {
				return fmt.Errorf("%s: %s is a map, not a list", FormatKey(segs), FormatKey(segs[:i]))
			}
			if last {
				c[s.Key] = value
				return nil
			}
			next, ok := c[s.Key]
			if !ok {
				if segs[i+1].Index >= 0 {
					return fmt.Errorf("%s: %s is not a list", FormatKey(segs), FormatKey(segs[:i+1]))
				}
				next = map[string]any{}
				c[s.Key] = next
			}
			cur = next
		case []any:
			if s.Index < 0 {
				return fmt.Errorf("%s: %s is a list, not a map", FormatKey(segs), FormatKey(segs[:i]))
			}
			if s.Index >= len(c) {
				return fmt.Errorf("%s: the list has %d entries", FormatKey(segs), len(c))
			}
			if last {
				c[s.Index] = value
				return nil
			}
			cur = c[s.Index]
		default:
			return fmt.Errorf("%s: %s holds a value, not a map or list", FormatKey(segs), FormatKey(segs[:i]))
		}
	}
	return nil
}

// Unset removes a key; it says whether it was there. Maps left empty are
// removed too.
func Unset(tree map[string]any, segs []Seg) bool {
	if len(segs) == 1 {
		if segs[0].Index >= 0 {
			return false
		}
		_, ok := tree[segs[0].Key]
		delete(tree, segs[0].Key)
		return ok
	}
	parent, ok := Get(tree, segs[:len(segs)-1])
	if !ok {
		return false
	}
	last := segs[len(segs)-1]
	switch p := parent.(type) {
	case map[string]any:
		if _, ok := p[last.Key]; !ok || last.Index >= 0 {
			return false
		}
		delete(p, last.Key)
		if len(p) == 0 {
			Unset(tree, segs[:len(segs)-1])
		}
		return true
	case []any:
		if last.Index < 0 || last.Index >= len(p) {
			return false
		}
		l := append(p[:last.Index:last.Index], p[last.Index+1:]...)
		Set(tree, segs[:len(segs)-1], l)
		return true
	}
	return false
}

// ParseValue reads a VALUE of hostctl config set as YAML: 8080 is a number,
// true a boolean, [a, b] a list, {k: v} a map, anything else a string.
func ParseValue(s string) (any, error) {
	var v any
	if err := strictyaml.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("value %q: not valid YAML: %v", s, err)
	}
	if v == nil && strings.TrimSpace(s) != "" && strings.TrimSpace(s) != "null" && strings.TrimSpace(s) != "~" {
		return s, nil
	}
	return v, nil
}
