package boot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRun(t *testing.T) {
	var ran []string
	step := func(name string, err error) Phase {
		return Phase{Name: name, Run: func(context.Context) error { ran = append(ran, name); return err }}
	}
	boom := errors.New("boom")
	p := Plan{
		step("mounts", nil),
		step("sysctl", errors.New("one key missing")),
		{Name: "panics", Run: func(context.Context) error { panic("oops") }},
		{Name: "state", Fatal: true, Run: func(context.Context) error { ran = append(ran, "state"); return boom }},
		step("never", nil),
	}
	var log []string
	err := p.Run(context.Background(), func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) }, nil)
	var pe *PhaseError
	if !errors.As(err, &pe) || pe.Phase != "state" || !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if diff := cmp.Diff([]string{"mounts", "sysctl", "state"}, ran); diff != "" {
		t.Errorf("ran (-want +got)\n%s", diff)
	}
	want := []string{
		"phase 1/5 mounts",
		"phase 2/5 sysctl",
		"phase sysctl: one key missing (continuing)",
		"phase 3/5 panics",
		"phase panics: panic: oops (continuing)",
		"phase 4/5 state",
	}
	if diff := cmp.Diff(want, log); diff != "" {
		t.Errorf("log (-want +got)\n%s", diff)
	}
	if got := strings.Join(p.Names(), " "); got != "mounts sysctl panics state never" {
		t.Errorf("names %q", got)
	}
}

func TestBreak(t *testing.T) {
	var ran []string
	step := func(name string) Phase {
		return Phase{Name: name, Run: func(context.Context) error { ran = append(ran, name); return nil }}
	}
	p := Plan{step("mounts"), step("state"), step("etc")}
	err := p.Run(context.Background(), func(string, ...any) {}, func() string { return "etc" })
	var pe *PhaseError
	if !errors.As(err, &pe) || pe.Phase != "etc" || !errors.Is(err, ErrBreak) {
		t.Fatalf("err = %v", err)
	}
	if strings.Join(ran, " ") != "mounts state" {
		t.Errorf("ran %v", ran)
	}
}
