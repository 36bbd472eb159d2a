// Package console writes PID 1's messages to every kernel console and runs
// the rescue shell, after root's password unless the image allows one
// without (rescue.go).
package console

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Writer writes to every active kernel console (console= on the command
// line), not only to /dev/console, which is just the last of them.
type Writer struct {
	mu    sync.Mutex
	paths []string
	files []*os.File // nil where the device could not be opened
}

// Active lists the active consoles' device paths from sysfs, /dev/console
// when sysfs says nothing.
func Active(sysfs, dev string) []string {
	b, err := os.ReadFile(filepath.Join(sysfs, "class/tty/console/active"))
	var out []string
	if err == nil {
		for _, name := range strings.Fields(string(b)) {
			out = append(out, filepath.Join(dev, name))
		}
	}
	if len(out) == 0 {
		out = []string{filepath.Join(dev, "console")}
	}
	return out
}

// Open opens the given console devices for writing; ones that fail to
// open are left out.
func Open(paths []string) *Writer {
	w := &Writer{paths: paths, files: make([]*os.File, len(paths))}
	for i := range paths {
		w.files[i] = openTTY(paths[i])
	}
	return w
}

func openTTY(p string) *os.File {
	f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil
	}
	return f
}

// Write writes p to every console; it never fails, since a dead console
// must not stop PID 1. When a login session on a tty ends, the kernel hangs
// the tty up and every open file of it fails with EIO: such a file is
// opened again and the write retried.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, f := range w.files {
		if f != nil {
			if _, err := f.Write(p); err == nil {
				continue
			}
			f.Close()
		}
		if w.files[i] = openTTY(w.paths[i]); w.files[i] != nil {
			w.files[i].Write(p)
		}
	}
	return len(p), nil
}
