package strictyaml

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/berth-os/berth/internal/fuzzmem"
)

// bomb is a "billion laughs" document: each anchor holds ten aliases of the
// one before, so depth levels expand to 10^depth nodes.
func bomb(depth int) string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= depth; i++ {
		p := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(p+", ", 10), ", "))
	}
	return b.String()
}

func TestParseRefusesAliasBombs(t *testing.T) {
	// 10^9 nodes from under a kilobyte: refused at once, without expanding.
	doc := bomb(9)
	if len(doc) > 1024 {
		t.Fatalf("the bomb is %d bytes", len(doc))
	}
	_, err := Parse([]byte(doc))
	if !errors.Is(err, ErrTooManyNodes) || !strings.Contains(err.Error(), "more than 100000") {
		t.Fatalf("Parse: %v, want ErrTooManyNodes", err)
	}
	var v map[string]any
	err = Decode([]byte(doc), "user-data", &v)
	if err == nil || err.Error() != "user-data: not accepted: too many nodes: with its aliases expanded the document has more than 100000 (an alias bomb?)" {
		t.Errorf("Decode: %v", err)
	}
	// Aliases used as intended are fine: a small expansion passes.
	if _, err := Parse([]byte(bomb(3))); err != nil {
		t.Errorf("a document of about 1,000 nodes: %v", err)
	}
	// Invalid YAML keeps its own message and line.
	err = Decode([]byte("a: [\n"), "user-data", &v)
	if err == nil || !strings.Contains(err.Error(), "not valid YAML") {
		t.Errorf("invalid YAML: %v", err)
	}
}

func TestExpandedSizeCountsSharedAnchorsOnce(t *testing.T) {
	doc, err := Parse([]byte("a: &a [1, 2]\nb: *a\nc: *a\n"))
	if err != nil {
		t.Fatal(err)
	}
	// document, map, 3 keys, the list and its 2 items, 2 aliases that each
	// expand to the list's 3 nodes.
	if got := expandedSize(doc, map[*yaml.Node]int{}, MaxNodes); got != 1+1+3+3+3+3 {
		t.Errorf("expanded size %d, want 14", got)
	}
}

// A document dense with nodes is refused before yaml.v3 builds them: 16 MiB
// of "[a,a,a,..." took 1.5 GiB of heap before MaxNodes could refuse it.
func TestParseRefusesDenseDocumentsUnparsed(t *testing.T) {
	dense := []byte("[" + strings.Repeat("a,", MaxSigns) + "a]")
	var err error
	got := fuzzmem.Allocated(func() { _, err = Parse(dense) })
	want := "too many nodes: the document has more than 200000 line breaks and , [ { : ? - signs, each of which may begin a node"
	if !errors.Is(err, ErrTooManyNodes) || err.Error() != want {
		t.Fatalf("Parse: %v, want %q", err, want)
	}
	if got > 1<<20 {
		t.Errorf("refusing %d bytes allocated %d bytes: it was parsed", len(dense), got)
	}
	// Unmarshal, which the lax readers use, has the same caps.
	var v any
	if err := Unmarshal(dense, &v); !errors.Is(err, ErrTooManyNodes) {
		t.Errorf("Unmarshal: %v, want ErrTooManyNodes", err)
	}
	if err := Unmarshal([]byte(bomb(9)), &v); !errors.Is(err, ErrTooManyNodes) {
		t.Errorf("Unmarshal of an alias bomb: %v, want ErrTooManyNodes", err)
	}
	// Signs inside a block of text count too, but a file of 30,000 lines
	// with five signs each, written into a document, is still read.
	text := []byte("content: |\n" + strings.Repeat("  IyEvYmluL3NoCmVjaG8gaGVsbG8K: - x, y [z]\n", 30_000))
	if _, err := Parse(text); err != nil {
		t.Errorf("30,000 lines of text, 150,002 signs: %v", err)
	}
}

func TestSigns(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want int
	}{
		{"a", 0},
		{"a: b\n", 2},
		{"- a\n-\n-", 5},
		{"-a -b --- c", 1},
		{"{a, b: [c]}", 4},
		{"? a\r\n", 3},
		{"a\u0085b\u2028c\u2029d", 3},
		{"\xc2", 0},
		{"\xe2\x80", 0},
	} {
		if got := signs([]byte(tc.doc), 100); got != tc.want {
			t.Errorf("signs(%q) = %d, want %d", tc.doc, got, tc.want)
		}
	}
	if got := signs([]byte(strings.Repeat(",", 1000)), 10); got != 11 {
		t.Errorf("counting stops just past the limit: got %d, want 11", got)
	}
}

func TestUnmarshal(t *testing.T) {
	var v struct {
		A string `yaml:"a"`
	}
	v.A = "kept"
	if err := Unmarshal(nil, &v); err != nil || v.A != "kept" {
		t.Errorf("empty document: %v, %+v", err, v)
	}
	if err := Unmarshal([]byte("a: x\nunknown: 1\n"), &v); err != nil || v.A != "x" {
		t.Errorf("lax decoding: %v, %+v", err, v)
	}
	if err := Unmarshal([]byte("a: [\n"), &v); err == nil || !strings.Contains(err.Error(), "did not find expected node content") {
		t.Errorf("invalid YAML: %v", err)
	}
}
