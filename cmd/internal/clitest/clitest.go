// Package clitest runs a command's real main from its own tests: the test
// binary runs itself again as the command, so a test sees the exit status
// and the output that a shell would.
package clitest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"testing"
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
