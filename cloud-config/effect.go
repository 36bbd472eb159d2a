package cloudconfig

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/berth-os/berth/internal/strictyaml"
)

// Effect is what changing a key takes.
type Effect struct {
	Kind    string // live, restart, reboot, stored or services
	Service string // for restart
}

func (e Effect) String() string {
	switch e.Kind {
	case "live":
		return "applies live"
	case "restart":
		return "restarts service " + e.Service
	case "reboot":
		return "needs a reboot"
	case "stored":
		return "stored, not applied yet"
	case "services":
		return "starts or stops services"
	}
	return e.Kind
}

func parseEffect(tag string) Effect {
	if s, ok := strings.CutPrefix(tag, "restart="); ok {
		return Effect{Kind: "restart", Service: s}
	}
	return Effect{Kind: tag}
}

// EffectOf returns the effect a change of key has, as the schema declares
// it, or an error naming the key when the schema has no such key.
func EffectOf(key string) (Effect, error) {
	segs, err := ParseKey(key)
	if err != nil {
		return Effect{}, err
	}
	t := reflect.TypeFor[Config]()
	eff := Effect{Kind: "reboot"}
	for i, s := range segs {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			if s.Index >= 0 {
				return Effect{}, fmt.Errorf("%s: %s is not a list", FormatKey(segs), FormatKey(segs[:i]))
			}
			f, ok := fieldByYAML(t, s.Key)
			if !ok && i == 0 && s.Key == "rancher" {
				return Effect{}, fmt.Errorf("%s: %s", key, RancherHint(key))
			}
			if to, r := RenamedTo(key); !ok && r != nil {
				return Effect{}, fmt.Errorf("%s: renamed %s in config schema %d (%s); use that", key, to, r.Schema, r.Why)
			}
			if !ok {
				return Effect{}, fmt.Errorf("%s: unknown key%s", FormatKey(segs[:i+1]), strictyaml.SuggestPath(FormatKey(segs[:i]), s.Key, strictyaml.Fields(t)))
			}
			if tag := f.Tag.Get("effect"); tag != "" {
				eff = parseEffect(tag)
			}
			t = f.Type
		case reflect.Map:
			if s.Index >= 0 {
				return Effect{}, fmt.Errorf("%s: %s is a map", FormatKey(segs), FormatKey(segs[:i]))
			}
			t = t.Elem()
		case reflect.Slice:
			if s.Index < 0 {
				return Effect{}, fmt.Errorf("%s: %s is a list (use [N])", FormatKey(segs), FormatKey(segs[:i]))
			}
			t = t.Elem()
		default:
			return Effect{}, fmt.Errorf("%s: %s holds a value", FormatKey(segs), FormatKey(segs[:i]))
		}
	}
	return eff, nil
}

func fieldByYAML(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		n, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if n == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
