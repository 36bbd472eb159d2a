// Package grubenv reads and writes GRUB's environment block (grubenv):
// 1024 bytes, a header line, NAME=VALUE lines, then '#' to the end. GRUB's
// load_env and save_env read and rewrite it in place at boot, which is
// how a Berth disk counts the tries of a slot under BIOS and UEFI alike.
package grubenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Size is the block's size: GRUB's save_env rewrites it in place and
// never grows it.
const Size = 1024

const header = "# GRUB Environment Block\n"

// Env is a block's variables.
type Env map[string]string

// Parse reads a block. Lines GRUB would not have written are errors.
func Parse(b []byte) (Env, error) {
	if !bytes.HasPrefix(b, []byte(header)) {
		return nil, errors.New("grubenv: no GRUB environment block header")
	}
	if len(b) != Size {
		return nil, fmt.Errorf("grubenv: %d bytes; a block is %d", len(b), Size)
	}
	env := Env{}
	for _, line := range strings.Split(string(b[len(header):]), "\n") {
		if line == "" || line[0] == '#' {
			// The padding: nothing after it but more '#'.
			break
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !validName(k) {
			return nil, fmt.Errorf("grubenv: bad line %q", line)
		}
		env[k] = v
	}
	return env, nil
}

// Encode writes env as a block, names sorted. Values are limited to what
// needs no escaping, which is all Berth keeps there.
func (env Env) Encode() ([]byte, error) {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString(header)
	for _, k := range keys {
		v := env[k]
		if !validName(k) || strings.ContainsAny(v, "\\\n#") {
			return nil, fmt.Errorf("grubenv: can't keep %s=%q", k, v)
		}
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	if b.Len() > Size {
		return nil, fmt.Errorf("grubenv: %d bytes of variables; a block holds %d", b.Len(), Size)
	}
	b.Write(bytes.Repeat([]byte{'#'}, Size-b.Len()))
	return b.Bytes(), nil
}

func validName(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Read reads the block at path.
func Read(path string) (Env, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return env, nil
}

// Write rewrites the block at path in place, as GRUB does: the file keeps
// its sectors, which GRUB's save_env writes directly, and a block never
// straddles a torn write in more than the sectors it has.
func Write(path string, env Env) error {
	b, err := env.Encode()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
