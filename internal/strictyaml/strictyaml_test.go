package strictyaml

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

type size int64

func (s *size) UnmarshalYAML(n *yaml.Node) error {
	var v int64
	if _, err := fmt.Sscanf(n.Value, "%dMiB", &v); err != nil {
		return fmt.Errorf("expected a size like 64MiB, got %q", n.Value)
	}
	*s = size(v << 20)
	return nil
}

type inner struct {
	Cmdline string `yaml:"cmdline"`
	Debug   bool   `yaml:"debug"`
}

type doc struct {
	Name    string            `yaml:"name"`
	Count   int               `yaml:"count"`
	Ratio   float64           `yaml:"ratio"`
	Kernel  inner             `yaml:"kernel"`
	List    []string          `yaml:"list"`
	Sysctl  map[string]string `yaml:"sysctl"`
	Size    size              `yaml:"size"`
	Ptr     *inner            `yaml:"ptr"`
	Items   []inner           `yaml:"items"`
	ignored string
}

func TestDecodeGood(t *testing.T) {
	src := `
name: berth
count: 3
ratio: 1.5
kernel: {cmdline: "console=ttyS0", debug: true}
list: [a, b]
sysctl:
  net.ipv4.ip_forward: "1"
size: 64MiB
ptr: {cmdline: x}
items: [{cmdline: y}]
`
	var got doc
	if err := Decode([]byte(src), "t.yaml", &got); err != nil {
		t.Fatal(err)
	}
	want := doc{
		Name: "berth", Count: 3, Ratio: 1.5,
		Kernel: inner{Cmdline: "console=ttyS0", Debug: true},
		List:   []string{"a", "b"},
		Sysctl: map[string]string{"net.ipv4.ip_forward": "1"},
		Size:   64 << 20,
		Ptr:    &inner{Cmdline: "x"},
		Items:  []inner{{Cmdline: "y"}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(doc{})); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string
	}{
		{"unknown key suggests", "kernel:\n  cmdlne: x\n", []string{"t.yaml:2: kernel.cmdlne: unknown key (did you mean kernel.cmdline?)"}},
		{"unknown key lists", "zzzz: 1\n", []string{"t.yaml:1: zzzz: unknown key (known keys: count, items, kernel, list, name, ptr, ratio, size, sysctl)"}},
		{"wrong scalar type", "count: three\n", []string{`t.yaml:1: count: expected an integer, got the string "three"`}},
		{"string wants string", "name: 12\n", []string{"t.yaml:1: name: expected a string, got the integer 12"}},
		{"bool", "kernel: {debug: yes please}\n", []string{`t.yaml:1: kernel.debug: expected a boolean (true or false), got the string "yes please"`}},
		{"map wanted", "kernel: [1]\n", []string{"t.yaml:1: kernel: expected a map, got a list"}},
		{"list wanted", "list: a\n", []string{`t.yaml:1: list: expected a list, got the string "a"`}},
		{"list item", "items:\n- cmdline: a\n- bogus: 1\n", []string{"t.yaml:3: items[1].bogus: unknown key (known keys: cmdline, debug)"}},
		{"custom", "size: big\n", []string{`t.yaml:1: size: expected a size like 64MiB, got "big"`}},
		{"duplicate", "name: a\nname: b\n", []string{"t.yaml:2: name: duplicate key"}},
		{"dotted map key", "sysctl:\n  net.core.x: [1]\n", []string{`t.yaml:2: sysctl."net.core.x": expected a string, got a list`}},
		{"all at once", "name: 1\ncount: x\nnope: 2\n", []string{
			"t.yaml:1: name: expected a string, got the integer 1",
			`t.yaml:2: count: expected an integer, got the string "x"`,
			"t.yaml:3: nope: unknown key (known keys: count, items, kernel, list, name, ptr, ratio, size, sysctl)",
		}},
		{"duplicate map key", "sysctl:\n  a: x\n  a: y\n", []string{"t.yaml:3: sysctl.a: duplicate key"}},
		{"map key not a string", "sysctl:\n  [a]: x\n", []string{"t.yaml:2: sysctl: a key must be a string, got a list"}},
		{"struct key not a string", "{a: 1}: x\n", []string{"t.yaml:1: a key must be a string, got a map"}},
		{"bad yaml", "name: [\n", []string{"t.yaml:1: not valid YAML: did not find expected node content"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			err := Decode([]byte(tc.src), "t.yaml", &d)
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tc.want, errorLines(t, err)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestEmptyDocument(t *testing.T) {
	d := doc{Name: "keep"}
	if err := Decode([]byte("# only a comment\n"), "t.yaml", &d); err != nil {
		t.Fatal(err)
	}
	if d.Name != "keep" {
		t.Errorf("Name = %q", d.Name)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"network", "sysctl", "modules"}
	if got := Suggest("netwrok", known); got != " (did you mean network?)" {
		t.Errorf("got %q", got)
	}
	if got := Suggest("zzz", known); !strings.Contains(got, "known keys: modules, network, sysctl") {
		t.Errorf("got %q", got)
	}
}

func TestJoin(t *testing.T) {
	for _, tc := range [][3]string{
		{"", "a", "a"},
		{"a", "b", "a.b"},
		{"sysctl", "net.ipv4.ip_forward", `sysctl."net.ipv4.ip_forward"`},
	} {
		if got := Join(tc[0], tc[1]); got != tc[2] {
			t.Errorf("Join(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}

func TestDecoderIgnoreAndLines(t *testing.T) {
	type cfg struct {
		Name  string   `yaml:"name"`
		Items []inner  `yaml:"items"`
		Tags  []string `yaml:"tags"`
	}
	src := "name: x\npackages: [vim]\nitems:\n  - cmdline: a\n  - cmdline: b\ntags: [t]\n"
	dc := Decoder{Source: "user-data (nocloud)", Ignore: func(path, key string) string {
		if path == "" && key == "packages" {
			return "ignored: a container host installs no packages"
		}
		return ""
	}}
	var c cfg
	if err := dc.Decode([]byte(src), &c); err != nil {
		t.Fatal(err)
	}
	if len(dc.Warnings) != 1 || dc.Warnings[0].Error() != "user-data (nocloud):2: packages: ignored: a container host installs no packages" {
		t.Errorf("warnings = %v", dc.Warnings)
	}
	if dc.Lines["items[1].cmdline"] != 5 || dc.Lines["tags"] != 6 {
		t.Errorf("lines = %v", dc.Lines)
	}
	e := dc.Error("items[1].cmdline", "bad")
	if e.Error() != "user-data (nocloud):5: items[1].cmdline: bad" {
		t.Errorf("error = %v", e)
	}
	// A path never decoded takes the line of its nearest decoded parent.
	if got := dc.Error("items[1].cmdline.x", "bad").Line; got != 5 {
		t.Errorf("line of an undecoded child = %d", got)
	}
}

func TestParent(t *testing.T) {
	for in, want := range map[string]string{"a.b[2]": "a.b", "a.b": "a", "a": "", `sysctl."net.ipv4.x"`: "sysctl", "x[0].y": "x[0]"} {
		if got := parent(in); got != want {
			t.Errorf("parent(%q) = %q, want %q", in, got, want)
		}
	}
}

// DecodeNodeAt names fields below the path it is given, in errors,
// warnings and lines, and asks Ignore with that path.
func TestDecodeNodeAt(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte("items:\n  - cmdline: a\n    debug: maybe\n    color: red\n"), &root); err != nil {
		t.Fatal(err)
	}
	item := root.Content[0].Content[1].Content[0]
	var asked []string
	dc := Decoder{Source: "t.yaml", Ignore: func(path, key string) string {
		asked = append(asked, path+" "+key)
		return "not supported, ignored"
	}}
	var got inner
	err := dc.DecodeNodeAt(item, "items[0]", &got)
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || es[0].Error() != `t.yaml:3: items[0].debug: expected a boolean (true or false), got the string "maybe"` {
		t.Errorf("errors: %v", err)
	}
	if len(dc.Warnings) != 1 || dc.Warnings[0].Error() != "t.yaml:4: items[0].color: not supported, ignored" {
		t.Errorf("warnings: %v", dc.Warnings)
	}
	if diff := cmp.Diff([]string{"items[0] color"}, asked); diff != "" {
		t.Errorf("Ignore asked (-want +got):\n%s", diff)
	}
	if got.Cmdline != "a" || dc.Lines["items[0].cmdline"] != 2 {
		t.Errorf("decoded %+v, lines %v", got, dc.Lines)
	}
}

func TestScalar(t *testing.T) {
	var got struct {
		Opts map[string]Scalar `yaml:"opts"`
	}
	if err := Decode([]byte("opts: {a: 1, b: fast, c: true, d: 1.50}\n"), "t.yaml", &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]Scalar{"a": "1", "b": "fast", "c": "true", "d": "1.50"}, got.Opts); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	err := Decode([]byte("opts: {a: [1], b: {c: d}}\n"), "t.yaml", &got)
	want := "t.yaml:1: opts.a: expected a string or a number, got a list\nt.yaml:1: opts.b: expected a string or a number, got a map"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// errorLines are the problems of err, an Errors of kind ErrInvalid, each
// as it reads.
func errorLines(t *testing.T, err error) []string {
	t.Helper()
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error is not ErrInvalid: %v", err)
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want Errors", err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Error())
	}
	return out
}
