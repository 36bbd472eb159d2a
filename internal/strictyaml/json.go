package strictyaml

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/berth-os/berth/internal/pattern"
	"go.yaml.in/yaml/v3"
)

// DecodeJSON decodes the JSON document in data into v, a non-nil pointer,
// with the rules of Decode: unknown and duplicate keys and values of the
// wrong type are errors with their field path and line. The document is
// read by encoding/json, so only JSON is accepted, then decoded as the
// YAML node tree it is. An empty document leaves v as it is.
func (dc *Decoder) DecodeJSON(data []byte, v any) error {
	n, err := jsonNode(data)
	if err != nil {
		var se *jsonSyntaxError
		if errors.As(err, &se) {
			return Errors{{Source: dc.Source, Line: se.line, Msg: fmt.Sprintf("not valid JSON at column %d: %v", se.column, se.err)}}
		}
		return Errors{{Source: dc.Source, Msg: "not valid JSON: " + err.Error()}}
	}
	if n == nil {
		return nil
	}
	return dc.DecodeNode(n, v)
}

// jsonSyntaxError is a JSON error at a line and column.
type jsonSyntaxError struct {
	line, column int
	err          error
}

func (e *jsonSyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %v", e.line, e.column, e.err)
}

func (e *jsonSyntaxError) Unwrap() error { return e.err }

// jsonInt is the grammar of a JSON number without fraction or exponent.
var jsonInt = pattern.New(`^-?[0-9]+$`)

// jsonNode reads one JSON value into the node tree YAML would give for
// it, each node with its line. An empty document is nil.
func jsonNode(data []byte) (*yaml.Node, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// A token never spans lines, so the line of its last byte is its line.
	line := func() int { return bytes.Count(data[:max(dec.InputOffset()-1, 0)], []byte("\n")) + 1 }
	var value func() (*yaml.Node, error)
	value = func() (*yaml.Node, error) {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		n := &yaml.Node{Kind: yaml.ScalarNode, Line: line()}
		switch t := tok.(type) {
		case json.Delim:
			n.Kind, n.Tag, n.Style = yaml.MappingNode, "!!map", yaml.FlowStyle
			if t == '[' {
				n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
			}
			for dec.More() {
				if n.Kind == yaml.MappingNode {
					k, err := dec.Token()
					if err != nil {
						return nil, err
					}
					n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: k.(string), Line: line()})
				}
				e, err := value()
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, e)
			}
			if _, err := dec.Token(); err != nil { // the closing delimiter
				return nil, err
			}
		case string:
			n.Tag, n.Style, n.Value = "!!str", yaml.DoubleQuotedStyle, t
		case json.Number:
			n.Tag, n.Value = "!!float", t.String()
			if jsonInt.MatchString(n.Value) {
				n.Tag = "!!int"
			}
		case bool:
			n.Tag, n.Value = "!!bool", fmt.Sprint(t)
		case nil:
			n.Tag, n.Value = "!!null", "null"
		}
		return n, nil
	}
	return value()
}

// checkJSON checks that data is one JSON value, and says where it is not.
func checkJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	err := dec.Decode(&v)
	off := int64(0)
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("the document ends early: %w", err)
	case errors.As(err, &se):
		off = se.Offset - 1 // Offset counts the byte that is wrong
	case err != nil:
		return err
	default:
		end := dec.InputOffset()
		if _, err := dec.Token(); err == io.EOF {
			return nil
		}
		rest := bytes.TrimLeft(data[end:], " \t\r\n")
		off, err = int64(len(data)-len(rest)), errors.New("more after the value")
	}
	before := data[:min(max(off, 0), int64(len(data)))]
	return &jsonSyntaxError{
		line:   bytes.Count(before, []byte("\n")) + 1,
		column: len(before) - bytes.LastIndexByte(before, '\n'),
		err:    err,
	}
}
