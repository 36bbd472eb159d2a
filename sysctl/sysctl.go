// Package sysctl holds Berth's tuned sysctl profiles (sysctl/profiles/*.conf)
// and applies settings under a /proc/sys root.
package sysctl

import (
	"bufio"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed profiles/*.conf
var profiles embed.FS

// Setting is one key = value.
type Setting struct {
	Key   string // dotted, e.g. net.ipv4.ip_forward
	Value string
}

// Profiles lists the profile names.
func Profiles() []string {
	ents, _ := profiles.ReadDir("profiles")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".conf"))
	}
	sort.Strings(out)
	return out
}

// Profile returns a profile's settings in file order.
func Profile(name string) ([]Setting, error) {
	b, err := profiles.ReadFile("profiles/" + name + ".conf")
	if err != nil {
		return nil, fmt.Errorf("sysctl profile %q: unknown (known: %s)", name, strings.Join(Profiles(), ", "))
	}
	return Parse(string(b), name+".conf")
}

// Parse reads sysctl.conf syntax: "key = value", # and ; comments.
func Parse(s, source string) ([]Setting, error) {
	var out []Setting
	var errs []error
	sc := bufio.NewScanner(strings.NewReader(s))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || !ValidKey(k) {
			errs = append(errs, fmt.Errorf("%s:%d: expected key = value, got %q", source, n, line))
			continue
		}
		out = append(out, Setting{Key: k, Value: v})
	}
	return out, errors.Join(errs...)
}

// ValidKey says whether k is a plausible sysctl name.
func ValidKey(k string) bool {
	if k == "" || strings.Contains(k, "..") || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") {
		return false
	}
	for _, r := range k {
		if !(r == '.' || r == '_' || r == '-' || r == '/' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Path maps a key to its file under root (/proc/sys): dots become
// slashes, except inside an interface name (net.ipv4.conf.eth0.100.rp_filter
// is conf/eth0.100/rp_filter, a VLAN). A key written with slashes, as
// sysctl(8) also reads them, is a path already: its dots stay.
func Path(root, key string) string {
	if strings.Contains(key, "/") {
		return filepath.Join(root, key)
	}
	if m := ifaceRe.FindStringSubmatch(key); m != nil {
		return filepath.Join(root, strings.ReplaceAll(m[1], ".", "/"), m[2], m[3])
	}
	return filepath.Join(root, strings.ReplaceAll(key, ".", "/"))
}

// Apply writes every setting under root and returns one error per setting
// that could not be applied (a key the kernel lacks is reported, not fatal).
func Apply(root string, settings []Setting) error {
	var errs []error
	for _, s := range settings {
		if err := Write(root, s.Key, s.Value); err != nil {
			errs = append(errs, fmt.Errorf("sysctl %s = %s: %w", s.Key, s.Value, err))
		}
	}
	return errors.Join(errs...)
}

// Write sets one sysctl under root. The error is the kernel's: the file
// it could not write and why (a value out of range is "invalid argument").
func Write(root, key, value string) error {
	// Some handlers (kernel.printk_devkmsg) insist on the newline sysctl(8) sends.
	return os.WriteFile(Path(root, key), []byte(value+"\n"), 0o644)
}
