package strictyaml

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeJSON(t *testing.T) {
	src := "{\n\t\"name\": \"berth\",\n\t\"count\": 3,\n\t\"ratio\": 1.5,\n\t\"kernel\": {\"cmdline\": \"a\\/b \\u00e9\", \"debug\": true},\n\t\"list\": [\"a\", \"12\"],\n\t\"sysctl\": {\"net.ipv4.ip_forward\": \"1\"},\n\t\"ptr\": null\n}\n"
	var got doc
	dc := Decoder{Source: "t.json"}
	if err := dc.DecodeJSON([]byte(src), &got); err != nil {
		t.Fatal(err)
	}
	want := doc{
		Name: "berth", Count: 3, Ratio: 1.5,
		Kernel: inner{Cmdline: "a/b é", Debug: true},
		List:   []string{"a", "12"},
		Sysctl: map[string]string{"net.ipv4.ip_forward": "1"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(doc{})); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if dc.Lines["kernel.debug"] != 5 || dc.Lines["list[1]"] != 6 {
		t.Errorf("lines = %v", dc.Lines)
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string
	}{
		{"syntax", `{"kernel": {"cmdline": }}`, []string{"t.json:1: not valid JSON at column 24: invalid character '}' looking for beginning of value"}},
		{"syntax on a later line", "{\n  \"name\": \"a\",\n  \"count\" 3\n}", []string{"t.json:3: not valid JSON at column 11: invalid character '3' after object key"}},
		{"trailing", `{} {}`, []string{"t.json:1: not valid JSON at column 4: more after the value"}},
		{"ends early", `{"list": [`, []string{"t.json: not valid JSON: the document ends early: unexpected EOF"}},
		{"not JSON", "name: x\n", []string{"t.json:1: not valid JSON at column 2: invalid character 'a' in literal null (expecting 'u')"}},
		{"wrong types", "{\n\"count\": 1.5,\n\"name\": 3,\n\"list\": \"a\",\n\"kernel\": {\"debug\": \"yes\"}\n}", []string{
			"t.json:2: count: expected an integer, got the number 1.5",
			"t.json:3: name: expected a string, got the integer 3",
			`t.json:4: list: expected a list, got the string "a"`,
			`t.json:5: kernel.debug: expected a boolean (true or false), got the string "yes"`,
		}},
		{"unknown and duplicate keys", "{\"kernel\": {\"cmdlne\": \"x\"},\n\"name\": \"a\", \"name\": \"b\"}", []string{
			"t.json:1: kernel.cmdlne: unknown key (did you mean kernel.cmdline?)",
			"t.json:2: name: duplicate key",
		}},
		{"out of range", `{"count": 99999999999999999999}`, []string{"t.json:1: count: 99999999999999999999 is out of range for an integer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			dc := Decoder{Source: "t.json"}
			err := dc.DecodeJSON([]byte(tc.src), &d)
			if diff := cmp.Diff(tc.want, errorLines(t, err)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestDecodeJSONEmpty(t *testing.T) {
	d := doc{Name: "keep"}
	dc := Decoder{Source: "t.json"}
	if err := dc.DecodeJSON([]byte(" \n"), &d); err != nil || d.Name != "keep" {
		t.Errorf("empty document: %v, name %q", err, d.Name)
	}
}

// A JSON string stays a string where any value may go, even when it reads
// as a number or a boolean in YAML.
func TestDecodeJSONStringsStayStrings(t *testing.T) {
	var got struct {
		V []any `yaml:"v"`
	}
	dc := Decoder{Source: "t.json"}
	if err := dc.DecodeJSON([]byte(`{"v": ["12", "true", 12, true, null]}`), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{"12", "true", 12, true, nil}, got.V); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}
