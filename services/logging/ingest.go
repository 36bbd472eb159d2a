package logging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// record is one line of service output, as PID 1 sends it on the ingest
// socket: one JSON object per line, for example
//
//	{"svc":"network","ts":1732341234123456789,"stream":"stdout","line":"eth0: lease ..."}
//
// Unknown fields are ignored.
type record struct {
	Svc    string `json:"svc"`
	TS     int64  `json:"ts"`     // unix nanoseconds; 0 (or less) means "when received"
	Stream string `json:"stream"` // "stdout" or "stderr"
	Line   string `json:"line"`
}

// maxRecord bounds one JSON line; longer lines are skipped.
const maxRecord = 256 << 10

var errTooLong = fmt.Errorf("record longer than %d bytes", maxRecord)

// parseRecord decodes and checks one line of the ingest protocol.
func parseRecord(b []byte) (record, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, fmt.Errorf("decode record: %w", err)
	}
	if err := checkName(r.Svc); err != nil {
		return record{}, fmt.Errorf("record svc: %w", err)
	}
	if r.Stream != "stdout" && r.Stream != "stderr" {
		return record{}, fmt.Errorf("record stream %q: want stdout or stderr", r.Stream)
	}
	return r, nil
}

// checkName accepts a service name that is safe as a file name:
// [a-z0-9][a-z0-9_.-]*, at most 64 bytes.
func checkName(name string) error {
	if name == "" {
		return errors.New("missing")
	}
	if len(name) > 64 {
		return fmt.Errorf("%.64q...: longer than 64 bytes", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return fmt.Errorf("%q: not a safe file name ([a-z0-9][a-z0-9_.-]*)", name)
		}
	}
	return nil
}

// file is the log file of the record's service.
func (r record) file() string { return r.Svc + ".log" }

// format is the line written to the service's log file. A record without a
// time gets the time it was received.
func (r record) format(received time.Time) string {
	t := received
	if r.TS > 0 {
		t = time.Unix(0, r.TS)
	}
	return stamp(t) + " " + clean(r.Line) + "\n"
}

// serveIngest accepts PID 1's connections until stop is closed, then lets
// each connection deliver for drainGrace what it already sent.
func (s *service) serveIngest(l *net.UnixListener, stop <-chan struct{}) {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	go func() {
		<-stop
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.SetReadDeadline(time.Now().Add(drainGrace))
		}
		conns = nil
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Printf("accept on ingest socket: %v", err)
				select {
				case <-stop:
				case <-time.After(100 * time.Millisecond):
					continue
				}
			}
			break
		}
		mu.Lock()
		if conns == nil { // stopping
			c.SetReadDeadline(time.Now().Add(drainGrace))
		} else {
			conns[c] = true
		}
		mu.Unlock()
		wg.Go(func() {
			s.handleIngest(c)
			c.Close()
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		})
	}
	wg.Wait()
}

// handleIngest writes the records of one connection until it ends.
func (s *service) handleIngest(c io.Reader) {
	r := bufio.NewReaderSize(c, 64<<10)
	var good, bad int
	for {
		line, err := readLine(r, maxRecord)
		if len(bytes.TrimSpace(line)) > 0 || errors.Is(err, errTooLong) {
			if e := s.ingest(line, err); e != nil {
				if bad == 0 {
					s.log.Printf("ingest: skipping malformed records: %v", e)
				}
				bad++
			} else {
				good++
			}
		}
		switch {
		case err == nil, errors.Is(err, errTooLong):
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, os.ErrDeadlineExceeded):
			if bad > 0 {
				s.log.Printf("ingest: connection closed after %d records, %d malformed skipped", good+bad, bad)
			}
			return
		default:
			s.log.Printf("ingest: read: %v", err)
			return
		}
	}
}

// ingest writes one line read from a connection, or says why it cannot.
func (s *service) ingest(line []byte, readErr error) error {
	if errors.Is(readErr, errTooLong) {
		return readErr
	}
	r, err := parseRecord(line)
	if err != nil {
		return err
	}
	s.files.Append(r.file(), r.format(time.Now())) // Append logs its failures
	return nil
}

// readLine returns the next line of r without its newline. A line longer
// than limit is read to its end and dropped, with errTooLong. At the end of
// the input it returns the unterminated rest with the error.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > limit+1 {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err == nil {
				err = errTooLong
			}
			return nil, err
		}
		line = append(line, frag...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil:
			return line, err
		}
		return line[:len(line)-1], nil
	}
}
