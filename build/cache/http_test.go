package cache

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A server that stops sending (before its headers, or in its body) ends the
// download with ErrStalled soon after StallTimeout; one that is slow but
// sends all along is never cut.
func TestGetStall(t *testing.T) {
	old := StallTimeout
	StallTimeout = 300 * time.Millisecond
	defer func() { StallTimeout = old }()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/no-headers":
			<-r.Context().Done()
		case "/stops":
			w.Write([]byte("some bytes"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case "/slow":
			for i := 0; i < 10; i++ {
				w.Write([]byte("x"))
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
		}
	}))
	defer srv.Close()

	for _, path := range []string{"/no-headers", "/stops"} {
		begin := time.Now()
		resp, err := Get(context.Background(), srv.URL+path)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "no data for 300ms") {
			t.Errorf("%s: %v, want a stall after 300ms", path, err)
		}
		if took := time.Since(begin); took > 3*time.Second {
			t.Errorf("%s: the stall took %s to end it", path, took)
		}
	}

	resp, err := Get(context.Background(), srv.URL+"/slow")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "xxxxxxxxxx" {
		t.Errorf("/slow: %q, %v; want all ten bytes: progress is no stall", b, err)
	}
}

// Fetch names the URL of a download that stalls.
func TestFetchStallNamesURL(t *testing.T) {
	old, oldWait := StallTimeout, RetryWait
	StallTimeout, RetryWait = 200*time.Millisecond, 10*time.Millisecond
	defer func() { StallTimeout, RetryWait = old, oldWait }()
	var tries atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tries.Add(1); <-r.Context().Done() }))
	defer srv.Close()
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = c.Fetch(ctx, Download{URL: srv.URL + "/linux.tar.xz", SHA256: strings.Repeat("ab", 32)}, nil)
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), srv.URL+"/linux.tar.xz") {
		t.Errorf("Fetch: %v, want a stall naming the URL", err)
	}
	if n := tries.Load(); n != 3 {
		t.Errorf("a stalled download was tried %d times, want 3", n)
	}
}
