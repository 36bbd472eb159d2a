package logging

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readDir returns the contents of every file in dir, by name.
func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got[e.Name()] = string(b)
	}
	return got
}

// lines returns "<prefix>NN\n" for each n in [from, to].
func lines(prefix string, from, to int) string {
	var b strings.Builder
	for n := from; n <= to; n++ {
		fmt.Fprintf(&b, "%s%02d\n", prefix, n)
	}
	return b.String()
}

func TestRotation(t *testing.T) {
	// Every line is 10 bytes, so a 30-byte file holds 3 lines.
	tests := []struct {
		name    string
		keep    int
		maxSize int64
		before  map[string]string // files present at start
		write   []string
		want    map[string]string
	}{{
		name:    "under max-size",
		keep:    2,
		maxSize: 30,
		write:   []string{lines("line-nr", 1, 3)},
		want:    map[string]string{"f": lines("line-nr", 1, 3)},
	}, {
		name:    "several rotations drop the oldest",
		keep:    3,
		maxSize: 30,
		write:   []string{lines("line-nr", 1, 15)},
		want: map[string]string{
			"f":   lines("line-nr", 13, 15),
			"f.1": lines("line-nr", 10, 12),
			"f.2": lines("line-nr", 7, 9),
			"f.3": lines("line-nr", 4, 6),
		},
	}, {
		name:    "keep 1",
		keep:    1,
		maxSize: 30,
		write:   []string{lines("line-nr", 1, 8)},
		want: map[string]string{
			"f":   lines("line-nr", 7, 8),
			"f.1": lines("line-nr", 4, 6),
		},
	}, {
		name:    "keep 0 truncates",
		keep:    0,
		maxSize: 30,
		write:   []string{lines("line-nr", 1, 7)},
		want:    map[string]string{"f": lines("line-nr", 7, 7)},
	}, {
		name:    "a line longer than max-size gets a file of its own",
		keep:    2,
		maxSize: 30,
		write:   []string{"short\n", strings.Repeat("x", 40) + "\n", "short\n"},
		want: map[string]string{
			"f":   "short\n",
			"f.1": strings.Repeat("x", 40) + "\n",
			"f.2": "short\n",
		},
	}, {
		name:    "size of an existing file counts",
		keep:    2,
		maxSize: 30,
		before:  map[string]string{"f": lines("old-nr-", 1, 2), "f.1": "older\n"},
		write:   []string{lines("line-nr", 1, 2)},
		want: map[string]string{
			"f":   lines("line-nr", 2, 2),
			"f.1": lines("old-nr-", 1, 2) + lines("line-nr", 1, 1),
			"f.2": "older\n",
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tc.before {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			s := newFileSet(dir, tc.maxSize, tc.keep, 8, log.New(io.Discard, "", 0))
			for _, chunk := range tc.write {
				for _, l := range strings.SplitAfter(chunk, "\n") {
					if l == "" {
						continue
					}
					if err := s.Append("f", l); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, readDir(t, dir)); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFileMode(t *testing.T) {
	dir := t.TempDir()
	s := newFileSet(dir, 100, 1, 8, log.New(io.Discard, "", 0))
	if err := s.Append("a.log", "x\n"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	fi, err := os.Stat(filepath.Join(dir, "a.log"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got&^0o640 != 0 {
		t.Errorf("mode %v, want at most 0640", got)
	}
}

func TestOpenFilesAreCapped(t *testing.T) {
	dir := t.TempDir()
	s := newFileSet(dir, 1<<20, 1, 2, log.New(io.Discard, "", 0))
	for _, name := range []string{"a", "b", "c", "a", "b", "c", "a"} {
		if err := s.Append(name, name+"\n"); err != nil {
			t.Fatal(err)
		}
		if n := s.openCount(); n > 2 {
			t.Fatalf("%d files open, cap is 2", n)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "a\na\na\n", "b": "b\nb\n", "c": "c\nc\n"}
	if diff := cmp.Diff(want, readDir(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if n := s.openCount(); n != 0 {
		t.Errorf("%d files open after Close", n)
	}
}

func TestFailedWriteIsRetried(t *testing.T) {
	dir := t.TempDir()
	var diag strings.Builder
	s := newFileSet(dir, 1<<20, 1, 8, log.New(&diag, "logging: ", 0))
	defer s.Close()
	// A directory where the file should be makes every open fail.
	blocker := filepath.Join(dir, "svc.log")
	if err := os.Mkdir(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.Append("svc.log", "lost\n"); !errors.Is(err, syscall.EISDIR) || !strings.Contains(err.Error(), blocker) {
			t.Fatalf("writing over a directory: %v, want EISDIR naming %s", err, blocker)
		}
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if err := s.Append("svc.log", "kept\n"); err != nil {
		t.Fatalf("write after the fault went away: %v", err)
	}
	if got := readDir(t, dir)["svc.log"]; got != "kept\n" {
		t.Errorf("svc.log = %q, want %q", got, "kept\n")
	}
	// One line for the run of failures, one when it works again.
	got := strings.Split(strings.TrimSpace(diag.String()), "\n")
	if len(got) != 2 || !strings.Contains(got[0], "svc.log") || !strings.Contains(got[1], "after 3 failed writes") {
		t.Errorf("diagnostics:\n%s", diag.String())
	}
}

func TestUnsafeFileNameIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := newFileSet(dir, 1<<20, 1, 8, log.New(io.Discard, "", 0))
	defer s.Close()
	for _, name := range []string{"", "../x", "a/b", ".kernel.seq"} {
		if err := s.Append(name, "x\n"); !errors.Is(err, errBadFileName) {
			t.Errorf("Append(%q) = %v, want %v", name, err, errBadFileName)
		}
	}
	if got := readDir(t, dir); len(got) != 0 {
		t.Errorf("files written: %v", got)
	}
}

func TestFileIsReopenedAfterAFailedWrite(t *testing.T) {
	dir := t.TempDir()
	s := newFileSet(dir, 1<<20, 1, 8, log.New(io.Discard, "", 0))
	defer s.Close()
	if err := s.Append("svc.log", "one\n"); err != nil {
		t.Fatal(err)
	}
	// Break the open handle behind the set's back: the next write fails.
	s.open["svc.log"].f.Close()
	if err := s.Append("svc.log", "lost\n"); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("writing to a closed file: %v, want %v", err, os.ErrClosed)
	}
	if err := s.Append("svc.log", "two\n"); err != nil {
		t.Fatalf("write after a failed write: %v", err)
	}
	if got := readDir(t, dir)["svc.log"]; got != "one\ntwo\n" {
		t.Errorf("svc.log = %q, want %q", got, "one\ntwo\n")
	}
}
