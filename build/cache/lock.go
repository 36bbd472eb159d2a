package cache

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

const (
	lockShared    = unix.LOCK_SH
	lockExclusive = unix.LOCK_EX
	// tryExclusive fails with errBusy instead of waiting.
	tryExclusive = unix.LOCK_EX | unix.LOCK_NB
)

// errBusy means another build holds the lock.
var errBusy = errors.New("in use by another build")

// lockFile locks the file at path (making it when missing) and returns it
// open; closing it unlocks. Prune removes a lock file while holding it
// exclusively, so a lock granted on a file that is no longer at path is
// worthless: lockFile then starts again on the new one.
func lockFile(path string, how int) (*os.File, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := unix.Flock(int(f.Fd()), how); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, errBusy
			}
			return nil, &os.PathError{Op: "flock", Path: path, Err: err}
		}
		var held, now unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &held); err != nil {
			f.Close()
			return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
		}
		if err := unix.Stat(path, &now); err == nil && now.Dev == held.Dev && now.Ino == held.Ino {
			return f, nil
		}
		f.Close()
	}
}

// stamp sets a file's mtime to now: the entry it stands for was used. A
// cache shared read-only (another user's downloads) cannot be stamped,
// which only makes its entries look older to a prune of that cache.
func stamp(path string) error {
	now := time.Now()
	err := os.Chtimes(path, now, now)
	if errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EROFS) {
		return nil
	}
	return err
}
