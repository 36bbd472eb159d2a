// Package tree assembles a root filesystem in a staging directory: the
// merged-/usr skeleton, files copied or hard-linked from cached stages,
// generated files, and busybox applet links.
package tree

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Tree is a root filesystem under construction at Root.
type Tree struct {
	Root string
}

// Skeleton makes the merged-/usr layout and the usual top-level folders.
func (t *Tree) Skeleton() error {
	for _, d := range []string{"usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "proc", "sys", "dev", "run", "tmp", "var", "root", "home", "opt", "mnt", "media", "srv"} {
		if err := t.Dir(d, 0o755); err != nil {
			return err
		}
	}
	os.Chmod(filepath.Join(t.Root, "tmp"), 0o1777)
	os.Chmod(filepath.Join(t.Root, "root"), 0o700)
	for _, l := range [][2]string{{"bin", "usr/bin"}, {"sbin", "usr/sbin"}, {"lib", "usr/lib"}, {"lib64", "usr/lib64"}} {
		if err := t.Symlink(l[0], l[1]); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tree) path(rel string) string {
	return filepath.Join(t.Root, strings.TrimPrefix(rel, "/"))
}

// Dir makes a directory and its parents.
func (t *Tree) Dir(rel string, mode os.FileMode) error {
	p := t.path(rel)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

// File writes a file.
func (t *Tree) File(rel string, data []byte, mode os.FileMode) error {
	p := t.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	os.Remove(p)
	if err := os.WriteFile(p, data, mode); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

// Symlink makes rel point at target, replacing what is there.
func (t *Tree) Symlink(rel, target string) error {
	p := t.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	os.Remove(p)
	return os.Symlink(target, p)
}

// Remove deletes rel and everything under it.
func (t *Tree) Remove(rel string) error {
	return os.RemoveAll(t.path(rel))
}

// Exists says whether rel exists (a dangling symlink counts).
func (t *Tree) Exists(rel string) bool {
	_, err := os.Lstat(t.path(rel))
	return err == nil
}

// Install copies (or hard-links, when on the same filesystem) the file src
// to rel with mode.
func (t *Tree) Install(src, rel string, mode os.FileMode) error {
	p := t.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	os.Remove(p)
	if err := copyFile(src, p, mode); err != nil {
		return fmt.Errorf("install %s: %w", rel, err)
	}
	return nil
}

// Merge copies the tree at src over rel (usually "/"), keeping modes and
// symlinks; files are hard-linked when possible (the source is a read-only
// cache stage, so nothing writes through the link).
func (t *Tree) Merge(src, rel string) error {
	dst := t.path(rel)
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, r)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if st, err := os.Lstat(target); err == nil && st.Mode()&fs.ModeSymlink != 0 {
				return nil // e.g. bin → usr/bin: merge through the link
			}
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			return os.Chmod(target, info.Mode()&(fs.ModePerm|fs.ModeSticky|fs.ModeSetgid))
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if st, err := os.Lstat(target); err == nil && st.IsDir() {
				return nil // keep a real directory over a link
			}
			os.Remove(target)
			return os.Symlink(l, target)
		default:
			os.Remove(target)
			if err := os.Link(p, target); err == nil {
				return nil
			}
			return copyFile(p, target, info.Mode())
		}
	})
}

func copyFile(src, dst string, mode os.FileMode) error {
	if err := os.Link(src, dst); err == nil {
		st, _ := os.Stat(dst)
		if st.Mode().Perm() == mode.Perm() {
			return nil
		}
		os.Remove(dst)
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}

// BusyboxLinks adds a symlink for every busybox applet that has no file
// yet; real programs (e.g. e2fsprogs' mke2fs) win over applets.
func (t *Tree) BusyboxLinks(busybox string) (int, error) {
	out, err := exec.Command(t.path(busybox), "--list-full").Output()
	if err != nil {
		return 0, fmt.Errorf("busybox --list-full: %w", err)
	}
	n := 0
	for _, applet := range strings.Fields(string(out)) {
		rel := mergedUsr(applet)
		if t.Exists(rel) {
			continue
		}
		target, _ := filepath.Rel(filepath.Dir("/"+rel), "/"+strings.TrimPrefix(busybox, "/"))
		if err := t.Symlink(rel, target); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func mergedUsr(p string) string {
	p = strings.TrimPrefix(p, "/")
	for _, d := range []string{"bin/", "sbin/", "lib/"} {
		if strings.HasPrefix(p, d) {
			return "usr/" + p
		}
	}
	return p
}
