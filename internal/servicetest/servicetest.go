// Package servicetest helps the tests of Berth's service programs and of
// their supervisor, which run services in goroutines or child processes: a
// log the service writes while the test reads it, the sd_notify socket
// that PID 1 listens on for a service's readiness, and a stand-in for PID
// 1's reaper.
package servicetest

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Log is a bytes.Buffer that is safe to write from the service's
// goroutines while the test reads it.
type Log struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// NotifySocket is where a service sends its readiness (NOTIFY_SOCKET), in
// a folder of the test's own.
type NotifySocket struct {
	Path string
	conn *net.UnixConn
}

// ListenNotify listens on a new notify socket until the test ends.
func ListenNotify(t testing.TB) *NotifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on a notify socket: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &NotifySocket{Path: path, conn: conn}
}

// Read waits up to timeout for the next message, such as
// "READY=1\nSTATUS=...".
func (s *NotifySocket) Read(timeout time.Duration) (string, error) {
	if err := s.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	buf := make([]byte, 4096)
	n, err := s.conn.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// Spawn starts cmd and delivers its wait status on the channel, as PID 1's
// reaper (init/reap) does for the code that starts processes through it.
func Spawn(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	go func() {
		cmd.Wait()
		ch <- cmd.ProcessState.Sys().(syscall.WaitStatus)
	}()
	return ch, nil
}
