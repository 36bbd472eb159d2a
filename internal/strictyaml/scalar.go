package strictyaml

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Scalar is a value written as a string or a number, as sysctl values and
// bond options are: vm.swappiness: 10 and vm.swappiness: "10" are the
// same. It keeps the text as written.
type Scalar string

// Expected says what a Scalar looks like, for error messages.
func (Scalar) Expected() string { return "a string or a number" }

func (s *Scalar) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		got := map[yaml.Kind]string{yaml.SequenceNode: "a list", yaml.MappingNode: "a map", yaml.ScalarNode: "null"}[n.Kind]
		if got == "" {
			got = "something else"
		}
		return fmt.Errorf("expected %s, got %s", s.Expected(), got)
	}
	*s = Scalar(n.Value)
	return nil
}
