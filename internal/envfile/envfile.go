// Package envfile reads NAME=value files, such as the berth.proxy
// environment PID 1 renders for the services that fetch over HTTP
// (/etc/berth/proxy.env), into a process's environment.
package envfile

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Merge returns env with the NAME=value lines of file in place of
// the variables of those names. Blank lines and # comments are skipped; a
// file that is not there adds nothing.
func Merge(env []string, file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return env, nil
	}
	if err != nil {
		return nil, fmt.Errorf("environment file: %w", err)
	}
	add := map[string]string{}
	var order []string
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%s:%d: %q is no NAME=value line", file, i+1, line)
		}
		if _, seen := add[name]; !seen {
			order = append(order, name)
		}
		add[name] = value
	}
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := add[name]; !ok {
			out = append(out, kv)
		}
	}
	for _, name := range order {
		out = append(out, name+"="+add[name])
	}
	return out, nil
}
