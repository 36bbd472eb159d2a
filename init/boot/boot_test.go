package boot

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

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
	// Both logs in one list, the durations' lines marked "debug:" and their
	// figures left out (see TestRunLogsDurations).
	var log []string
	logf := func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) }
	debugf := func(f string, a ...any) {
		log = append(log, "debug: "+secondsRe.ReplaceAllString(fmt.Sprintf(f, a...), "${1}N.NNNs"))
	}
	err := p.Run(context.Background(), logf, debugf, nil)
	var pe *PhaseError
	if !errors.As(err, &pe) || pe.Phase != "state" || !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if diff := cmp.Diff([]string{"mounts", "sysctl", "state"}, ran); diff != "" {
		t.Errorf("ran (-want +got)\n%s", diff)
	}
	want := []string{
		"phase 1/5 mounts",
		"debug: phase 1/5 mounts done in N.NNNs",
		"phase 2/5 sysctl",
		"phase sysctl: one key missing (continuing)",
		"debug: phase 2/5 sysctl done in N.NNNs",
		"phase 3/5 panics",
		"phase panics: panic: oops (continuing)",
		"debug: phase 3/5 panics done in N.NNNs",
		"phase 4/5 state",
		"debug: phase 4/5 state failed in N.NNNs",
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
	nolog := func(string, ...any) {}
	err := p.Run(context.Background(), nolog, nolog, func() string { return "etc" })
	var pe *PhaseError
	if !errors.As(err, &pe) || pe.Phase != "etc" || !errors.Is(err, ErrBreak) {
		t.Fatalf("err = %v", err)
	}
	if strings.Join(ran, " ") != "mounts state" {
		t.Errorf("ran %v", ran)
	}
}

// secondsRe matches the figure of a duration line, "done in 0.412s".
var secondsRe = regexp.MustCompile(`((?:done|failed) in )[0-9]+\.[0-9]{3}s$`)

// Each phase's duration line gives the time it ran, in seconds with
// milliseconds, for bench to read.
func TestRunLogsDurations(t *testing.T) {
	sleep := func(d time.Duration) func(context.Context) error {
		return func(context.Context) error { time.Sleep(d); return nil }
	}
	p := Plan{{Name: "quick", Run: sleep(0)}, {Name: "config", Run: sleep(120 * time.Millisecond)}}
	var got []string
	err := p.Run(context.Background(), func(string, ...any) {}, func(f string, a ...any) { got = append(got, fmt.Sprintf(f, a...)) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`^phase 1/2 quick done in (0\.0[0-9][0-9])s$`),
		regexp.MustCompile(`^phase 2/2 config done in ([0-9]+\.[0-9]{3})s$`),
	}
	if len(got) != len(want) {
		t.Fatalf("duration lines %q, want %d", got, len(want))
	}
	for i, re := range want {
		if !re.MatchString(got[i]) {
			t.Errorf("line %q, want it to match %s", got[i], re)
		}
	}
	m := want[1].FindStringSubmatch(got[1])
	if m == nil {
		t.FailNow()
	}
	if secs, _ := strconv.ParseFloat(m[1], 64); secs < 0.12 || secs > 5 {
		t.Errorf("config took %s s by its line, want the 0.12 s it slept (and not much more)", m[1])
	}
}
