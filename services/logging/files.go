package logging

import (
	"container/list"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// fileMode is the mode of new log files: readable by the adm-like group, not
// by everyone, since service output can hold secrets.
const fileMode = 0o640

// errBadFileName is the kind of error Append returns for a name that is not
// a plain file name in the log directory (empty, hidden, or with a slash).
var errBadFileName = errors.New("not a log file name")

// fileSet appends lines to the log files of one directory. It keeps up to
// maxOpen handles open (closing the least recently used), and rotates a file
// to name.1 ... name.keep before a write would make it larger than maxSize.
// It is safe for concurrent use.
type fileSet struct {
	dir     string
	maxSize int64
	keep    int
	maxOpen int
	log     *log.Logger

	mu      sync.Mutex
	open    map[string]*openFile
	lru     list.List      // of *openFile, most recently used first
	failing map[string]int // failed writes in a row, by name
}

type openFile struct {
	name string
	f    *os.File
	size int64
	elem *list.Element
}

func newFileSet(dir string, maxSize int64, keep, maxOpen int, logger *log.Logger) *fileSet {
	return &fileSet{
		dir:     dir,
		maxSize: maxSize,
		keep:    keep,
		maxOpen: max(maxOpen, 1),
		log:     logger,
		open:    map[string]*openFile{},
		failing: map[string]int{},
	}
}

// Append writes line (which ends in a newline) to the file name. A failure
// is logged, once for a run of failures on the same file; the file is
// reopened for the next line, so a later write can succeed.
func (s *fileSet) Append(name, line string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.append(name, line)
	if err != nil {
		if s.failing[name] == 0 {
			s.log.Printf("%v (further failures on %s are only counted until a write succeeds)", err, name)
		}
		s.failing[name]++
		return err
	}
	if n := s.failing[name]; n > 0 {
		s.log.Printf("write %s: working again after %d failed writes", filepath.Join(s.dir, name), n)
		delete(s.failing, name)
	}
	return nil
}

func (s *fileSet) append(name, line string) error {
	if name == "" || name[0] == '.' || strings.ContainsRune(name, '/') {
		return fmt.Errorf("write %q: %w", name, errBadFileName)
	}
	f, err := s.get(name)
	if err != nil {
		return err
	}
	if f.size > 0 && f.size+int64(len(line)) > s.maxSize {
		if err := s.rotate(f); err != nil {
			return err
		}
		if f, err = s.get(name); err != nil {
			return err
		}
	}
	n, err := f.f.WriteString(line)
	f.size += int64(n)
	if err != nil {
		s.close(f)
		return err // an *os.PathError: "write <path>: <cause>"
	}
	return nil
}

// get returns the open file name, opening it if needed.
func (s *fileSet) get(name string) (*openFile, error) {
	if f, ok := s.open[name]; ok {
		s.lru.MoveToFront(f.elem)
		return f, nil
	}
	for len(s.open) >= s.maxOpen {
		s.close(s.lru.Back().Value.(*openFile))
	}
	path := filepath.Join(s.dir, name)
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("open log file: %w", err)
	}
	f := &openFile{name: name, f: fh, size: fi.Size()}
	f.elem = s.lru.PushFront(f)
	s.open[name] = f
	return f, nil
}

// close closes f and forgets it.
func (s *fileSet) close(f *openFile) error {
	s.lru.Remove(f.elem)
	delete(s.open, f.name)
	return f.f.Close()
}

// rotate closes f and shifts name.(keep-1) to name.keep, ..., name to
// name.1, dropping the oldest. With keep 0 the file is removed.
func (s *fileSet) rotate(f *openFile) error {
	s.close(f)
	path := filepath.Join(s.dir, f.name)
	if s.keep == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate %s: %w", path, err)
		}
		return nil
	}
	for i := s.keep - 1; i >= 0; i-- {
		from := path
		if i > 0 {
			from += "." + strconv.Itoa(i)
		}
		to := path + "." + strconv.Itoa(i+1)
		if err := os.Rename(from, to); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate %s: %w", path, err)
		}
	}
	return nil
}

// Sync flushes the file name to disk, if it is open.
func (s *fileSet) Sync(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.open[name]
	if !ok {
		return nil
	}
	return f.f.Sync()
}

// Close syncs and closes every open file.
func (s *fileSet) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, f := range s.open {
		if err := f.f.Sync(); err != nil {
			errs = append(errs, err)
		}
		if err := s.close(f); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// openCount is how many handles are open, for tests.
func (s *fileSet) openCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}
