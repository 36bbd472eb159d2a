// Package hosttool finds the host programs a build needs and, when one is
// missing, says which Debian package provides it.
package hosttool

import (
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
)

// ErrMissing is the kind of a missing-tool error.
var ErrMissing = errors.New("missing host tools")

// Packages maps each tool the build runs to its Debian 12 package.
var Packages = map[string]string{
	"gcc":                "build-essential",
	"make":               "build-essential",
	"flex":               "flex",
	"bison":              "bison",
	"bc":                 "bc",
	"pahole":             "dwarves",
	"depmod":             "kmod",
	"tar":                "tar",
	"xz":                 "xz-utils",
	"perl":               "perl-base",
	"mksquashfs":         "squashfs-tools",
	"xorriso":            "xorriso",
	"mformat":            "mtools",
	"mcopy":              "mtools",
	"mmd":                "mtools",
	"mkfs.fat":           "dosfstools",
	"qemu-img":           "qemu-utils",
	"qemu-system-x86_64": "qemu-system-x86",
}

// Need returns the paths of the named tools, or one error naming every
// missing tool and the apt-get command that installs them.
func Need(tools ...string) (map[string]string, error) {
	found := map[string]string{}
	var missing []string
	pkgs := map[string]bool{}
	for _, t := range tools {
		p, err := exec.LookPath(t)
		if err != nil {
			missing = append(missing, t)
			if pkg, ok := Packages[t]; ok {
				pkgs[pkg] = true
			}
			continue
		}
		found[t] = p
	}
	if len(missing) == 0 {
		return found, nil
	}
	var names []string
	for p := range pkgs {
		names = append(names, p)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("%w: %s; install with `sudo apt-get install %s` or run `make deps`",
		ErrMissing, strings.Join(missing, ", "), strings.Join(names, " "))
}
