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
// the variables of those names (Read, then Set).
func Merge(env []string, file string) ([]string, error) {
	kvs, err := Read(file)
	if err != nil {
		return nil, err
	}
	return Set(env, kvs...), nil
}

// Read returns the NAME=value lines of file, each name once (its last
// line), in the order the names first appear. Blank lines and # comments
// are skipped; a file that is not there has none.
func Read(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("environment file: %w", err)
	}
	at := map[string]int{}
	var out []string
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, ok := strings.Cut(line, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%s:%d: %q is no NAME=value line", file, i+1, line)
		}
		if j, seen := at[name]; seen {
			out[j] = line
			continue
		}
		at[name] = len(out)
		out = append(out, line)
	}
	return out, nil
}

// Set returns env without the variables that kvs (NAME=value) name,
// followed by kvs.
func Set(env []string, kvs ...string) []string {
	names := make(map[string]bool, len(kvs))
	for _, kv := range kvs {
		name, _, _ := strings.Cut(kv, "=")
		names[name] = true
	}
	out := make([]string, 0, len(env)+len(kvs))
	for _, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); !names[name] {
			out = append(out, kv)
		}
	}
	return append(out, kvs...)
}

// Lookup returns the value of name in kvs (NAME=value), and whether it is
// there.
func Lookup(kvs []string, name string) (string, bool) {
	for _, kv := range kvs {
		if n, v, _ := strings.Cut(kv, "="); n == name {
			return v, true
		}
	}
	return "", false
}
