package console

import (
	"context"
	"errors"
	"fmt"
)

// Runtime is what a switch needs of the host: three calls, which tests
// fake.
type Runtime interface {
	// Prepare starts a console and waits until it is ready to take the
	// logins over (its users merged, sshd's keys and configuration
	// checked) without taking them: the old console still holds port 22
	// and the ttys.
	Prepare(ctx context.Context, service string) error
	// Activate hands the logins to a console that is prepared, and waits
	// until it serves them (sshd listening, the gettys started).
	Activate(ctx context.Context, service string) error
	// Stop stops a console and waits until it is gone.
	Stop(ctx context.Context, service string) error
}

// ErrSwitch marks a switch that failed; the error says which console is
// left running.
var ErrSwitch = errors.New("console switch failed")

// Switch moves the logins from the console from to the console to: to is
// prepared while from still serves, then from stops and to takes over.
// When to cannot be prepared, from is left as it was; when from cannot be
// stopped, to is stopped and from stays; when to cannot take over, it is
// stopped and from is started and activated again. The error wraps
// ErrSwitch and says which console serves.
func Switch(ctx context.Context, rt Runtime, from, to string) error {
	if from == to {
		return nil
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrSwitch}, a...)...)
	}
	if err := rt.Prepare(ctx, to); err != nil {
		if serr := rt.Stop(context.WithoutCancel(ctx), to); serr != nil {
			err = errors.Join(err, serr)
		}
		return fail("console %s did not start: %v; %s stays the console", Short(to), err, Short(from))
	}
	if err := rt.Stop(ctx, from); err != nil {
		rt.Stop(context.WithoutCancel(ctx), to)
		// from was asked to stop: make sure it serves again.
		if aerr := back(context.WithoutCancel(ctx), rt, from); aerr != nil {
			return fail("stop console %s: %v; bringing it back: %v", Short(from), err, aerr)
		}
		return fail("stop console %s: %v; it stays the console", Short(from), err)
	}
	if err := rt.Activate(ctx, to); err != nil {
		rt.Stop(context.WithoutCancel(ctx), to)
		if aerr := back(context.WithoutCancel(ctx), rt, from); aerr != nil {
			return fail("console %s did not take over: %v; bringing %s back: %v", Short(to), err, Short(from), aerr)
		}
		return fail("console %s did not take over: %v; %s is back", Short(to), err, Short(from))
	}
	return nil
}

// back starts a console again and hands it the logins.
func back(ctx context.Context, rt Runtime, service string) error {
	if err := rt.Prepare(ctx, service); err != nil {
		return err
	}
	return rt.Activate(ctx, service)
}
