//go:build qemu

package test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// offline: the suite runs with only loopback (make qemu-test runs it in a
// network namespace of its own), so that a request to the outside fails
// the test that makes it at once, by name, instead of reaching the
// internet on one machine and hanging on another. A dial to a public
// address fails at once with "network is unreachable", a name does not
// resolve, and loopback works.
func offline(t *testing.T) {
	for _, addr := range []string{"151.101.2.132:80", "[2a04:4e42::644]:80", "1.1.1.1:53"} {
		begin := time.Now()
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err == nil {
			c.Close()
			t.Errorf("dial %s: connected; the suite must run with only loopback (make qemu-test: unshare -n)", addr)
			continue
		}
		// No route (ENETUNREACH); a host without IPv6 has no such
		// address family at all.
		if !errors.Is(err, syscall.ENETUNREACH) && !errors.Is(err, syscall.EAFNOSUPPORT) && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Errorf("dial %s: %v; want network is unreachable", addr, err)
		}
		if took := time.Since(begin); took > time.Second {
			t.Errorf("dial %s failed after %s, want at once", addr, took)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Go's own resolver: the name servers of /etc/resolv.conf, over the
	// network (a cgo resolver may ask a local daemon outside the namespace).
	// make qemu-test's resolv.conf names the test's refusing server
	// (-berth.refuse-dns): the lookup fails at once.
	resolver := &net.Resolver{PreferGo: true}
	begin := time.Now()
	if addrs, err := resolver.LookupHost(ctx, "deb.debian.org"); err == nil {
		t.Errorf("deb.debian.org resolved to %v; want no name service outside loopback", addrs)
	}
	if took := time.Since(begin); *refuseDNS && took > time.Second {
		t.Errorf("the lookup of deb.debian.org failed after %s, want at once (-berth.refuse-dns)", took)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("loopback: %v", err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("loopback: %v", err)
	}
	c.Close()
}

// The refusing DNS server's answer: REFUSED, the question kept.
func TestRefusal(t *testing.T) {
	// A query for example.org, A, with RD set.
	q := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0, 1, 0, 1}
	r, ok := refusal(q)
	if !ok || r[0] != 0x12 || r[1] != 0x34 || r[2] != 0x81 || r[3] != 0x05 || len(r) != len(q) || string(r[12:]) != string(q[12:]) {
		t.Errorf("refusal % x", r)
	}
	if _, ok := refusal(r); ok {
		t.Error("an answer got an answer")
	}
}
