// Package errkind names the kinds of error that Berth's programs tell apart
// (usage, invalid configuration, not found, unavailable) and maps each kind
// to the exit status of berth and hostctl.
//
// A kind is a sentinel that errors wrap, in the style of containerd's
// errdefs: code that knows what went wrong wraps the sentinel
// (fmt.Errorf("...: %w", errkind.ErrNotFound), or Mark to keep a message as
// it is), and code that must react asks errors.Is. The host API carries the
// kind across its socket as an HTTP status (init/api), so that hostctl exits
// with the kind PID 1 judged.
package errkind

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// The kinds. Their messages read as the end of a wrapped error.
var (
	// ErrUsage is a command line that does not parse: an unknown command,
	// a bad flag, a missing or extra argument.
	ErrUsage = errors.New("usage error")
	// ErrInvalidConfig is a configuration rejected by validation: a
	// cloud-config document, an image or service spec, a config key or
	// value. strictyaml's errors are of this kind.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrNotFound is a named thing that does not exist: a file, a service,
	// a key that is not set.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable is a service that did not answer: the host API (PID 1
	// down or not listening) or a server over the network.
	ErrUnavailable = errors.New("unavailable")
)

// Exit statuses that belong to no kind.
const (
	ExitOK      = 0
	ExitFailure = 1 // any error of no kind below
)

// A Kind is one sentinel with its exit status.
type Kind struct {
	Err  error
	Exit int
	Doc  string // what the status means, for --help and the README
}

// Kinds is every kind, in the order ExitCode tries them: the first that
// errors.Is finds in an error decides its status.
var Kinds = []Kind{
	{ErrUsage, 2, "usage: unknown command, bad flag or argument"},
	{ErrInvalidConfig, 3, "invalid configuration (file, field and problem are printed)"},
	{ErrNotFound, 4, "not found: a file, a service, a key that is not set"},
	{ErrUnavailable, 5, "unavailable: the host API or a server did not answer"},
}

// ExitCode is the exit status for err: ExitOK for nil, the status of the
// first kind in Kinds that err wraps, else what the standard library's own
// error says (a missing file is ErrNotFound, a network error
// ErrUnavailable), else ExitFailure.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	for _, k := range Kinds {
		if errors.Is(err, k.Err) {
			return k.Exit
		}
	}
	return exitOf(stdKind(err))
}

// stdKind is the kind of an error that wraps none of ours, from the
// standard library's sentinels and types; nil when it has none.
func stdKind(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotFound
	case errors.Is(err, fs.ErrPermission):
		return nil // e.g. a root-only socket: reachable, but not by this user
	case errors.As(err, &ne):
		return ErrUnavailable
	}
	return nil
}

func exitOf(kind error) int {
	for _, k := range Kinds {
		if kind == k.Err {
			return k.Exit
		}
	}
	return ExitFailure
}

// Mark returns err as an error of kind, with err's message unchanged.
// errors.Is and errors.As see both kind and err's own chain.
func Mark(kind, err error) error {
	if err == nil {
		return nil
	}
	return &marked{kind: kind, err: err}
}

type marked struct{ kind, err error }

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() []error { return []error{m.err, m.kind} }

// Help is the "Exit status:" block of a command's --help.
func Help() string {
	var b strings.Builder
	b.WriteString("Exit status:\n")
	fmt.Fprintf(&b, "  %d  success\n", ExitOK)
	fmt.Fprintf(&b, "  %d  any other error\n", ExitFailure)
	for _, k := range Kinds {
		fmt.Fprintf(&b, "  %d  %s\n", k.Exit, k.Doc)
	}
	return b.String()
}

// Report prints err to stderr after the program's name and returns the exit
// status for it.
func Report(stderr io.Writer, name string, err error) int {
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
	}
	return ExitCode(err)
}

// Main is the whole main of a command: it runs run with the command line
// and a context that SIGINT and SIGTERM cancel, reports its error and exits
// with the status of the error's kind.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(Report(os.Stderr, name, err))
}
