package strictyaml

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
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
