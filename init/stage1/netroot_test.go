package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-os/berth/init/cmdline"
)

func TestNetRootOf(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		cmdline string
		ok      bool
		url     string
		err     string // in the error; "" for none
	}{
		{cmdline: "console=ttyS0", ok: false},
		{cmdline: "berth.root=http://10.0.2.2:8080/b/rootfs.squashfs berth.root.sha256=" + sum, ok: true, url: "http://10.0.2.2:8080/b/rootfs.squashfs"},
		{cmdline: "berth.root=http://10.0.2.2/rootfs.squashfs", ok: true, err: `berth.root.sha256="": want the root's sha256 in 64 hex digits`},
		{cmdline: "berth.root=http://10.0.2.2/rootfs.squashfs berth.root.sha256=abcd", ok: true, err: `berth.root.sha256="abcd"`},
		{cmdline: "berth.root=http://10.0.2.2/rootfs.squashfs berth.root.sha256=" + strings.Repeat("zz", 32), ok: true, err: "64 hex digits"},
		{cmdline: "berth.root=https://example.org/rootfs.squashfs berth.root.sha256=" + sum, ok: true, err: "berth.root=https://example.org/rootfs.squashfs: want an http:// URL"},
		{cmdline: "berth.root=/dev/vda2 berth.root.sha256=" + sum, ok: true, err: "want an http:// URL"},
		{cmdline: "berth.root=http:///rootfs.squashfs berth.root.sha256=" + sum, ok: true, err: "names no host"},
	} {
		r, ok, err := netRootOf(cmdline.Parse(tc.cmdline))
		if ok != tc.ok {
			t.Errorf("%q: ok = %v, want %v", tc.cmdline, ok, tc.ok)
		}
		if tc.err == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.cmdline, err)
			} else if r.URL != tc.url || ok && hex.EncodeToString(r.SHA256) != sum {
				t.Errorf("%q: got %+v", tc.cmdline, r)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: error %v, want one with %q", tc.cmdline, err, tc.err)
		}
	}
}

// rootServer serves root at /rootfs.squashfs, first answering fails
// requests with status (or a body cut short, for status 0).
func rootServer(t *testing.T, root []byte, fails int, status int) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/rootfs.squashfs" {
			http.NotFound(w, r)
			return
		}
		if int(n.Add(1)) <= fails {
			if status != 0 {
				http.Error(w, "no", status)
				return
			}
			w.Header().Set("Content-Length", "4096")
			w.Write(root[:100])
			return
		}
		w.Write(root)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestFetchRoot(t *testing.T) {
	fetchBackoff = time.Millisecond
	root := bytes.Repeat([]byte("hsqs root "), 1000)
	good := sha256.Sum256(root)
	for _, tc := range []struct {
		name     string
		fails    int
		status   int
		path     string
		sum      []byte
		requests int32
		err      string // "" for success
	}{
		{name: "first try", sum: good[:], requests: 1},
		{name: "server error, then the root", fails: 2, status: 503, sum: good[:], requests: 3},
		{name: "cut short, then the root", fails: 1, sum: good[:], requests: 2},
		{name: "server error every time", fails: 9, status: 500, sum: good[:], requests: 3, err: "the server answered 500 Internal Server Error"},
		{name: "not found is not tried again", path: "/nothing", sum: good[:], requests: 0, err: "the server answered 404 Not Found"},
		{name: "another root is refused", sum: make([]byte, 32), requests: 1, err: "but berth.root.sha256 says 0000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := rootServer(t, root, tc.fails, tc.status)
			path := "/rootfs.squashfs"
			if tc.path != "" {
				path = tc.path
			}
			file := filepath.Join(t.TempDir(), "rootfs.squashfs")
			err := fetchRoot(context.Background(), srv.Client(), netRoot{URL: srv.URL + path, SHA256: tc.sum}, file)
			if got := n.Load(); got != tc.requests {
				t.Errorf("%d requests for the root, want %d", got, tc.requests)
			}
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if b, _ := os.ReadFile(file); !bytes.Equal(b, root) {
					t.Errorf("the file holds %d bytes, not the root's %d", len(b), len(root))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), srv.URL) {
				t.Fatalf("error %v, want one naming the URL with %q", err, tc.err)
			}
			if _, err := os.Stat(file); !os.IsNotExist(err) {
				t.Errorf("a failed fetch left %s behind (%v)", file, err)
			}
		})
	}
}
