package cloudconfig

import "fmt"

// ValidateNetworkConfig checks a cloud-init network-config file (version 1
// or 2, bare or under network:) offline, as a host reads it from a
// datasource: converted to berth.network, which is then validated as the
// network service validates it. It returns the warnings (what Berth leaves
// out, and why), or an error naming source, the field and what was
// expected.
func ValidateNetworkConfig(source string, data []byte) ([]string, error) {
	tree, warnings, err := FromNetworkConfig(data)
	if err != nil {
		return warnings, fmt.Errorf("%s: %w", source, err)
	}
	if tree == nil {
		return warnings, nil
	}
	if _, err := FromTree(source+" (as berth.network)", map[string]any{"berth": map[string]any{"network": tree}}); err != nil {
		return warnings, err
	}
	return warnings, nil
}
