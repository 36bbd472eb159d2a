package logbuf

import (
	"bufio"
	"encoding/json"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func texts(ls []Line) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Text)
	}
	return out
}

func TestRingAndWriter(t *testing.T) {
	h := New(3, nil)
	w := h.Writer("udev", "stdout")
	w.Write([]byte("one\ntwo\r\nthr"))
	w.Write([]byte("ee\nfour\nfive"))
	if diff := cmp.Diff([]string{"two", "three", "four"}, texts(h.Tail("udev", 0))); diff != "" {
		t.Errorf("ring (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]string{"four"}, texts(h.Tail("udev", 1))); diff != "" {
		t.Errorf("tail 1 (-want +got)\n%s", diff)
	}
	ch, cancel := h.Subscribe("udev")
	w.Write([]byte("\n"))
	select {
	case l := <-ch:
		if l.Text != "five" || l.Stream != "stdout" {
			t.Errorf("followed %+v", l)
		}
	case <-time.After(time.Second):
		t.Fatal("subscriber got nothing")
	}
	cancel()
}

func TestForwarderQueuesUntilLoggingIsUp(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ingest.sock")
	f := NewForwarder(sock, 2)
	h := New(10, f)
	stop := make(chan struct{})
	defer close(stop)
	go f.Run(stop)
	h.Add(Line{Time: time.Unix(1, 0), Svc: "a", Stream: "stdout", Text: "dropped"})
	h.Add(Line{Time: time.Unix(2, 0), Svc: "a", Stream: "stdout", Text: "early"})
	h.Add(Line{Time: time.Unix(3, 0), Svc: "b", Stream: "stderr", Text: "late"})
	time.Sleep(50 * time.Millisecond)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := bufio.NewScanner(c)
	var got []record
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < 2 && sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	want := []record{{Svc: "a", TS: 2e9, Stream: "stdout", Line: "early"}, {Svc: "b", TS: 3e9, Stream: "stderr", Line: "late"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if f.Dropped() != 1 {
		t.Errorf("dropped = %d, want 1", f.Dropped())
	}
}
