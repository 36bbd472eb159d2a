// Package preload imports the image tarballs of the preload folder
// (layout.PreloadDir, on the state partition) into the system containerd
// at boot, as RancherOS did from /var/lib/rancher/preload: an air-gapped
// host gets its catalogue images (berth build's out/images/NAME.oci.tar)
// by copying them there, with no registry.
//
// The tarballs are those of the folder and of its folders one level down,
// so that a volume (a second disk, a seed ISO) mounted there by
// cloud-config's mounts brings images too, read-only as it may be.
//
// A tarball is imported once: its import is recorded in the folder's
// .imported tree, under the tarball's own path (holding its size and
// modification time), and a tarball changed since is imported again.
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

// Pending lists, sorted by path, the tarballs of dir and of its folders
// one level down whose import is not recorded or was of another version of
// the file: regular files (not links) named *.tar, *.tar.gz or *.tgz, not
// hidden (a copy in progress can be named .NAME), in folders not hidden.
// A missing dir has none.
func Pending(dir string) ([]string, error) {
	var out []string
	err := scan(dir, 1, func(p string, st fs.FileInfo) {
		if done(dir, p, st) {
			return
		}
		out = append(out, p)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("preload: %w", err)
	}
	sort.Strings(out)
	return out, nil
}

// scan calls found for each tarball of dir, and of its folders down to
// depth more levels; a folder below dir that cannot be read is skipped.
func scan(dir string, depth int, found func(string, fs.FileInfo)) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(dir, name)
		switch {
		case strings.HasPrefix(name, "."):
		case e.IsDir() && depth > 0:
			scan(p, depth-1, found)
		case e.Type().IsRegular() && hasSuffix(name):
			if st, err := e.Info(); err == nil {
				found(p, st)
			}
		}
	}
	return nil
}

func hasSuffix(name string) bool {
	for _, s := range suffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return true
		}
	}
	return false
}

// done says whether the tarball at p, as st describes it, was imported:
// its record says so, or, for one in dir itself, the record an earlier
// Berth kept beside it (.NAME.imported), so that an upgrade does not
// import every tarball again.
func done(dir, p string, st fs.FileInfo) bool {
	records := []string{stampPath(dir, p)}
	if filepath.Dir(p) == dir {
		records = append(records, filepath.Join(dir, "."+filepath.Base(p)+".imported"))
	}
	for _, r := range records {
		if b, err := os.ReadFile(r); err == nil && string(b) == stamp(st) {
			return true
		}
	}
	return false
}

// stampPath is where the import of the tarball at p, in dir or below it,
// is recorded: on dir's own filesystem, which a read-only volume mounted
// below it is not.
func stampPath(dir, p string) string {
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		rel = filepath.Base(p)
	}
	return filepath.Join(dir, ".imported", rel)
}

func stamp(st fs.FileInfo) string {
	return fmt.Sprintf("%d %d\n", st.Size(), st.ModTime().UnixNano())
}

// Import imports every pending tarball of dir with imp, in path order,
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
		sp := stampPath(dir, f)
		if err := os.MkdirAll(filepath.Dir(sp), 0o755); err != nil {
			errs = append(errs, fmt.Errorf("preload %s: record the import: %w", f, err))
			continue
		}
		if err := os.WriteFile(sp, []byte(stamp(st)), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("preload %s: record the import: %w", f, err))
		}
	}
	return errors.Join(errs...)
}
