// Package logbuf keeps the recent output of every service in memory (for
// hostctl logs, and before /var/log exists) and forwards each line to the
// logging service, buffering while it is not up.
package logbuf

import (
	"bytes"
	"encoding/json"
	"net"
	"sync"
	"time"
)

// Line is one line of a service's output.
type Line struct {
	Time   time.Time
	Svc    string
	Stream string // stdout or stderr
	Text   string
}

// Hub holds a ring of lines per service.
type Hub struct {
	mu    sync.Mutex
	max   int
	rings map[string][]Line
	subs  map[string]map[chan Line]bool
	fwd   *Forwarder
}

// New keeps up to max lines per service and forwards through fwd (may be nil).
func New(max int, fwd *Forwarder) *Hub {
	return &Hub{max: max, rings: map[string][]Line{}, subs: map[string]map[chan Line]bool{}, fwd: fwd}
}

// Add records a line.
func (h *Hub) Add(l Line) {
	h.mu.Lock()
	r := append(h.rings[l.Svc], l)
	if len(r) > h.max {
		r = append(r[:0:0], r[len(r)-h.max:]...)
	}
	h.rings[l.Svc] = r
	for ch := range h.subs[l.Svc] {
		select {
		case ch <- l:
		default: // a slow follower misses lines rather than blocking PID 1
		}
	}
	h.mu.Unlock()
	if h.fwd != nil {
		h.fwd.Send(l)
	}
}

// Tail returns the last n lines of a service (all kept when n <= 0).
func (h *Hub) Tail(svc string, n int) []Line {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rings[svc]
	if n > 0 && len(r) > n {
		r = r[len(r)-n:]
	}
	return append([]Line(nil), r...)
}

// Subscribe returns new lines of a service until cancel is called.
func (h *Hub) Subscribe(svc string) (<-chan Line, func()) {
	ch := make(chan Line, 256)
	h.mu.Lock()
	if h.subs[svc] == nil {
		h.subs[svc] = map[chan Line]bool{}
	}
	h.subs[svc][ch] = true
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[svc], ch)
		h.mu.Unlock()
	}
}

// Writer returns a writer that turns what a service writes into lines.
func (h *Hub) Writer(svc, stream string) *LineWriter {
	return &LineWriter{h: h, svc: svc, stream: stream}
}

// LineWriter splits a byte stream into lines for the hub.
type LineWriter struct {
	mu     sync.Mutex
	h      *Hub
	svc    string
	stream string
	buf    []byte
	// Echo, if set, also gets every complete line (the console in debug mode).
	Echo func(Line)
}

func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(bytes.TrimRight(w.buf[:i], "\r")))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a runaway line without newline
		w.emit(string(w.buf))
		w.buf = nil
	}
	return len(p), nil
}

func (w *LineWriter) emit(text string) {
	l := Line{Time: time.Now(), Svc: w.svc, Stream: w.stream, Text: text}
	w.h.Add(l)
	if w.Echo != nil {
		w.Echo(l)
	}
}

// Forwarder sends lines to the logging service's ingest socket as JSON
// lines, queueing up to a limit while the socket is not there.
type Forwarder struct {
	path  string
	mu    sync.Mutex
	queue []Line
	max   int
	wake  chan struct{}
	drops int
}

// NewForwarder forwards to the unix socket at path.
func NewForwarder(path string, max int) *Forwarder {
	return &Forwarder{path: path, max: max, wake: make(chan struct{}, 1)}
}

// Send queues a line.
func (f *Forwarder) Send(l Line) {
	f.mu.Lock()
	if len(f.queue) >= f.max {
		f.queue = f.queue[1:]
		f.drops++
	}
	f.queue = append(f.queue, l)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

type record struct {
	Svc    string `json:"svc"`
	TS     int64  `json:"ts"`
	Stream string `json:"stream"`
	Line   string `json:"line"`
}

// Run delivers queued lines until stop is closed, reconnecting as needed.
func (f *Forwarder) Run(stop <-chan struct{}) {
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		select {
		case <-stop:
			f.flush(&conn)
			return
		case <-f.wake:
		case <-time.After(time.Second):
		}
		f.flush(&conn)
	}
}

func (f *Forwarder) flush(conn *net.Conn) {
	f.mu.Lock()
	batch := f.queue
	f.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if *conn == nil {
		c, err := net.DialTimeout("unix", f.path, time.Second)
		if err != nil {
			return
		}
		*conn = c
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, l := range batch {
		enc.Encode(record{Svc: l.Svc, TS: l.Time.UnixNano(), Stream: l.Stream, Line: l.Text})
	}
	(*conn).SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := (*conn).Write(buf.Bytes()); err != nil {
		(*conn).Close()
		*conn = nil
		return // lines stay queued and go again on reconnect
	}
	f.mu.Lock()
	f.queue = f.queue[min(len(batch), len(f.queue)):]
	f.mu.Unlock()
}

// Dropped says how many lines were lost to a full queue.
func (f *Forwarder) Dropped() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.drops
}
