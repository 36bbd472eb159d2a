package netconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/berth-os/berth/internal/strictyaml"
)

// Load reads the configuration file PID 1 writes (config.json). A file
// that does not exist is the zero Config. See Parse.
func Load(path string) (*Config, strictyaml.Errors, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read network config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes config.json strictly and validates it; source names it in
// errors. Every problem is a strictyaml.FieldError with its field path,
// such as interfaces.eth0.addresses[1], and line; they are all returned.
//
// A key the Network model does not have is a warning, not an error: a
// newer cloud-config may write a field this service does not know, which
// must not cost the host its whole network configuration. Warnings also
// name what the service ignores.
func Parse(data []byte, source string) (*Config, strictyaml.Errors, error) {
	dc := strictyaml.Decoder{Source: source, Ignore: func(path, key string) string {
		return "unknown field, ignored"
	}}
	var n Network
	if err := dc.DecodeJSON(data, &n); err != nil {
		return nil, dc.Warnings, err
	}
	c, err := Validate(&n, &dc, "")
	if err != nil {
		return nil, dc.Warnings, err
	}
	return c, dc.Warnings, nil
}
