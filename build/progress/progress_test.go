package progress

import (
	"bytes"
	"errors"
	"regexp"
	"testing"
)

func TestPlainLines(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf) // a bytes.Buffer is not a terminal: plain lines
	a := r.Start("kernel", 0)
	a.Done("cached")
	b := r.Start("iso", 10)
	b.Fail(errors.New("xorriso: exit 1"))
	r.Close()
	want := regexp.MustCompile(`^build: kernel: start
build: kernel: done in \d+\.\ds \(cached\)
build: iso: start
build: iso: failed after \d+\.\ds: xorriso: exit 1
$`)
	if !want.Match(buf.Bytes()) {
		t.Errorf("output:\n%s", buf.String())
	}
}
