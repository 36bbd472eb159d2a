package cloudconfig

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/berth-os/berth/internal/bytesize"
	"github.com/berth-os/berth/internal/pattern"
	"github.com/berth-os/berth/internal/strictyaml"
	"go.yaml.in/yaml/v3"
)

// Command is a bootcmd or runcmd entry: a shell line, or an argv list.
type Command struct {
	Shell string   // run with sh -c
	Argv  []string // run directly
}

func (Command) Expected() string { return "a command: a string for the shell, or a list of arguments" }

func (c *Command) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!str" {
			return fmt.Errorf("expected %s, got %s", c.Expected(), n.Value)
		}
		c.Shell = n.Value
		return nil
	case yaml.SequenceNode:
		for _, a := range n.Content {
			if a.Kind != yaml.ScalarNode {
				return fmt.Errorf("expected a list of arguments (strings)")
			}
			c.Argv = append(c.Argv, a.Value)
		}
		if len(c.Argv) == 0 {
			return fmt.Errorf("empty argument list")
		}
		return nil
	}
	return fmt.Errorf("expected %s", c.Expected())
}

func (c Command) MarshalYAML() (any, error) {
	if c.Argv != nil {
		return c.Argv, nil
	}
	return c.Shell, nil
}

// String is the command as a shell would show it.
func (c Command) String() string {
	if c.Argv == nil {
		return c.Shell
	}
	q := make([]string, len(c.Argv))
	for i, a := range c.Argv {
		q[i] = strconv.Quote(a)
	}
	return strings.Join(q, " ")
}

// Scalar is a value written as a string or a number, as sysctl values,
// bond options and environment values are; see strictyaml.Scalar.
type Scalar = strictyaml.Scalar

// Strings is a map of scalars as plain strings.
func Strings(m map[string]Scalar) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// Mode is a file mode, written as an octal string ('0644') or number.
type Mode uint32

func (Mode) Expected() string { return "a file mode in octal such as '0644'" }

var modeRe = pattern.New(`^(0o|0)?([0-7]{1,4})$`)

func (m *Mode) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected %s", m.Expected())
	}
	v := n.Value
	if n.Tag == "!!int" && !strings.HasPrefix(v, "0") {
		// A plain decimal (420) is how YAML readers show an octal 0644.
		d, err := strconv.ParseUint(v, 10, 32)
		if err != nil || d > 0o7777 {
			return fmt.Errorf("expected %s, got %s", m.Expected(), v)
		}
		*m = Mode(d)
		return nil
	}
	mm := modeRe.FindStringSubmatch(v)
	if mm == nil {
		return fmt.Errorf("expected %s, got %q", m.Expected(), v)
	}
	o, _ := strconv.ParseUint(mm[2], 8, 32)
	*m = Mode(o)
	return nil
}

func (m Mode) MarshalYAML() (any, error) { return fmt.Sprintf("%04o", uint32(m)), nil }

// Size is a swap size in bytes, written with an optional binary unit (2G,
// 512M, 1048576: see package bytesize) or as auto, which is 0.
type Size int64

func (Size) Expected() string { return "a size such as 2G or 512M, or auto" }

func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected %s, got %s", s.Expected(), strictyaml.Describe(n))
	}
	if n.Value == "auto" {
		*s = 0
		return nil
	}
	b, err := bytesize.Parse(n.Value)
	switch {
	case errors.Is(err, bytesize.ErrRange):
		return fmt.Errorf("size %q is too large (at most 4EiB)", n.Value)
	case err != nil:
		return fmt.Errorf("expected %s, got %q", s.Expected(), n.Value)
	}
	*s = Size(b)
	return nil
}

// Bytes is the size in bytes (0 for auto).
func (s Size) Bytes() int64 { return int64(s) }

// List is a list of strings that may also be written as one
// comma-separated string ("docker, wheel"), as cloud-init allows.
type List []string

func (List) Expected() string { return "a list of names, or one comma-separated string" }

func (l *List) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		for _, s := range strings.Split(n.Value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*l = append(*l, s)
			}
		}
		return nil
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("expected %s", l.Expected())
			}
			*l = append(*l, item.Value)
		}
		return nil
	}
	return fmt.Errorf("expected %s", l.Expected())
}

// Autologin is berth.autologin: true (every console), false, or a list of
// consoles such as ttyS0,tty0.
type Autologin string

func (Autologin) Expected() string { return "true, false, or a list of consoles such as ttyS0,tty0" }

func (a *Autologin) UnmarshalYAML(n *yaml.Node) error {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!bool":
		if b, _ := strconv.ParseBool(strings.ToLower(n.Value)); b {
			*a = "all"
		} else {
			*a = ""
		}
		return nil
	case n.Kind == yaml.ScalarNode || n.Kind == yaml.SequenceNode:
		var l List
		if err := l.UnmarshalYAML(n); err != nil {
			return err
		}
		for _, t := range l {
			if !ttyRe.MatchString(t) {
				return fmt.Errorf("%q is not a console name (expected such as ttyS0 or tty1)", t)
			}
		}
		*a = Autologin(strings.Join(l, ","))
		return nil
	}
	return fmt.Errorf("expected %s", a.Expected())
}

var ttyRe = pattern.New(`^(tty[A-Za-z]*[0-9]+|hvc[0-9]+|all)$`)

// Condition is power_state.condition: a boolean, or a command (a shell
// string or an argv list) whose exit status 0 lets the power change go
// ahead.
type Condition struct {
	Bool    *bool
	Command *Command
}

func (Condition) Expected() string {
	return "true, false, or a command: a string for the shell or a list of arguments"
}

func (c *Condition) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err != nil {
			return fmt.Errorf("expected %s, got %s", c.Expected(), n.Value)
		}
		c.Bool = &b
		return nil
	}
	var cmd Command
	if err := cmd.UnmarshalYAML(n); err != nil {
		return fmt.Errorf("expected %s", c.Expected())
	}
	c.Command = &cmd
	return nil
}

func (c Condition) MarshalYAML() (any, error) {
	if c.Command != nil {
		return c.Command.MarshalYAML()
	}
	if c.Bool != nil {
		return *c.Bool, nil
	}
	return true, nil
}
