package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrSymlink is the error for a path that goes through a symbolic link
// where WriteIn and MkdirIn follow none.
var ErrSymlink = errors.New("a symbolic link on the way; not following it")

// beneath is how WriteIn and MkdirIn resolve each step: never above the
// folder they start from, never through a symbolic link (openat2(2)). A
// user who owns a folder on the way (their home) cannot point root's write
// somewhere else.
var beneath = unix.OpenHow{
	Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
	Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
}

// MkdirIn makes the folders of rel (a slash path) below root that are
// missing, with perm, following no symbolic link, and returns the last one
// open. The caller closes it.
func MkdirIn(root, rel string, perm os.FileMode) (*os.File, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	done := "/"
	for _, c := range strings.Split(path.Clean("/"+rel), "/") {
		if c == "" {
			continue
		}
		done = path.Join(done, c)
		next, err := unix.Openat2(fd, c, &beneath)
		if errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(fd, c, uint32(perm.Perm())); err == nil || errors.Is(err, unix.EEXIST) {
				next, err = unix.Openat2(fd, c, &beneath)
			}
		}
		unix.Close(fd)
		switch {
		case isLink(err):
			return nil, fmt.Errorf("%s: %w", done, ErrSymlink)
		case err != nil:
			return nil, fmt.Errorf("%s: %w", done, err)
		}
		fd = next
	}
	return os.NewFile(uintptr(fd), path.Join(root, rel)), nil
}

// WriteIn replaces the file rel below root with data, as Write does (temp
// file, fsync, rename, fsync of the folder), following no symbolic link:
// missing folders are made with dirPerm, and a link where the file is, is
// replaced, not followed. With uid >= 0 the file gets that owner.
func WriteIn(root, rel string, data []byte, perm, dirPerm os.FileMode, uid, gid int) error {
	rel = path.Clean("/" + rel)
	dir, err := MkdirIn(root, path.Dir(rel), dirPerm)
	if err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	defer dir.Close()
	dfd := int(dir.Fd())
	name := path.Base(rel)
	var tmp string
	var fd int
	for i := 0; ; i++ {
		tmp = fmt.Sprintf(".%s.tmp%d-%d", name, os.Getpid(), i)
		fd, err = unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
		if !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	fail := func(err error) error {
		f.Close()
		unix.Unlinkat(dfd, tmp, 0)
		return fmt.Errorf("write %s: %w", rel, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if uid >= 0 {
		if err := f.Chown(uid, gid); err != nil {
			return fail(err)
		}
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := unix.Renameat(dfd, tmp, dfd, name); err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return fmt.Errorf("write %s: %w", rel, err)
	}
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", rel, err)
	}
	return nil
}

// ReadIn reads the file rel below root, following no symbolic link; a
// missing file is empty.
func ReadIn(root, rel string) ([]byte, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	how := unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: beneath.Resolve}
	ffd, err := unix.Openat2(fd, strings.TrimPrefix(path.Clean("/"+rel), "/"), &how)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil, nil
	case isLink(err):
		return nil, fmt.Errorf("read %s: %w", rel, ErrSymlink)
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", rel, err)
	}
	f := os.NewFile(uintptr(ffd), rel)
	defer f.Close()
	return readAllCapped(f)
}

// maxRead bounds what ReadIn reads.
const maxRead = 64 << 20

func readAllCapped(f *os.File) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, maxRead+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxRead {
		return nil, fmt.Errorf("read %s: over %d MiB", f.Name(), maxRead>>20)
	}
	return b, nil
}

// ChownIn sets the owner of rel below root, following no symbolic link on
// the way, nor rel itself if it is one.
func ChownIn(root, rel string, uid, gid int) error {
	rel = path.Clean("/" + rel)
	full := path.Join(root, rel)
	dir, err := openIn(root, path.Dir(rel))
	if err != nil {
		return fmt.Errorf("chown %s: %w", full, err)
	}
	defer unix.Close(dir)
	base := path.Base(rel)
	if rel == "/" {
		base = "."
	}
	if err := unix.Fchownat(dir, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %s: %w", full, err)
	}
	return nil
}

// openIn opens the folder rel below root, following no symbolic link.
func openIn(root, rel string) (int, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	rel = strings.TrimPrefix(path.Clean("/"+rel), "/")
	if rel == "" {
		return fd, nil
	}
	defer unix.Close(fd)
	next, err := unix.Openat2(fd, rel, &beneath)
	if isLink(err) {
		return -1, fmt.Errorf("%s: %w", rel, ErrSymlink)
	}
	return next, err
}

// isLink says whether openat2 refused a step because it is a symbolic link
// (ELOOP) or would leave the starting folder (EXDEV).
func isLink(err error) bool {
	return errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV)
}
