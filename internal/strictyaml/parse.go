package strictyaml

import (
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// MaxNodes caps a document's size with its aliases expanded. A YAML alias
// bomb (a few kilobytes of anchors that refer to anchors, billions of nodes
// once expanded) is refused here, before anything walks the tree: strict
// decoding and the cloud-config translations follow aliases as they go. A
// real cloud-config has a few thousand nodes.
const MaxNodes = 100_000

// ErrTooManyNodes is Parse's error for a document past MaxNodes.
var ErrTooManyNodes = errors.New("too many nodes")

// Parse parses one YAML document into its node tree, and refuses one whose
// aliases would expand it past MaxNodes.
func Parse(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if n := expandedSize(&doc, map[*yaml.Node]int{}, MaxNodes); n > MaxNodes {
		return nil, fmt.Errorf("%w: with its aliases expanded the document has more than %d (an alias bomb?)", ErrTooManyNodes, MaxNodes)
	}
	return &doc, nil
}

// expandedSize counts the nodes under n with every alias expanded, up to
// just past limit. Each node's count is kept, so shared anchors are counted
// once each and the walk stays linear in the document's size.
func expandedSize(n *yaml.Node, seen map[*yaml.Node]int, limit int) int {
	if n == nil {
		return 0
	}
	if c, ok := seen[n]; ok {
		if c < 0 { // an anchor that holds itself
			return limit + 1
		}
		return c
	}
	seen[n] = -1
	total := 1
	if n.Kind == yaml.AliasNode {
		total = expandedSize(n.Alias, seen, limit)
	}
	for _, c := range n.Content {
		if total > limit {
			break
		}
		total += expandedSize(c, seen, limit)
	}
	if total > limit {
		total = limit + 1
	}
	seen[n] = total
	return total
}
