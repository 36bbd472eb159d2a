package servicetest

import (
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLog(t *testing.T) {
	var l Log
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				l.Write([]byte("x\n"))
				_ = l.String()
			}
		})
	}
	wg.Wait()
	if got := strings.Count(l.String(), "x\n"); got != 800 {
		t.Errorf("%d lines, want 800", got)
	}
}

func TestNotifySocket(t *testing.T) {
	s := ListenNotify(t)
	c, err := net.Dial("unixgram", s.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("READY=1\nSTATUS=up")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(time.Second); err != nil || got != "READY=1\nSTATUS=up" {
		t.Errorf("Read = %q, %v", got, err)
	}
	if got, err := s.Read(50 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read with nothing sent = %q, %v; want %v", got, err, os.ErrDeadlineExceeded)
	}
}
