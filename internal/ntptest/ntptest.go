// Package ntptest is a minimal SNTP server (RFC 5905, server mode) for
// tests: the ntp service's unit tests and the QEMU scenario that boots a
// guest with its clock years off. It answers every client-mode request
// with its own clock, which can be set off from the host's.
package ntptest

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server answers on a UDP socket until the test ends.
type Server struct {
	conn *net.UDPConn
	// Offset is added to the host's clock in answers.
	Offset time.Duration
	// Stratum is the stratum it claims (1 when 0); Leap its leap indicator.
	Stratum, Leap int
	// Silent: it reads requests and answers none.
	Silent bool
	// Requests counts the requests it got.
	Requests atomic.Int64

	mu sync.Mutex
}

// Start listens on addr (e.g. 127.0.0.1:0) and serves; configure the
// server in setup before it answers anything.
func Start(t testing.TB, addr string, setup func(*Server)) *Server {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{conn: c}
	if setup != nil {
		setup(s)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.serve() }()
	t.Cleanup(func() { c.Close(); <-done })
	return s
}

// Addr is the address it listens on.
func (s *Server) Addr() *net.UDPAddr { return s.conn.LocalAddr().(*net.UDPAddr) }

// Port is the port it listens on.
func (s *Server) Port() int { return s.Addr().Port }

// Set changes the server's settings while it runs.
func (s *Server) Set(f func(*Server)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *Server) serve() {
	buf := make([]byte, 512)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		rx := time.Now()
		s.Requests.Add(1)
		if n < 48 || buf[0]&7 != 3 {
			continue
		}
		s.mu.Lock()
		silent, offset, stratum, leap := s.Silent, s.Offset, s.Stratum, s.Leap
		s.mu.Unlock()
		if silent {
			continue
		}
		if stratum == 0 {
			stratum = 1
		}
		out := make([]byte, 48)
		out[0] = byte(leap)<<6 | buf[0]&0x38 | 4 // the client's version, server mode
		out[1] = byte(stratum)
		out[2] = buf[2]
		out[3] = 0xec                                   // precision 2^-20 s
		binary.BigEndian.PutUint32(out[4:], 1<<16/1000) // root delay 1 ms
		binary.BigEndian.PutUint32(out[8:], 1<<16/1000) // root dispersion 1 ms
		copy(out[12:16], "LOCL")                        // reference id
		binary.BigEndian.PutUint64(out[16:], Timestamp(rx.Add(offset).Add(-time.Minute)))
		copy(out[24:32], buf[40:48]) // origin: the client's transmit timestamp
		binary.BigEndian.PutUint64(out[32:], Timestamp(rx.Add(offset)))
		binary.BigEndian.PutUint64(out[40:], Timestamp(time.Now().Add(offset)))
		s.conn.WriteToUDP(out, from)
	}
}

// Timestamp is t as an NTP timestamp: seconds since 1900 (mod 2^32) and
// a 32-bit fraction.
func Timestamp(t time.Time) uint64 {
	secs := uint64(t.Unix()+2208988800) & 0xffffffff
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}
