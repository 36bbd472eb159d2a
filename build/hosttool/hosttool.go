// Package hosttool finds the host programs a build needs and, when some are
// missing, says in one message which Debian packages provide them. It also
// gives every tool the same fixed environment, so that nothing of the
// builder's machine (time zone, locale, user, home folder) reaches the
// bytes a tool writes.
package hosttool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// ErrMissing is the kind of a missing-tool error.
var ErrMissing = errors.New("missing host tools")

// Packages maps each tool the build runs to its Debian 12 package.
var Packages = map[string]string{
	"go":                 "golang-go", // or a newer Go from go.dev (scripts/go.sh finds it)
	"gcc":                "build-essential",
	"make":               "build-essential",
	"pkg-config":         "pkg-config",
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
	"grub-mkimage":       "grub-common",
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
		if _, ok := found[t]; ok {
			continue
		}
		p, err := exec.LookPath(t)
		if err != nil {
			if !contains(missing, t) {
				missing = append(missing, t)
			}
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Fixed is what Env sets whatever the caller's environment says. TZ: FAT
// and ISO 9660 record local time (mtools, xorriso); LC_ALL: messages and
// sort order; HOME: tools read dot files from it (~/.mtoolsrc).
var Fixed = []string{"TZ=UTC", "LC_ALL=C", "LANG=C", "HOME=/nonexistent"}

// dropped are variables Env leaves out: the user's identity and locale
// settings that LC_ALL would not cover, and a SOURCE_DATE_EPOCH the caller
// did not mean for this tool (mksquashfs refuses it with -all-time).
var dropped = []string{"LANGUAGE", "USER", "LOGNAME", "USERNAME", "SOURCE_DATE_EPOCH", "MTOOLSRC"}

// Env is the environment a host tool runs in: the caller's (for PATH and
// TMPDIR), without the variables that could make its output depend on
// who builds where, with Fixed, then extra ("SOURCE_DATE_EPOCH=...").
func Env(extra ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		name, _, _ := strings.Cut(e, "=")
		if contains(dropped, name) || strings.HasPrefix(name, "LC_") || overridden(name, Fixed) || overridden(name, extra) {
			continue
		}
		env = append(env, e)
	}
	env = append(env, Fixed...)
	return append(env, extra...)
}

func overridden(name string, vars []string) bool {
	for _, v := range vars {
		if strings.HasPrefix(v, name+"=") {
			return true
		}
	}
	return false
}

// Command is exec.CommandContext with Env(extra...).
func Command(ctx context.Context, extra []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = Env(extra...)
	return cmd
}
