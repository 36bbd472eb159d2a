package build

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-os/berth/build/tree"
	"golang.org/x/sys/unix"
)

// setTimes sets the mtime and atime of everything under dir to epoch.
func setTimes(dir string, epoch int64) error {
	t := time.Unix(epoch, 0)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		return os.Chtimes(p, t, t)
	})
	if err != nil {
		return fmt.Errorf("set times under %s: %w", dir, err)
	}
	return nil
}

// writeFile writes a file with mode 0644, making its folder.
func writeFile(path string, data []byte) error { return tree.WriteFile(path, data, 0o644) }

// sparseCopy copies src to dst (mode 0644) through a temp file, skipping
// holes, so a 2 GiB raw image with 100 MiB of data costs 100 MiB of writes.
func sparseCopy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := copyData(in, out, st.Size()); err != nil {
		out.Close()
		return err
	}
	if err := out.Chmod(0o644); err != nil { // whatever the umask
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// copyData copies the data extents of in (size bytes) to out.
func copyData(in, out *os.File, size int64) error {
	if err := out.Truncate(size); err != nil {
		return err
	}
	var off int64
	for off < size {
		data, err := unix.Seek(int(in.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			return err
		}
		hole, err := unix.Seek(int(in.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return err
		}
		if _, err := in.Seek(data, io.SeekStart); err != nil {
			return err
		}
		if _, err := out.Seek(data, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.CopyN(out, in, hole-data); err != nil {
			return err
		}
		off = hole
	}
	return nil
}
