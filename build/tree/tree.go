// Package tree assembles a root filesystem in a staging directory: the
// merged-/usr skeleton, files copied or hard-linked from cached stages,
// generated files, and busybox applet links. A layout is data: a list of
// steps (Skeleton, Merge, Install, File, Dir, Symlink...), each printing
// itself, applied in order (steps.go).
//
// Every file and folder gets the mode asked for, whatever the umask: the
// tree becomes a squashfs, and its bytes must not depend on who builds.
package tree

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Tree is a root filesystem under construction at Root.
type Tree struct {
	Root string
}

// Skeleton makes the merged-/usr layout and the usual top-level folders.
func (t *Tree) Skeleton() error {
	if err := MkdirAll(t.Root); err != nil {
		return fmt.Errorf("skeleton: %w", err)
	}
	if err := os.Chmod(t.Root, 0o755); err != nil {
		return fmt.Errorf("skeleton: %w", err)
	}
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{
		{"usr", 0o755}, {"usr/bin", 0o755}, {"usr/sbin", 0o755}, {"usr/lib", 0o755}, {"usr/lib64", 0o755},
		{"etc", 0o755}, {"proc", 0o755}, {"sys", 0o755}, {"dev", 0o755}, {"run", 0o755}, {"tmp", os.ModeSticky | 0o777},
		{"var", 0o755}, {"root", 0o700}, {"home", 0o755}, {"opt", 0o755}, {"mnt", 0o755}, {"media", 0o755}, {"srv", 0o755},
	} {
		if err := t.Dir(d.path, d.mode); err != nil {
			return fmt.Errorf("skeleton: %w", err)
		}
	}
	for _, l := range [][2]string{{"bin", "usr/bin"}, {"sbin", "usr/sbin"}, {"lib", "usr/lib"}, {"lib64", "usr/lib64"}} {
		if err := t.Symlink(l[0], l[1]); err != nil {
			return fmt.Errorf("skeleton: %w", err)
		}
	}
	return nil
}

func (t *Tree) path(rel string) string {
	return filepath.Join(t.Root, strings.TrimPrefix(rel, "/"))
}

// MkdirAll makes dir and its missing parents with mode 0755, whatever the
// umask.
func MkdirAll(dir string) error {
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return &os.PathError{Op: "mkdir", Path: dir, Err: fs.ErrExist}
		}
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := MkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if os.IsExist(err) {
			return nil
		}
		return err
	}
	return os.Chmod(dir, 0o755)
}

// WriteFile writes a file with exactly mode, making its folder.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	if err := MkdirAll(filepath.Dir(path)); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// Dir makes a directory and its parents.
func (t *Tree) Dir(rel string, mode os.FileMode) error {
	p := t.path(rel)
	if err := MkdirAll(p); err != nil {
		return fmt.Errorf("dir %s: %w", rel, err)
	}
	if err := os.Chmod(p, mode); err != nil {
		return fmt.Errorf("dir %s: %w", rel, err)
	}
	return nil
}

// File writes a file.
func (t *Tree) File(rel string, data []byte, mode os.FileMode) error {
	p := t.path(rel)
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("file %s: %w", rel, err)
	}
	if err := WriteFile(p, data, mode); err != nil {
		return fmt.Errorf("file %s: %w", rel, err)
	}
	return nil
}

// Symlink makes rel point at target, replacing what is there.
func (t *Tree) Symlink(rel, target string) error {
	return t.replace("symlink", rel, func(p string) error { return os.Symlink(target, p) })
}

// replace makes rel anew with mk, given its path: its folder is made,
// and whatever was at rel before is removed. Errors name the verb and rel.
func (t *Tree) replace(verb, rel string, mk func(path string) error) error {
	p := t.path(rel)
	if err := MkdirAll(filepath.Dir(p)); err != nil {
		return fmt.Errorf("%s %s: %w", verb, rel, err)
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("%s %s: %w", verb, rel, err)
	}
	if err := mk(p); err != nil {
		return fmt.Errorf("%s %s: %w", verb, rel, err)
	}
	return nil
}

// HardLink makes rel a hard link to target, a regular file of the tree.
func (t *Tree) HardLink(rel, target string) error {
	src := t.path(target)
	fi, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("hard link %s: %w", rel, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("hard link %s: %s is not a regular file (mode %s)", rel, target, fi.Mode())
	}
	return t.replace("hard link", rel, func(p string) error { return os.Link(src, p) })
}

// LinkSame makes every regular file that has the contents and mode of
// one met before (in lexical order) a hard link to it, and returns how many
// it linked and their bytes. mksquashfs stores identical files once
// anyway; as one inode they are also read, decompressed and cached once
// when several programs map them (a service's libc and the host's).
// Only the tree's names change: a file that is a link into a cache stage
// stays as it is there.
func (t *Tree) LinkSame() (n int, size int64, err error) {
	type shape struct {
		size int64
		mode fs.FileMode
	}
	type file struct {
		path string
		ino  uint64
	}
	byShape := map[shape][]file{}
	var order []shape
	err = filepath.WalkDir(t.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no inode number", p)
		}
		k := shape{info.Size(), info.Mode()}
		if _, seen := byShape[k]; !seen {
			order = append(order, k)
		}
		byShape[k] = append(byShape[k], file{p, st.Ino})
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("link identical files: %w", err)
	}
	for _, k := range order {
		files := byShape[k]
		if len(files) < 2 || k.size == 0 {
			continue
		}
		first := map[[sha256.Size]byte]file{}
		sums := map[uint64][sha256.Size]byte{} // by inode: links are read once
		for _, f := range files {
			sum, ok := sums[f.ino]
			if !ok {
				if sum, err = fileSum(f.path); err != nil {
					return n, size, fmt.Errorf("link identical files: %w", err)
				}
				sums[f.ino] = sum
			}
			orig, ok := first[sum]
			if !ok {
				first[sum] = f
				continue
			}
			if orig.ino == f.ino {
				continue
			}
			tmp := f.path + ".link-same"
			if err := os.Link(orig.path, tmp); err != nil {
				return n, size, fmt.Errorf("link identical files: %w", err)
			}
			if err := os.Rename(tmp, f.path); err != nil {
				return n, size, fmt.Errorf("link identical files: %w", err)
			}
			n++
			size += k.size
		}
	}
	return n, size, nil
}

func fileSum(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// Remove deletes rel and everything under it.
func (t *Tree) Remove(rel string) error {
	if err := os.RemoveAll(t.path(rel)); err != nil {
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	return nil
}

// Exists says whether rel exists (a dangling symlink counts).
func (t *Tree) Exists(rel string) bool {
	_, err := os.Lstat(t.path(rel))
	return err == nil
}

// Install copies (or hard-links, when on the same filesystem and the mode
// is already right) the file src to rel with mode.
func (t *Tree) Install(src, rel string, mode os.FileMode) error {
	return t.replace("install", rel, func(p string) error { return copyFile(src, p, mode) })
}

// Merge copies the tree at src over rel (usually "/"), keeping modes and
// symlinks; files are hard-linked when possible (the source is a read-only
// cache stage, so nothing writes through the link).
func (t *Tree) Merge(src, rel string) error {
	dst := t.path(rel)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
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
			if err := MkdirAll(target); err != nil {
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
			if err := os.Remove(target); err != nil && !os.IsNotExist(err) {
				return err
			}
			return os.Symlink(l, target)
		default:
			if err := os.Remove(target); err != nil && !os.IsNotExist(err) {
				return err
			}
			if err := os.Link(p, target); err == nil {
				return nil
			}
			return copyFile(p, target, info.Mode())
		}
	})
	if err != nil {
		return fmt.Errorf("merge %s into %s: %w", src, rel, err)
	}
	return nil
}

// LinkOrCopy puts the file src at dst, making dst's folder: a hard link
// when it can, else a copy with src's mode.
func LinkOrCopy(src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if err := MkdirAll(filepath.Dir(dst)); err != nil {
		return err
	}
	if err := os.Remove(dst); err != nil && !os.IsNotExist(err) {
		return err
	}
	return copyFile(src, dst, st.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid))
}

func copyFile(src, dst string, mode os.FileMode) error {
	if err := os.Link(src, dst); err == nil {
		st, err := os.Stat(dst)
		if err == nil && st.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid) == mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid) {
			return nil
		}
		if err := os.Remove(dst); err != nil {
			return err
		}
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
		target, err := filepath.Rel(filepath.Dir("/"+rel), "/"+strings.TrimPrefix(busybox, "/"))
		if err != nil {
			return n, fmt.Errorf("busybox link %s: %w", rel, err)
		}
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
