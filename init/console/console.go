// Package console writes PID 1's messages to every kernel console, without
// ever making PID 1 wait for one, and runs the rescue shell, after root's
// password unless the image allows one without (rescue.go).
package console

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Writer writes to every active kernel console (console= on the command
// line), not only to /dev/console, which is just the last of them.
//
// Its writes never block the caller: each console has a bounded queue
// that a goroutine of its own drains, so that a console that does not
// drain (Ctrl-S on a serial line, a stuck terminal) stalls nothing but
// itself, not boot, alerts or shutdown. When a queue is full its oldest
// writes are dropped and counted, and the console reads "berth: N console
// lines dropped" where they were, once it drains again.
type Writer struct {
	cons []*sink
}

// Queue bounds per console: PID 1's messages of a slow boot fit.
const (
	queueWrites = 1024
	queueBytes  = 256 << 10
)

// sink is one console: its queue and the goroutine that drains it.
type sink struct {
	path string
	open func(path string) (io.WriteCloser, error)
	f    io.WriteCloser // the drainer's alone

	maxWrites, maxBytes int

	mu      sync.Mutex
	queue   [][]byte
	size    int
	dropped int  // lines dropped since the console last read the count
	total   int  // lines dropped since Open
	busy    bool // the drainer is writing
	wake    chan struct{}
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

// Open starts a writer to the given console devices. Each is opened by
// its drainer when there is something to write, and opened again after a
// failed write; one that cannot be opened loses the writes meant for it.
func Open(paths []string) *Writer {
	return open(paths, func(p string) (io.WriteCloser, error) { return openTTY(p) }, queueWrites, queueBytes)
}

func open(paths []string, openf func(string) (io.WriteCloser, error), maxWrites, maxBytes int) *Writer {
	w := &Writer{}
	for _, p := range paths {
		s := &sink{path: p, open: openf, maxWrites: maxWrites, maxBytes: maxBytes, wake: make(chan struct{}, 1)}
		w.cons = append(w.cons, s)
		go s.drain()
	}
	return w
}

func openTTY(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_WRONLY|syscall.O_NOCTTY, 0)
}

// Write queues p for every console and returns at once; it never fails,
// since a dead or stalled console must not stop PID 1.
func (w *Writer) Write(p []byte) (int, error) {
	for _, s := range w.cons {
		s.put(p)
	}
	return len(p), nil
}

// Dropped counts the lines dropped since Open, on all consoles.
func (w *Writer) Dropped() int {
	n := 0
	for _, s := range w.cons {
		s.mu.Lock()
		n += s.total
		s.mu.Unlock()
	}
	return n
}

// Flush waits until every console has written what is queued, for at
// most timeout (before a reboot, say); false means some have not.
func (w *Writer) Flush(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		idle := true
		for _, s := range w.cons {
			s.mu.Lock()
			idle = idle && len(s.queue) == 0 && !s.busy
			s.mu.Unlock()
		}
		if idle {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// put queues a copy of p, dropping the oldest writes past the bounds.
func (s *sink) put(p []byte) {
	b := bytes.Clone(p)
	s.mu.Lock()
	s.queue = append(s.queue, b)
	s.size += len(b)
	for len(s.queue) > 1 && (len(s.queue) > s.maxWrites || s.size > s.maxBytes) {
		old := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.size -= len(old)
		n := max(bytes.Count(old, []byte("\n")), 1)
		s.dropped += n
		s.total += n
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// drain writes the queue to the console for as long as PID 1 runs; a
// panic in it is survived.
func (s *sink) drain() {
	defer func() {
		if r := recover(); r != nil {
			s.mu.Lock()
			s.busy = false
			s.mu.Unlock()
			go s.drain()
		}
	}()
	for range s.wake {
		for {
			s.mu.Lock()
			if len(s.queue) == 0 {
				s.busy = false
				s.mu.Unlock()
				break
			}
			var note []byte
			if s.dropped > 0 {
				note = fmt.Appendf(nil, "berth: %d console lines dropped\n", s.dropped)
				s.dropped = 0
			}
			p := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.size -= len(p)
			s.busy = true
			s.mu.Unlock()
			if note != nil {
				s.write(note)
			}
			s.write(p)
		}
	}
}

// write writes p to the console. When a login session on a tty ends, the
// kernel hangs the tty up and every open file of it fails with EIO: such
// a file is opened again and the write retried.
func (s *sink) write(p []byte) {
	if s.f != nil {
		if _, err := s.f.Write(p); err == nil {
			return
		}
		s.f.Close()
		s.f = nil
	}
	f, err := s.open(s.path)
	if err != nil {
		return
	}
	s.f = f
	f.Write(p)
}
