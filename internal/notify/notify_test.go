package notify

import (
	"errors"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReady(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "n.sock")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv(Env, sock)
	if err := Ready("leases: eth0"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	l.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := l.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	f := Parse(buf[:n])
	if f["READY"] != "1" || f["STATUS"] != "leases: eth0" {
		t.Errorf("got %q", buf[:n])
	}
}

func TestNoSocketIsNoop(t *testing.T) {
	t.Setenv(Env, "")
	if err := Ready(""); err != nil {
		t.Fatal(err)
	}
}

func TestMissingSocketFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.sock")
	t.Setenv(Env, path)
	if err := Ready(""); !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "notify "+path+": ") {
		t.Fatalf("missing socket: %v, want notify %s: ...: %v", err, path, fs.ErrNotExist)
	}
}
