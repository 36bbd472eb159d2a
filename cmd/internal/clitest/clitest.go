// Package clitest runs a command's real main from its own tests: the test
// binary runs itself again as the command, so a test sees the exit status
// and the output that a shell would. Check compares that with what run
// returns in the test's own process.
package clitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/errkind"
)

// env, set in a child, makes TestMain run the command's main instead of
// the tests.
const env = "BERTH_CLITEST_MAIN"

// Main is the body of a command's TestMain: main itself in a child that
// Run started, the tests otherwise.
func Main(m *testing.M, main func()) {
	if os.Getenv(env) == "1" {
		main()
		os.Exit(0) // main returned without exiting
	}
	os.Exit(m.Run())
}

// Result is what a run of main did.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs the command's main with args in a child process, its standard
// input empty, and returns its exit status and output.
func Run(t *testing.T, args ...string) Result {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("find the test binary: %v", err)
	}
	var out, errb bytes.Buffer
	c := exec.Command(exe, args...)
	c.Env = append(os.Environ(), env+"=1")
	c.Stdout, c.Stderr = &out, &errb
	err = c.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %v: %v", args, err)
	}
	return Result{Code: c.ProcessState.ExitCode(), Stdout: out.String(), Stderr: errb.String()}
}

// Want is what a command line should do.
type Want struct {
	Code   int    // exit status
	Err    string // in the error (run's, and main's last line on stderr)
	Stdout string // in stdout
	Stderr string // in stderr, before the error: help, warnings
}

// Check runs args through run, in this process, and through main, in a
// child (see Run), as a subtest called name, and checks that both do what
// want says: the exit status of run's error (errkind.ExitCode) and of
// main, and that main prints run's error last, after the program's name.
func Check(t *testing.T, name, program string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error, args []string, want Want) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		var out, errb bytes.Buffer
		err := run(context.Background(), args, &out, &errb)
		if got := errkind.ExitCode(err); got != want.Code {
			t.Errorf("run: exit status %d, want %d (err %v)", got, want.Code, err)
		}
		check(t, "run", want, fmt.Sprint(err), out.String(), errb.String())
		r := Run(t, args...)
		if r.Code != want.Code {
			t.Errorf("main: exit status %d, want %d\nstderr: %s", r.Code, want.Code, r.Stderr)
		}
		if err != nil && !strings.HasSuffix(r.Stderr, program+": "+err.Error()+"\n") {
			t.Errorf("main: stderr does not end with the error %q:\n%s", err, r.Stderr)
		}
		check(t, "main", want, r.Stderr, r.Stdout, r.Stderr)
	})
}

func check(t *testing.T, how string, want Want, gotErr, gotOut, gotErrOut string) {
	t.Helper()
	for _, c := range []struct{ what, want, got string }{{"error", want.Err, gotErr}, {"stdout", want.Stdout, gotOut}, {"stderr", want.Stderr, gotErrOut}} {
		if !strings.Contains(c.got, c.want) {
			t.Errorf("%s: %s lacks %q:\n%s", how, c.what, c.want, c.got)
		}
	}
}
