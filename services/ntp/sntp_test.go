package ntp

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/ntptest"
)

// A real exchange over loopback: the offset is the server's, to within
// the round trip.
func TestQuery(t *testing.T) {
	srv := ntptest.Start(t, "127.0.0.1:0", func(s *ntptest.Server) { s.Offset = 3*time.Second + 250*time.Millisecond; s.Stratum = 2 })
	s, err := query(context.Background(), srv.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Offset - (3*time.Second + 250*time.Millisecond); d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("offset %v, want 3.25s", s.Offset)
	}
	if s.Delay < 0 || s.Delay > 500*time.Millisecond || s.Stratum != 2 || s.Addr != srv.Addr().String() || s.Leap != leapNone {
		t.Errorf("sample %+v", s)
	}
	if s.RootDelay < 900*time.Microsecond || s.RootDelay > 1100*time.Microsecond {
		t.Errorf("root delay %v, want 1ms", s.RootDelay)
	}
	// A clock behind the server has a negative offset the other way.
	srv.Set(func(s *ntptest.Server) { s.Offset = -2 * time.Hour })
	s, err = query(context.Background(), srv.Addr().String(), 2*time.Second)
	if err != nil || s.Offset > -2*time.Hour+50*time.Millisecond || s.Offset < -2*time.Hour-50*time.Millisecond {
		t.Errorf("offset %v, %v; want -2h", s.Offset, err)
	}
}

func TestQueryNoAnswer(t *testing.T) {
	srv := ntptest.Start(t, "127.0.0.1:0", func(s *ntptest.Server) { s.Silent = true })
	_, err := query(context.Background(), srv.Addr().String(), 300*time.Millisecond)
	if err == nil || err.Error() != "no answer within 300ms" {
		t.Errorf("error %v, want no answer within 300ms", err)
	}
	if srv.Requests.Load() != 1 {
		t.Errorf("the server got %d requests", srv.Requests.Load())
	}
}

// reply makes a server answer to the request with the given cookie.
func reply(cookie uint64, edit func(b []byte)) []byte {
	b := make([]byte, packetLen)
	b[0] = 0<<6 | 4<<3 | 4
	b[1] = 2
	binary.BigEndian.PutUint64(b[24:], cookie)
	now := time.Now()
	binary.BigEndian.PutUint64(b[32:], ntptest.Timestamp(now))
	binary.BigEndian.PutUint64(b[40:], ntptest.Timestamp(now))
	if edit != nil {
		edit(b)
	}
	return b
}

func TestParseReplyRejects(t *testing.T) {
	const cookie = 0x0123456789abcdef
	for _, tc := range []struct {
		name string
		edit func(b []byte)
		want string
	}{
		{"short", func(b []byte) {}, ""}, // the valid answer, for reference
		{"client mode", func(b []byte) { b[0] = 4<<3 | 3 }, "answer in mode 3, expected 4 (server)"},
		{"version 2", func(b []byte) { b[0] = 2<<3 | 4 }, "answer of NTP version 2, expected 3 or 4"},
		{"not our request", func(b []byte) { b[24] ^= 1 }, "answer does not echo the request's transmit timestamp"},
		{"kiss-o'-death", func(b []byte) { b[1] = 0; copy(b[12:], "RATE") }, `kiss-o'-death "RATE"`},
		{"stratum 16", func(b []byte) { b[1] = 16 }, "server of stratum 16: not synchronised"},
		{"unsynchronised server", func(b []byte) { b[0] |= 3 << 6 }, "server says its clock is not synchronised"},
		{"no transmit time", func(b []byte) { binary.BigEndian.PutUint64(b[40:], 0) }, "answer without receive or transmit timestamp"},
		{"far from its reference", func(b []byte) { binary.BigEndian.PutUint32(b[8:], 17<<16) }, "server's root distance is 17s: too far from its reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseReply(reply(cookie, tc.edit), cookie, time.Now(), time.Millisecond)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("valid answer refused: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("error %v, want %s", err, tc.want)
			}
		})
	}
	if _, err := parseReply(make([]byte, 47), cookie, time.Now(), 0); err == nil || !strings.Contains(err.Error(), "answer of 47 bytes") {
		t.Errorf("short answer: %v", err)
	}
}

// NTP's 32-bit seconds wrap in 2036; times on both sides read back.
func TestNTPTimeEras(t *testing.T) {
	for _, want := range []time.Time{
		time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 1, 15, 4, 5, 500_000_000, time.UTC),
		time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC), // era 1 starts
		time.Date(2040, 6, 30, 23, 59, 59, 0, time.UTC),
	} {
		got := ntpTime(ntptest.Timestamp(want))
		if d := got.Sub(want); d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("%v read back as %v", want, got.UTC())
		}
	}
}
