package ntp

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"
)

// An NTP packet (RFC 5905, section 7.3) is 48 bytes without extensions.
const packetLen = 48

// ntpEpochOffset is the seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const ntpEpochOffset = 2208988800

// Leap indicator values.
const (
	leapNone   = 0
	leapInsert = 1
	leapDelete = 2
	leapAlarm  = 3 // the server's clock is not synchronised
)

// sample is one answer: the clock's offset from the server (positive: the
// clock is behind), the round trip, and what the server says of itself.
type sample struct {
	Addr      string
	Offset    time.Duration
	Delay     time.Duration
	Stratum   int
	Leap      int
	RootDelay time.Duration
	RootDisp  time.Duration
}

// maxerror is what the kernel is told the clock's error can be at most:
// half the round trip to the server, plus the server's own distance to
// its reference.
func (s sample) maxError() time.Duration { return s.Delay/2 + s.RootDelay/2 + s.RootDisp }

// ntpTime converts an NTP timestamp. Its 32-bit seconds wrap in 2036;
// values in the lower half are taken as era 1 (2036–2104), so that the
// pivot sits in 1968.
func ntpTime(ts uint64) time.Time {
	secs := int64(ts >> 32)
	if secs < 1<<31 {
		secs += 1 << 32
	}
	frac := int64(ts & 0xffffffff)
	return time.Unix(secs-ntpEpochOffset, frac*1e9>>32)
}

// shortDuration converts NTP's 16.16 fixed-point seconds (root delay and
// dispersion).
func shortDuration(v uint32) time.Duration {
	return time.Duration(int64(v) * int64(time.Second) >> 16)
}

// request is a client-mode packet (version 4, mode 3). Its transmit
// timestamp is random rather than the clock's, as chrony does: the server
// echoes it as the origin timestamp, so an answer that does not echo it
// came from someone who never saw the request, and the packet gives away
// nothing of the local clock.
func request() (pkt []byte, cookie uint64, err error) {
	pkt = make([]byte, packetLen)
	pkt[0] = 0<<6 | 4<<3 | 3
	if _, err := rand.Read(pkt[40:48]); err != nil {
		return nil, 0, fmt.Errorf("random transmit timestamp: %w", err)
	}
	return pkt, binary.BigEndian.Uint64(pkt[40:48]), nil
}

// parseReply checks an answer to the request with the given cookie and
// makes a sample of it. t1 is the local time the request went; rtt the
// elapsed time (monotonic) until the answer came.
func parseReply(b []byte, cookie uint64, t1 time.Time, rtt time.Duration) (sample, error) {
	if len(b) < packetLen {
		return sample{}, fmt.Errorf("answer of %d bytes, expected at least %d", len(b), packetLen)
	}
	leap, version, mode := int(b[0]>>6), int(b[0]>>3&7), int(b[0]&7)
	stratum := int(b[1])
	switch {
	case mode != 4:
		return sample{}, fmt.Errorf("answer in mode %d, expected 4 (server)", mode)
	case version < 3 || version > 4:
		return sample{}, fmt.Errorf("answer of NTP version %d, expected 3 or 4", version)
	case binary.BigEndian.Uint64(b[24:32]) != cookie:
		return sample{}, errNotOurs
	case stratum == 0:
		return sample{}, fmt.Errorf("kiss-o'-death %q", kissCode(b[12:16]))
	case stratum > 15:
		return sample{}, fmt.Errorf("server of stratum %d: not synchronised", stratum)
	case leap == leapAlarm:
		return sample{}, errors.New("server says its clock is not synchronised")
	}
	rx, tx := binary.BigEndian.Uint64(b[32:40]), binary.BigEndian.Uint64(b[40:48])
	if rx == 0 || tx == 0 {
		return sample{}, errors.New("answer without receive or transmit timestamp")
	}
	t2, t3 := ntpTime(rx), ntpTime(tx)
	t4 := t1.Add(rtt)
	s := sample{
		// RFC 5905: offset ((t2-t1)+(t3-t4))/2, delay (t4-t1)-(t3-t2).
		Offset:    (t2.Sub(t1) + t3.Sub(t4)) / 2,
		Delay:     rtt - t3.Sub(t2),
		Stratum:   stratum,
		Leap:      leap,
		RootDelay: shortDuration(binary.BigEndian.Uint32(b[4:8])),
		RootDisp:  shortDuration(binary.BigEndian.Uint32(b[8:12])),
	}
	if s.Delay < 0 {
		s.Delay = 0 // the server's processing time exceeds our clock's resolution
	}
	if s.RootDelay > 16*time.Second || s.RootDisp > 16*time.Second {
		return sample{}, fmt.Errorf("server's root distance is %v: too far from its reference", s.RootDelay/2+s.RootDisp)
	}
	return s, nil
}

func kissCode(b []byte) string {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("%x", b)
		}
	}
	return string(b)
}

// query asks one server (addr is IP:port) for the time. The socket is
// connected, so the kernel drops datagrams from anyone else.
func query(ctx context.Context, addr string, timeout time.Duration) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return sample{}, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	go func() { <-ctx.Done(); c.SetDeadline(time.Now()) }()
	pkt, cookie, err := request()
	if err != nil {
		return sample{}, err
	}
	t1 := time.Now()
	if _, err := c.Write(pkt); err != nil {
		return sample{}, err
	}
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return sample{}, fmt.Errorf("no answer within %v", timeout)
			}
			return sample{}, err
		}
		// time.Since uses the monotonic clock: a step of the wall clock
		// in between does not make the round trip wrong.
		rtt := time.Since(t1)
		s, err := parseReply(buf[:n], cookie, t1, rtt)
		if errors.Is(err, errNotOurs) {
			continue // a late answer to an earlier request, or forged
		}
		if err != nil {
			return sample{}, err
		}
		s.Addr = addr
		return s, nil
	}
}

// errNotOurs is an answer that does not echo the request's transmit
// timestamp.
var errNotOurs = errors.New("answer does not echo the request's transmit timestamp")
