package errkind_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/internal/strictyaml"
	"github.com/google/go-cmp/cmp"
)

func TestExitCode(t *testing.T) {
	_, missing := os.ReadFile(filepath.Join(t.TempDir(), "none"))
	_, refused := net.Dial("unix", filepath.Join(t.TempDir(), "none.sock"))
	var spec struct{ Name string }
	invalid := strictyaml.Decode([]byte("nmae: x\n"), "spec.yaml", &spec)
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain", errors.New("boom"), 1},
		{"usage", fmt.Errorf("-o: %w", errkind.ErrUsage), 2},
		{"invalid config", fmt.Errorf("x: %w", errkind.ErrInvalidConfig), 3},
		{"strictyaml's errors", fmt.Errorf("load: %w", invalid), 3},
		{"not found", fmt.Errorf("service x: %w", errkind.ErrNotFound), 4},
		{"unavailable", fmt.Errorf("host API: %w", errkind.ErrUnavailable), 5},
		{"marked", errkind.Mark(errkind.ErrUsage, errors.New("unknown flag")), 2},
		{"a missing file", fmt.Errorf("read: %w", missing), 4},
		{"a permission error is no kind", fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", fs.ErrPermission)}), 1},
		{"a network error", fmt.Errorf("fetch: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), 5},
		{"our kind before the standard library's", errkind.Mark(errkind.ErrUnavailable, fmt.Errorf("host API: %w", refused)), 5},
		{"the first kind of the table wins", errors.Join(errkind.ErrNotFound, errkind.ErrInvalidConfig), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := errkind.ExitCode(tc.err); got != tc.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestMark(t *testing.T) {
	inner := fmt.Errorf("open x: %w", fs.ErrNotExist)
	err := errkind.Mark(errkind.ErrUsage, inner)
	if err.Error() != "open x: file does not exist" || !errors.Is(err, errkind.ErrUsage) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Mark: %q, usage %v, ErrNotExist %v", err, errors.Is(err, errkind.ErrUsage), errors.Is(err, fs.ErrNotExist))
	}
	if errkind.Mark(errkind.ErrUsage, nil) != nil {
		t.Error("Mark of nil is not nil")
	}
}

func TestReport(t *testing.T) {
	var b bytes.Buffer
	code := errkind.Report(&b, "hostctl", fmt.Errorf("logs nope: %w", errkind.ErrNotFound))
	if code != 4 || b.String() != "hostctl: logs nope: not found\n" {
		t.Errorf("Report: %d %q", code, b.String())
	}
	b.Reset()
	if code := errkind.Report(&b, "hostctl", nil); code != 0 || b.Len() != 0 {
		t.Errorf("Report(nil): %d %q", code, b.String())
	}
}

// TestHelpAndREADME checks that --help and the README's table list the
// same statuses.
func TestHelpAndREADME(t *testing.T) {
	var fromHelp, fromREADME []string
	for _, line := range strings.Split(errkind.Help(), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			fromHelp = append(fromHelp, f[0]+" "+strings.Join(f[1:], " "))
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "| status | meaning |\n|---|---|\n")
	if !ok {
		t.Fatal("README.md has no table of exit statuses")
	}
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| ") {
			break
		}
		f := strings.Split(strings.Trim(line, "| "), " | ")
		fromREADME = append(fromREADME, strings.Join(f, " "))
	}
	if diff := cmp.Diff(fromHelp, fromREADME); diff != "" {
		t.Errorf("README.md's exit statuses differ from --help (-help +README):\n%s", diff)
	}
	if len(fromHelp) != len(errkind.Kinds)+2 {
		t.Errorf("help lists %d statuses, want %d", len(fromHelp), len(errkind.Kinds)+2)
	}
}
