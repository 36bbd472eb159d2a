// Package preload imports the image tarballs of the preload folder
// (layout.PreloadDir, on the state partition) into the system containerd
// at boot, as RancherOS did from /var/lib/rancher/preload: an air-gapped
// host gets its catalogue images (berth build's out/images/NAME.oci.tar)
// by copying them there, with no registry.
//
// A tarball is imported once: its import is recorded beside it
// (.NAME.imported, holding its size and modification time), and a
// tarball changed since is imported again.
package preload

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Importer loads one tarball (an OCI layout or docker save tar, possibly
// gzip-compressed) into containerd's image store: the system containerd's
// import, which is not this package's.
type Importer func(ctx context.Context, path string) error

// suffixes are the names of tarballs.
var suffixes = []string{".tar", ".tar.gz", ".tgz"}

// Pending lists, sorted by name, the tarballs of dir to import: regular
// files (not links) named *.tar, *.tar.gz or *.tgz, not hidden (a copy in
// progress can be named .NAME), whose import is not recorded or was of
// another version of the file. A missing dir has none.
func Pending(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("preload: %w", err)
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !e.Type().IsRegular() || !hasSuffix(name) {
			continue
		}
		p := filepath.Join(dir, name)
		st, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("preload: %w", err)
		}
		if done, err := os.ReadFile(stampPath(p)); err == nil && string(done) == stamp(st) {
			continue
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

func hasSuffix(name string) bool {
	for _, s := range suffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return true
		}
	}
	return false
}

func stampPath(p string) string {
	return filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".imported")
}

func stamp(st fs.FileInfo) string {
	return fmt.Sprintf("%d %d\n", st.Size(), st.ModTime().UnixNano())
}

// Import imports every pending tarball of dir with imp, in name order,
// and records each one imported. A tarball that fails is reported (with
// the others' failures) and tried again at the next boot; the rest are
// still imported.
func Import(ctx context.Context, dir string, imp Importer) error {
	files, err := Pending(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("preload %s: %w", f, err))
			continue
		}
		if err := imp(ctx, f); err != nil {
			errs = append(errs, fmt.Errorf("preload %s: %w", f, err))
			continue
		}
		if err := os.WriteFile(stampPath(f), []byte(stamp(st)), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("preload %s: record the import: %w", f, err))
		}
	}
	return errors.Join(errs...)
}
