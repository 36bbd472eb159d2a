// Package kernel holds Berth's tuned kernel: the pinned Debian source, the
// config fragments in kernel/config, the list of options Berth requires
// (kernel/required.txt), the hardening it promises (kernel/hardening.txt),
// the module signing key, and the recipe that builds bzImage and modules.
package kernel

import (
	"bufio"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/berth-os/berth/internal/strictyaml"
)

//go:embed pin.yaml required.txt hardening.txt config/*.config
var files embed.FS

// Pin names the kernel source package Berth builds.
type Pin struct {
	Source Source `yaml:"source"`
}

// Source is one Debian linux-source .deb.
type Source struct {
	Package string `yaml:"package"`
	Version string `yaml:"version"`
	SHA256  string `yaml:"sha256"`
	URL     string `yaml:"url"`
}

// PinPath is where the pin lives in the repository.
const PinPath = "kernel/pin.yaml"

// LoadPin reads the pin compiled into this binary, or the file at path if given.
func LoadPin(path string) (Pin, error) {
	var data []byte
	var err error
	src := PinPath
	if path != "" {
		data, err = os.ReadFile(path)
		src = path
	} else {
		data, err = files.ReadFile("pin.yaml")
	}
	if err != nil {
		return Pin{}, fmt.Errorf("read kernel pin: %w", err)
	}
	var p Pin
	if err := strictyaml.Decode(data, src, &p); err != nil {
		return Pin{}, err
	}
	var missing []string
	for k, v := range map[string]string{"package": p.Source.Package, "version": p.Source.Version, "sha256": p.Source.SHA256, "url": p.Source.URL} {
		if v == "" {
			missing = append(missing, "source."+k)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return Pin{}, fmt.Errorf("%s: missing %s", src, strings.Join(missing, ", "))
	}
	return p, nil
}

// FormatPin renders a pin as the one-line file `berth kernel pin` writes.
func FormatPin(s Source) string {
	return fmt.Sprintf(`# The kernel source Berth builds: Debian 12's linux-source package, pinned.
# Move it with `+"`berth kernel pin --latest`"+` (one line changes) and commit.
source: {package: %s, version: %s, sha256: %s, url: %q}
`, s.Package, s.Version, s.SHA256, s.URL)
}

// Fragment is one config fragment file.
type Fragment struct {
	Name string
	Data []byte
}

// Fragments returns the config fragments in merge order.
func Fragments() []Fragment {
	ents, _ := fs.ReadDir(files, "config")
	var out []Fragment
	for _, e := range ents {
		data, _ := files.ReadFile(path.Join("config", e.Name()))
		out = append(out, Fragment{Name: e.Name(), Data: data})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Config is a parsed .config or fragment: symbol → value, where "n" means
// "is not set".
type Config map[string]string

var (
	setRe   = regexp.MustCompile(`^(CONFIG_[A-Za-z0-9_]+)=(.*)$`)
	unsetRe = regexp.MustCompile(`^# (CONFIG_[A-Za-z0-9_]+) is not set$`)
)

// ParseConfig reads .config syntax.
func ParseConfig(data []byte) Config {
	c := Config{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := setRe.FindStringSubmatch(line); m != nil {
			c[m[1]] = m[2]
		} else if m := unsetRe.FindStringSubmatch(line); m != nil {
			c[m[1]] = "n"
		}
	}
	return c
}

// Required returns the options Berth requires (kernel/required.txt).
func Required() Config {
	data, _ := files.ReadFile("required.txt")
	return ParseConfig(data)
}

// Hardening returns the hardening options Berth promises
// (kernel/hardening.txt).
func Hardening() Config {
	data, _ := files.ReadFile("hardening.txt")
	return ParseConfig(data)
}

// Wanted merges the fragments: what the built .config must contain.
func Wanted() Config {
	c := Config{}
	for _, f := range Fragments() {
		for k, v := range ParseConfig(f.Data) {
			c[k] = v
		}
	}
	return c
}

// Check returns one line per option of want that got lacks or sets
// differently, sorted; nil when got satisfies want.
func Check(got, want Config) []string {
	var bad []string
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			g = "n"
		}
		if g != w {
			bad = append(bad, fmt.Sprintf("%s: want %s, got %s", k, w, g))
		}
	}
	sort.Strings(bad)
	return bad
}
