//go:build qemu

package test

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
)

var refuseDNS = flag.Bool("berth.refuse-dns", false, "answer every DNS query on 127.0.0.1:53 with REFUSED (make qemu-test points /etc/resolv.conf of the suite's namespaces there): a name outside fails at once, for the test and for the guests through QEMU's user network, instead of after the resolver's timeouts")

// serveRefusals answers every DNS query on addr with REFUSED, until the
// process ends.
func serveRefusals(addr string) error {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("refusing DNS server: %w", err)
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, peer, err := c.ReadFrom(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil || n < 12 {
				continue
			}
			if reply, ok := refusal(buf[:n]); ok {
				c.WriteTo(reply, peer)
			}
		}
	}()
	return nil
}

// refusal is the REFUSED answer to a DNS query: its header with QR set,
// RCODE 5 and no records but its question.
func refusal(q []byte) ([]byte, bool) {
	if len(q) < 12 || q[2]&0x80 != 0 { // too short, or an answer
		return nil, false
	}
	r := append([]byte(nil), q...)
	flags := binary.BigEndian.Uint16(r[2:4])
	flags = 0x8000 | flags&0x7900 | 5 // QR, the opcode and RD kept, RCODE REFUSED
	binary.BigEndian.PutUint16(r[2:4], flags)
	binary.BigEndian.PutUint16(r[6:8], 0)  // ANCOUNT
	binary.BigEndian.PutUint16(r[8:10], 0) // NSCOUNT
	binary.BigEndian.PutUint16(r[10:12], 0)
	return r, true
}
