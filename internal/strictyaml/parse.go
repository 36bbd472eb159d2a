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

// ErrTooManyNodes is Parse's error for a document past MaxNodes or
// MaxSigns.
var ErrTooManyNodes = errors.New("too many nodes")

// MaxSigns caps a document's structure signs, counted before it is parsed:
// its line breaks and the , [ { : ? and "- " that begin nodes. yaml.v3
// builds the whole node tree before MaxNodes can be checked, at about 250
// bytes a node: 16 MiB of "[a,a,a,..." took 1.5 GiB of heap to be
// refused. Every node but the document's first two begins after a sign,
// and no sign begins more than two nodes, so a document within MaxSigns
// holds at most 2×MaxSigns+2 nodes, about 100 MiB to parse at worst
// ({a,a,a,...}: a key and a null for each comma) and a fifth of that for a
// list. A real cloud-config has a few thousand signs; a file written
// into one as a block of text counts one a line, so 200,000 allows some
// 15 MiB of base64 in lines of 76.
const MaxSigns = 200_000

// Parse parses one YAML document into its node tree, and refuses one that
// has more than MaxSigns structure signs or whose aliases would expand it
// past MaxNodes.
func Parse(data []byte) (*yaml.Node, error) {
	if n := signs(data, MaxSigns); n > MaxSigns {
		return nil, fmt.Errorf("%w: the document has more than %d line breaks and , [ { : ? - signs, each of which may begin a node", ErrTooManyNodes, MaxSigns)
	}
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

// signs counts the bytes of data that may begin a node, up to just past
// limit: every line break (\n, \r, and the NEL, LS and PS that yaml.v3
// also takes as breaks), every , [ { : and ?, and every - followed by a
// blank or a break (a block sequence entry). It counts inside quotes,
// comments and block scalars too, where no node begins: a count too high
// refuses a document early, one too low would let yaml.v3 build nodes that
// were not counted.
func signs(data []byte, limit int) int {
	n := 0
	for i := 0; i < len(data) && n <= limit; i++ {
		switch data[i] {
		case '\n', '\r', ',', '[', '{', ':', '?':
			n++
		case '-':
			if i+1 == len(data) {
				n++
				break
			}
			switch data[i+1] {
			case ' ', '\t', '\n', '\r', 0xc2, 0xe2:
				n++
			}
		case 0xc2: // NEL is C2 85
			if i+1 < len(data) && data[i+1] == 0x85 {
				n++
			}
		case 0xe2: // LS and PS are E2 80 A8 and E2 80 A9
			if i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xa8 || data[i+2] == 0xa9) {
				n++
			}
		}
	}
	return n
}

// Unmarshal is yaml.Unmarshal with Parse's caps: it decodes the way
// yaml.v3 does (unknown keys are ignored), for documents Berth reads as
// other tools read them, such as NoCloud meta-data, but that come from
// outside all the same.
func Unmarshal(data []byte, v any) error {
	doc, err := Parse(data)
	if err != nil {
		return err
	}
	if doc.Kind == 0 {
		return nil // an empty document leaves v as it is, as yaml.Unmarshal does
	}
	return doc.Decode(v)
}
