// Package cmdline reads the flags PID 1 takes from the kernel command line
// and from QEMU's fw_cfg entry opt/berth/cmdline, so that local VMs and
// tests can add flags to images whose bootloader config is fixed.
package cmdline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FwCfgPath is where the kernel exposes fw_cfg's opt/berth/cmdline.
const FwCfgPath = "/sys/firmware/qemu_fw_cfg/by_name/opt/berth/cmdline/raw"

// Flags are the parsed command line: name → value, "" for a bare flag.
// A later occurrence overrides an earlier one.
type Flags map[string]string

// Parse splits a command line into flags, honouring double quotes
// (name="a b"). Everything after a lone "--" belongs to init's argv and is
// ignored.
func Parse(s string) Flags {
	f := Flags{}
	for _, w := range split(s) {
		if w == "--" {
			break
		}
		k, v, _ := strings.Cut(w, "=")
		f[k] = v
	}
	return f
}

func split(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			have = true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// Read parses /proc/cmdline and then the fw_cfg entry, whose flags win,
// except that a flag of kernelOff the kernel command line turns off stays
// off. root is "/" on a host and a temp dir in tests.
func Read(root string) (Flags, error) {
	b, err := os.ReadFile(filepath.Join(root, "proc/cmdline"))
	if err != nil {
		return nil, fmt.Errorf("read kernel command line: %w", err)
	}
	f := Parse(string(b))
	var off []string
	for _, name := range kernelOff {
		if v, ok := f[name]; ok && isOff(v) {
			off = append(off, name)
		}
	}
	if extra, err := os.ReadFile(filepath.Join(root, FwCfgPath)); err == nil {
		for k, v := range Parse(strings.TrimRight(string(extra), "\x00")) {
			f[k] = v
		}
	}
	for _, name := range off {
		f[name] = "0"
	}
	return f, nil
}

// kernelOff are the flags that, turned off on the kernel command line (the
// image's boot entry: berth.autologin=0), stay off whatever fw_cfg says.
var kernelOff = []string{"berth.autologin"}

// isOff says whether a flag's value turns it off: 0, false, off or no.
func isOff(v string) bool {
	switch strings.ToLower(v) {
	case "0", "false", "off", "no":
		return true
	}
	return false
}

// Has says whether a flag is present, with or without a value.
func (f Flags) Has(name string) bool {
	_, ok := f[name]
	return ok
}

// Get returns a flag's value.
func (f Flags) Get(name string) string { return f[name] }

// Autologin returns the berth.autologin setting: "" (off: absent, or 0,
// false, off, no), "all" for the bare flag (or 1, true, on, yes, all), or
// the comma list of consoles given. Only the flags set it: cloud-config's
// berth.autologin is ignored, so that no user-data can open a root console.
func (f Flags) Autologin() string {
	v, ok := f["berth.autologin"]
	switch {
	case !ok || isOff(v):
		return ""
	case v == "":
		return "all"
	}
	switch strings.ToLower(v) {
	case "1", "true", "on", "yes", "all":
		return "all"
	}
	return v
}

// Slot returns the boot slot, "a" unless berth.slot=b.
func (f Flags) Slot() (string, error) {
	switch v := strings.ToLower(f["berth.slot"]); v {
	case "", "a":
		return "a", nil
	case "b":
		return "b", nil
	default:
		return "a", fmt.Errorf("berth.slot=%s: expected a or b; booting slot a", v)
	}
}

// Debug says whether berth.debug is on.
func (f Flags) Debug() bool {
	v, ok := f["berth.debug"]
	return ok && !isOff(v)
}
