// Package console holds what a console switch decides, apart from the
// runtime that carries it out: which service a console name means
// (ubuntu, console-ubuntu, default), which console starts at boot, the
// users a distribution console gets (its own system users plus the host's,
// from cloud-config), and the switch itself, a small state machine over a
// three-call runtime, so that a failed switch always leaves a console.
package console

import (
	"fmt"
	"slices"
	"strings"
)

const (
	// Default is berth.console's name for the built-in console.
	Default = "default"
	// Builtin is the built-in console's service.
	Builtin = "console"
	// Prefix starts every catalogue console's service name.
	Prefix = "console-"
)

// Short is the name hostctl console shows for a console's service:
// default for the built-in, ubuntu for console-ubuntu.
func Short(service string) string {
	if service == Builtin {
		return Default
	}
	return strings.TrimPrefix(service, Prefix)
}

// IsConsole says whether a service is a console: the built-in or a
// catalogue console-NAME.
func IsConsole(service string) bool {
	return service == Builtin || (strings.HasPrefix(service, Prefix) && len(service) > len(Prefix))
}

// Resolve turns a console's name, as berth.console or hostctl console
// takes it (default, ubuntu, console-ubuntu; empty is default), into its
// service, one of known (the catalogue's console-NAME entries).
func Resolve(name string, known []string) (string, error) {
	switch name {
	case "", Default, Builtin:
		return Builtin, nil
	}
	svc := name
	if !strings.HasPrefix(svc, Prefix) {
		svc = Prefix + name
	}
	if slices.Contains(known, svc) {
		return svc, nil
	}
	names := []string{Default}
	for _, k := range known {
		if IsConsole(k) && k != Builtin {
			names = append(names, Short(k))
		}
	}
	slices.Sort(names[1:])
	return "", fmt.Errorf("no console %q (known: %s)", name, strings.Join(names, ", "))
}

// Choice is the console that starts at boot, and why it is not the one
// asked for when it is not.
type Choice struct {
	Wanted  string // the service berth.console names
	Service string // the service that starts
	Reason  string // why Service is not Wanted; empty when it is
}

// Choose picks the console that starts at boot: the one berth.console
// names when check (does its image sit in the local store, can it be
// prepared) says it can start, else the built-in, with the reason. A name
// that means no console is a reason too: the host must keep a login.
func Choose(name string, known []string, check func(service string) error) Choice {
	svc, err := Resolve(name, known)
	if err != nil {
		return Choice{Wanted: name, Service: Builtin, Reason: fmt.Sprintf("berth.console: %v; the default console runs instead", err)}
	}
	c := Choice{Wanted: svc, Service: svc}
	if svc == Builtin {
		return c
	}
	if err := check(svc); err != nil {
		c.Service = Builtin
		c.Reason = fmt.Sprintf("console %s cannot start: %v; the default console runs instead", Short(svc), err)
	}
	return c
}
