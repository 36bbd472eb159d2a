// Package progress shows what a long build is doing: bars on a terminal,
// plain timestamped lines elsewhere (CI logs, pipes).
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// Reporter starts tasks and prints notes.
type Reporter interface {
	// Start begins a task. total is a byte or step count, or 0 when unknown.
	Start(name string, total int64) Task
	// Logf prints one line above any bars.
	Logf(format string, args ...any)
	// Close waits for bars to finish drawing.
	Close()
}

// Task is one unit of work being reported.
type Task interface {
	io.Writer // counts bytes written towards total
	Add(n int64)
	SetTotal(total int64)
	// Done ends the task; note is shown after it, e.g. "cached".
	Done(note string)
	Fail(err error)
}

// New returns bars when w is a terminal and CI is not set, plain lines otherwise.
func New(w io.Writer) Reporter {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("CI") == "" {
		return newBars(f)
	}
	return &Plain{W: w}
}

// Plain prints one line when a task starts and one when it ends.
type Plain struct {
	W  io.Writer
	mu sync.Mutex
}

func (p *Plain) Logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.W, format+"\n", args...)
}

func (p *Plain) Start(name string, total int64) Task {
	p.Logf("build: %s: start", name)
	return &plainTask{p: p, name: name, start: time.Now()}
}

func (p *Plain) Close() {}

type plainTask struct {
	p        *Plain
	name     string
	start    time.Time
	n        int64
	lastNote time.Time
	mu       sync.Mutex
}

// Interval is how often a plain task that is counting says how far it is.
var Interval = time.Minute

func (t *plainTask) Write(b []byte) (int, error) { t.Add(int64(len(b))); return len(b), nil }
func (t *plainTask) Add(n int64) {
	t.mu.Lock()
	t.n += n
	say := time.Since(t.start) > Interval && time.Since(t.lastNote) > Interval
	if say {
		t.lastNote = time.Now()
	}
	count := t.n
	t.mu.Unlock()
	if say {
		t.p.Logf("build: %s: %d so far, %.0fs", t.name, count, time.Since(t.start).Seconds())
	}
}
func (t *plainTask) SetTotal(int64) {}
func (t *plainTask) Done(note string) {
	if note != "" {
		note = " (" + note + ")"
	}
	t.p.Logf("build: %s: done in %.1fs%s", t.name, time.Since(t.start).Seconds(), note)
}
func (t *plainTask) Fail(err error) {
	t.p.Logf("build: %s: failed after %.1fs: %v", t.name, time.Since(t.start).Seconds(), err)
}

type bars struct {
	p *mpb.Progress
}

func newBars(w io.Writer) *bars {
	return &bars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))}
}

func (b *bars) Logf(format string, args ...any) {
	fmt.Fprintf(b.p, format+"\n", args...)
}

func (b *bars) Close() { b.p.Wait() }

func (b *bars) Start(name string, total int64) Task {
	t := &barTask{name: name, total: total}
	note := func(s decor.Statistics) string {
		if t.note != "" {
			return t.note
		}
		return ""
	}
	opts := []mpb.BarOption{
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR), decor.Elapsed(decor.ET_STYLE_GO, decor.WCSyncSpace)),
		mpb.AppendDecorators(decor.Any(note, decor.WC{})),
		mpb.BarFillerClearOnComplete(),
	}
	if total > 0 {
		opts = append(opts, mpb.AppendDecorators(decor.OnComplete(decor.CountersKibiByte("% .1f / % .1f"), "")))
		t.bar = b.p.AddBar(total, opts...)
	} else {
		t.bar = b.p.AddSpinner(0, opts...)
	}
	return t
}

type barTask struct {
	name  string
	total int64
	bar   *mpb.Bar
	note  string
}

func (t *barTask) Write(p []byte) (int, error) { t.Add(int64(len(p))); return len(p), nil }
func (t *barTask) Add(n int64)                 { t.bar.IncrInt64(n) }
func (t *barTask) SetTotal(total int64)        { t.total = total; t.bar.SetTotal(total, false) }
func (t *barTask) Done(note string) {
	t.note = note
	if note == "" {
		t.note = "done"
	}
	t.bar.SetTotal(-1, true)
}
func (t *barTask) Fail(err error) {
	t.note = "failed: " + err.Error()
	t.bar.Abort(false)
}

// Discard reports nothing.
type Discard struct{}

func (Discard) Start(string, int64) Task { return discardTask{} }
func (Discard) Logf(string, ...any)      {}
func (Discard) Close()                   {}

type discardTask struct{}

func (discardTask) Write(p []byte) (int, error) { return len(p), nil }
func (discardTask) Add(int64)                   {}
func (discardTask) SetTotal(int64)              {}
func (discardTask) Done(string)                 {}
func (discardTask) Fail(error)                  {}
