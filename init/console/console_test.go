package console

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestActiveAndWriter(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(sys, "class/tty/console"), 0o755)
	os.WriteFile(filepath.Join(sys, "class/tty/console/active"), []byte("tty0 ttyS0\n"), 0o644)
	got := Active(sys, dev)
	want := []string{filepath.Join(dev, "tty0"), filepath.Join(dev, "ttyS0")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
	for _, p := range got {
		os.WriteFile(p, nil, 0o644)
	}
	w := Open(append(got, filepath.Join(dev, "missing")))
	w.Write([]byte("berth: ready in 1.00s (x)\n"))
	if !w.Flush(5 * time.Second) {
		t.Fatal("not flushed after 5 s")
	}
	for _, p := range got {
		b, _ := os.ReadFile(p)
		if string(b) != "berth: ready in 1.00s (x)\n" {
			t.Errorf("%s got %q", p, b)
		}
	}
	if diff := cmp.Diff([]string{filepath.Join(dev, "console")}, Active(t.TempDir(), dev)); diff != "" {
		t.Errorf("fallback (-want +got)\n%s", diff)
	}
}

// stuck is a console that blocks every write until released, as a serial
// line after Ctrl-S (XOFF) does.
type stuck struct {
	mu      sync.Mutex
	b       strings.Builder
	entered chan struct{} // a write has begun
	release chan struct{}
}

func (s *stuck) Write(p []byte) (int, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *stuck) Close() error { return nil }
func (s *stuck) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A console that does not drain stalls neither the writer nor the other
// consoles: its oldest lines are dropped, counted, and reported on it once
// it drains again.
func TestStalledConsole(t *testing.T) {
	serial := &stuck{entered: make(chan struct{}, 1), release: make(chan struct{})}
	vga := &stuck{entered: make(chan struct{}, 1000), release: make(chan struct{})}
	close(vga.release)
	w := open([]string{"ttyS0", "tty0"}, func(p string) (io.WriteCloser, error) {
		if p == "ttyS0" {
			return serial, nil
		}
		return vga, nil
	}, 16, 1<<20)
	line := func(i int) string { return fmt.Sprintf("berth: line %d\n", i) }
	go w.Write([]byte(line(0))) // a blocking Write fails the test below, not hangs it
	select {
	case <-serial.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the console was never written to")
	}
	// The serial console now blocks in its write of line 0 for ever.
	start := time.Now()
	wrote := make(chan struct{})
	go func() {
		for i := 1; i <= 1000; i++ {
			w.Write([]byte(line(i)))
		}
		close(wrote)
	}()
	select {
	case <-wrote:
	case <-time.After(5 * time.Second):
		close(serial.release) // let the blocked writes go, for the next tests
		t.Fatal("writes to a stalled console block the caller")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("1000 writes to a stalled console took %s", took)
	}
	w.cons[0].mu.Lock()
	serialDropped := w.cons[0].total
	w.cons[0].mu.Unlock()
	if serialDropped != 1000-16 || w.Dropped() < serialDropped {
		t.Errorf("dropped %d lines on the stalled console (%d in all), want %d (all but the 16 queued)", serialDropped, w.Dropped(), 1000-16)
	}
	// The other console is not held up: it gets the newest line (it may
	// have dropped some, being slower than this loop).
	deadline := time.Now().Add(5 * time.Second)
	for !strings.HasSuffix(vga.String(), line(1000)) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := vga.String(); !strings.HasSuffix(got, line(1000)) {
		t.Errorf("the other console got %d bytes, not up to line 1000", len(got))
	}
	if w.Flush(50 * time.Millisecond) {
		t.Error("Flush says a stalled console is flushed")
	}
	// Ctrl-Q: the console drains, and says what it lost.
	close(serial.release)
	if !w.Flush(5 * time.Second) {
		t.Fatal("not flushed after the console drained")
	}
	want := line(0) + "berth: 984 console lines dropped\n"
	for i := 985; i <= 1000; i++ {
		want += line(i)
	}
	if got := serial.String(); got != want {
		t.Errorf("serial console got:\n%s\nwant:\n%s", got, want)
	}
}

// A console whose write fails (a tty hung up: EIO) is opened again, and
// the write retried; one that cannot be opened loses its lines, nothing
// else.
func TestConsoleReopened(t *testing.T) {
	var mu sync.Mutex
	opens := 0
	good := &stuck{entered: make(chan struct{}, 10), release: make(chan struct{})}
	close(good.release)
	w := open([]string{"ttyS0"}, func(string) (io.WriteCloser, error) {
		mu.Lock()
		defer mu.Unlock()
		opens++
		switch opens {
		case 1:
			return hungUp{}, nil
		case 2:
			return nil, errors.New("no such device")
		}
		return good, nil
	}, 16, 1<<20)
	for _, l := range []string{"a\n", "b\n", "c\n"} {
		w.Write([]byte(l))
		w.Flush(5 * time.Second)
	}
	mu.Lock()
	defer mu.Unlock()
	// a: written to a hung-up tty; b: that fails, and opening it again
	// too; c: opened again, written.
	if got := good.String(); got != "c\n" || opens != 3 {
		t.Errorf("got %q after %d opens, want %q after 3", got, opens, "c\n")
	}
}

type hungUp struct{}

func (hungUp) Write([]byte) (int, error) { return 0, errors.New("input/output error") }
func (hungUp) Close() error              { return nil }
