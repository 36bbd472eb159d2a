// Package boot runs PID 1's boot as a sequence of named phases. The plan is
// data: tests compare it with a golden list, and each log line is the step,
// "phase 3/8 state", followed once it ends by its duration,
// "phase 3/8 state done in 0.412s".
package boot

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Phase is one step of boot.
type Phase struct {
	Name string
	Run  func(ctx context.Context) error
	// Fatal phases stop boot on error (PID 1 then drops to a rescue shell);
	// the others log the error and boot goes on.
	Fatal bool
}

func (p Phase) String() string { return p.Name }

// Plan is an ordered list of phases.
type Plan []Phase

// Names lists the phase names in order.
func (p Plan) Names() []string {
	out := make([]string, len(p))
	for i, ph := range p {
		out[i] = ph.Name
	}
	return out
}

// PhaseError is a fatal phase's failure.
type PhaseError struct {
	Phase string
	Err   error
}

func (e *PhaseError) Error() string { return fmt.Sprintf("phase %s: %v", e.Phase, e.Err) }
func (e *PhaseError) Unwrap() error { return e.Err }

// ErrBreak is the error of a phase the user asked to stop before
// (berth.break=PHASE), to get a shell there.
var ErrBreak = errors.New("stopped here as asked by berth.break")

// Run runs the plan in order. It logs each phase's start and a non-fatal
// failure with logf, and each phase's duration with debugf ("phase 3/8
// config done in 0.412s", or "failed in" for a fatal failure), so that a
// caller can keep the durations out of the consoles. A phase that panics is
// treated as failed. It stops at the first fatal failure, and before the
// phase breakAt names (asked when each phase starts, since the command line
// is only read during boot).
func (p Plan) Run(ctx context.Context, logf, debugf func(format string, args ...any), breakAt func() string) error {
	for i, ph := range p {
		if breakAt != nil && breakAt() == ph.Name {
			return &PhaseError{Phase: ph.Name, Err: ErrBreak}
		}
		logf("phase %d/%d %s", i+1, len(p), ph.Name)
		start := time.Now()
		err := runSafe(ctx, ph)
		secs := time.Since(start).Seconds()
		if err != nil && ph.Fatal {
			debugf("phase %d/%d %s failed in %.3fs", i+1, len(p), ph.Name, secs)
			return &PhaseError{Phase: ph.Name, Err: err}
		}
		if err != nil {
			logf("phase %s: %v (continuing)", ph.Name, err)
		}
		debugf("phase %d/%d %s done in %.3fs", i+1, len(p), ph.Name, secs)
	}
	return nil
}

func runSafe(ctx context.Context, ph Phase) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return ph.Run(ctx)
}
