package deb

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/berth-os/berth/build/tree"
)

// Options control what Extract writes.
type Options struct {
	// Keep, if set, is asked about every path (relative, after merged-/usr
	// mapping, e.g. "usr/lib/x86_64-linux-gnu/libc.so.6"); false skips it.
	Keep func(rel string) bool
}

// DefaultKeep drops documentation, manuals and translations: a container
// host's service rootfs never shows them.
func DefaultKeep(rel string) bool {
	for _, p := range []string{
		"usr/share/doc/", "usr/share/man/", "usr/share/info/", "usr/share/locale/",
		"usr/share/lintian/", "usr/share/bug/", "usr/share/doc-base/", "usr/share/bash-completion/",
		"usr/share/zsh/", "usr/share/fish/", "usr/share/menu/", "usr/share/gtk-doc/",
	} {
		if strings.HasPrefix(rel+"/", p) || rel+"/" == p {
			return false
		}
	}
	return true
}

// MergedUsr maps a Debian path into the merged-/usr layout Berth uses:
// bin, sbin, lib and lib64 live under usr, and top-level links point there.
func MergedUsr(rel string) string {
	for _, d := range []string{"bin", "sbin", "lib", "lib64", "lib32", "libx32"} {
		if rel == d || strings.HasPrefix(rel, d+"/") {
			return "usr/" + rel
		}
	}
	return rel
}

// Extract unpacks the data archive of the .deb at debPath into dst.
// Ownership is not kept (the squashfs writer makes everything root's);
// modes, symlinks and hard links are.
func Extract(debPath, dst string, opt Options) error {
	err := walkData(debPath, func(h *tar.Header, r io.Reader) error { return extractEntry(h, r, dst, opt) })
	if err != nil {
		return fmt.Errorf("extract %s: %w", filepath.Base(debPath), err)
	}
	return nil
}

// Control returns the control file of a .deb, for checking what a download is.
func Control(debPath string) (map[string]string, error) {
	f, err := os.Open(debPath)
	if err != nil {
		return nil, fmt.Errorf("read control: %w", err)
	}
	defer f.Close()
	var ctl map[string]string
	err = readAr(f, func(m arMember, body io.Reader) error {
		if !strings.HasPrefix(m.Name, "control.tar") {
			return nil
		}
		r, err := decompress(m.Name, body)
		if err != nil {
			return err
		}
		defer r.Close()
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return errors.New("control.tar has no control file")
			}
			if err != nil {
				return err
			}
			if path.Clean(h.Name) == "control" {
				b, err := io.ReadAll(io.LimitReader(tr, maxControl+1))
				if err != nil {
					return err
				}
				if len(b) > maxControl {
					return fmt.Errorf("control file over %d KiB", maxControl>>10)
				}
				stanzas := parseStanzas(string(b))
				if len(stanzas) == 0 {
					return errors.New("empty control file")
				}
				ctl = stanzas[0]
				return nil
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read control of %s: %w", filepath.Base(debPath), err)
	}
	return ctl, nil
}

// maxZstdWindow bounds the window a zstd member may ask for, which the
// decoder allocates at once: 14 bytes of frame header asking for the
// default limit, 512 MiB, got it. Ubuntu's dpkg compresses with zstd -19,
// an 8 MiB window (Debian's uses xz); 32 MiB leaves room for level 22.
const maxZstdWindow = 32 << 20

// maxControl bounds the control file Control reads whole: real ones are a
// few KiB, and a compressed control.tar may expand to gigabytes.
const maxControl = 1 << 20

// decompress reads a member by its name's suffix. The caller closes the
// reader: zstd's decoder holds its window until then.
func decompress(name string, r io.Reader) (io.ReadCloser, error) {
	switch {
	case strings.HasSuffix(name, ".xz"):
		// ulikunitz/xz allocates the dictionary the stream's block header
		// asks for, up to 4 GiB, and has no cap to set; Berth reads only
		// .debs and indexes whose sha256 a signed index gave.
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(xr), nil
	case strings.HasSuffix(name, ".zst"):
		// One goroutine (the decoder's own would outlive a reader nobody
		// closes) and a bounded window.
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderMaxMemory(maxZstdWindow*2))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case strings.HasSuffix(name, ".gz"):
		return gzip.NewReader(r)
	case strings.HasSuffix(name, ".tar"):
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("unknown compression: %s", name)
}

// extractEntry writes one entry of a data archive under dst.
func extractEntry(h *tar.Header, r io.Reader, dst string, opt Options) error {
	rel := path.Clean(strings.TrimPrefix(h.Name, "./"))
	if rel == "." || rel == "/" {
		return nil
	}
	if strings.HasPrefix(rel, "../") || rel == ".." || strings.HasPrefix(rel, "/") {
		return fmt.Errorf("unsafe path %q", h.Name)
	}
	rel = MergedUsr(rel)
	if opt.Keep != nil && !opt.Keep(rel) {
		return nil
	}
	// A link the archive made earlier (etc -> /etc) must not carry a later
	// entry (etc/passwd) out of the tree: the folder is resolved inside
	// dst, links and all, as if dst were /. The entry itself is not
	// resolved: it replaces whatever is there.
	dir, err := securejoin.SecureJoin(dst, path.Dir(rel))
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	target := filepath.Join(dir, path.Base(rel))
	// Folders the archive does not list get 0755, whatever the umask.
	if err := tree.MkdirAll(dir); err != nil {
		return err
	}
	mode := os.FileMode(h.Mode) & os.ModePerm
	if h.Mode&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	if h.Mode&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if h.Mode&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if err := tree.MkdirAll(target); err != nil {
			return err
		}
		return os.Chmod(target, mode|0o200)
	case tar.TypeReg:
		if err := os.Remove(target); err != nil && !os.IsNotExist(err) {
			return err
		}
		f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return os.Chmod(target, mode)
	case tar.TypeSymlink:
		if err := os.Remove(target); err != nil && !os.IsNotExist(err) {
			return err
		}
		return os.Symlink(h.Linkname, target)
	case tar.TypeLink:
		// A hard link may only name a file of the tree: a link to ../../etc/shadow
		// would copy the build machine's file into the image.
		ln := path.Clean(strings.TrimPrefix(h.Linkname, "./"))
		if ln == ".." || strings.HasPrefix(ln, "../") || strings.HasPrefix(ln, "/") {
			return fmt.Errorf("unsafe hard link %q -> %q", h.Name, h.Linkname)
		}
		src, err := securejoin.SecureJoin(dst, MergedUsr(ln))
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		if err := os.Remove(target); err != nil && !os.IsNotExist(err) {
			return err
		}
		return os.Link(src, target)
	}
	// Device nodes and fifos are not shipped in the packages we use.
	return nil
}

// WalkData calls fn for every entry of the .deb's data archive, in order.
func WalkData(debPath string, fn func(h *tar.Header, r io.Reader) error) error {
	if err := walkData(debPath, fn); err != nil {
		return fmt.Errorf("read data of %s: %w", filepath.Base(debPath), err)
	}
	return nil
}

func walkData(debPath string, fn func(h *tar.Header, r io.Reader) error) error {
	f, err := os.Open(debPath)
	if err != nil {
		return err
	}
	defer f.Close()
	found := false
	err = readAr(f, func(m arMember, body io.Reader) error {
		if !strings.HasPrefix(m.Name, "data.tar") {
			return nil
		}
		found = true
		r, err := decompress(m.Name, body)
		if err != nil {
			return err
		}
		defer r.Close()
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := fn(h, tr); err != nil {
				return err
			}
		}
	})
	if err == nil && !found {
		err = errors.New("no data.tar member")
	}
	return err
}
