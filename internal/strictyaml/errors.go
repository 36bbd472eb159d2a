package strictyaml

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/berth-os/berth/internal/errkind"
	"go.yaml.in/yaml/v3"
)

// ErrInvalid is the kind of every error this package returns: invalid
// configuration, which the CLIs exit 3 for and the host API answers 422.
var ErrInvalid = errkind.ErrInvalidConfig

// FieldError is one problem at one place in a document.
type FieldError struct {
	Source string // file name or other origin, e.g. "images/berth.yaml"
	Line   int    // 1-based; 0 when unknown
	Path   string // field path, e.g. "disk.size"; "" for the document itself
	Msg    string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *FieldError) Unwrap() error { return ErrInvalid }

// Errors is every problem found in one document, in document order.
type Errors []*FieldError

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap lets errors.Is and errors.As see each FieldError.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Err returns es as an error, or nil when it is empty.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

func yamlErrLine(err error) int {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return 0
	}
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		rest := msg[i+5:]
		j := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if j > 0 {
			if l, err := strconv.Atoi(rest[:j]); err == nil {
				return l
			}
		}
	}
	return 0
}

func yamlErrMsg(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(msg, "line "); i == 0 {
		if j := strings.Index(msg, ": "); j > 0 {
			return msg[j+2:]
		}
	}
	return msg
}
