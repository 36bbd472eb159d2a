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
	resolver := &net.Resolver{PreferGo: true}
	if addrs, err := resolver.LookupHost(ctx, "deb.debian.org"); err == nil {
		t.Errorf("deb.debian.org resolved to %v; want no name service outside loopback", addrs)
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
