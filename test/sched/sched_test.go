package sched

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOrder(t *testing.T) {
	q := Order([]Scenario{
		{Name: "A", Expect: time.Second}, {Name: "B", Expect: time.Minute},
		{Name: "Base", Expect: time.Second}, {Name: "C", Expect: time.Hour},
		{Name: "Fork", Expect: 2 * time.Hour, After: "Base"},
	})
	var names []string
	for _, s := range q {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, " "); got != "Base Fork C B A" {
		t.Errorf("order %q, want the scenario others come after first, then longest first", got)
	}
}

// The cores held at once never pass Cores, and a scenario that wants more
// than there are runs alone; the scheduler still fills the cores.
func TestCores(t *testing.T) {
	var held, most, alone atomic.Int64
	var mu sync.Mutex
	scenario := func(name string, cpus int) Scenario {
		return Scenario{Name: name, Expect: time.Duration(cpus) * time.Second, CPUs: cpus, Run: func(t *testing.T) {
			n := held.Add(int64(min(cpus, 2)))
			mu.Lock()
			most.Store(max(most.Load(), n))
			if cpus > 2 && n == 2 {
				alone.Add(1)
			}
			mu.Unlock()
			time.Sleep(30 * time.Millisecond)
			held.Add(-int64(min(cpus, 2)))
		}}
	}
	list := []Scenario{scenario("one1", 1), scenario("two1", 2), scenario("one2", 1), scenario("one3", 1), scenario("four", 4), scenario("two2", 2), scenario("one4", 1)}
	ts := Run(t, list, Options{Cores: 2})
	if len(ts) != len(list) {
		t.Fatalf("%d timings, want %d", len(ts), len(list))
	}
	if most.Load() != 2 {
		t.Errorf("at most %d cores held at once, want 2 (never more, and full)", most.Load())
	}
	if alone.Load() != 1 {
		t.Errorf("the scenario that wants 4 cores ran alone %d times, want 1", alone.Load())
	}
	for _, tm := range ts {
		if tm.Result != OK {
			t.Errorf("%s: %s", tm.Name, tm.Result)
		}
	}
}

// A scenario that comes after another starts once that one ended, and
// holds no core while it waits.
func TestAfter(t *testing.T) {
	var baseDone, forkStarted, otherStarted atomic.Int64
	list := []Scenario{
		{Name: "Base", Expect: time.Second, CPUs: 1, Run: func(t *testing.T) {
			time.Sleep(500 * time.Millisecond)
			baseDone.Store(time.Now().UnixNano())
		}},
		{Name: "Fork", Expect: time.Hour, CPUs: 1, After: "Base", Run: func(t *testing.T) {
			forkStarted.Store(time.Now().UnixNano())
		}},
		{Name: "Other", Expect: time.Minute, CPUs: 1, Run: func(t *testing.T) { otherStarted.Store(time.Now().UnixNano()) }},
	}
	Run(t, list, Options{Cores: 2})
	if forkStarted.Load() < baseDone.Load() {
		t.Error("Fork started before Base ended")
	}
	if otherStarted.Load() > baseDone.Load() {
		t.Error("Other started after Base ended: Fork held the second core while it waited")
	}
}

// When the next scenario in order waits for cores, a later one starts
// beside what runs only if it should end before those cores free up: the
// long one-core scenarios wait behind the two-core one, a short one fills
// in.
func TestBackfill(t *testing.T) {
	var mu sync.Mutex
	started := map[string]time.Time{}
	scenario := func(name string, cpus int, expect, runs time.Duration, after string) Scenario {
		return Scenario{Name: name, CPUs: cpus, Expect: expect, After: after, Run: func(t *testing.T) {
			mu.Lock()
			started[name] = time.Now()
			mu.Unlock()
			time.Sleep(runs)
		}}
	}
	list := []Scenario{
		scenario("Base", 1, 2*time.Second, 500*time.Millisecond, ""),
		scenario("Fork", 1, time.Millisecond, 0, "Base"), // puts Base first
		scenario("Two", 2, 10*time.Second, 200*time.Millisecond, ""),
		scenario("Long", 1, 8*time.Second, 50*time.Millisecond, ""),
		scenario("Mid", 1, 5*time.Second, 50*time.Millisecond, ""),
		scenario("Short", 1, 100*time.Millisecond, 50*time.Millisecond, ""),
	}
	Run(t, list, Options{Cores: 2})
	if !started["Short"].Before(started["Two"]) {
		t.Error("Short did not fill in beside Base while Two waited for both cores")
	}
	for _, n := range []string{"Long", "Mid"} {
		if started[n].Before(started["Two"]) {
			t.Errorf("%s started before Two, which was ahead of it and waiting for cores", n)
		}
	}
}

// Wait moves the deadline: a scenario that waited for another is not
// killed for it.
func TestWaitExtends(t *testing.T) {
	list := []Scenario{{Name: "Fork", CPUs: 1, Run: func(t *testing.T) {
		time.Sleep(time.Second)
		Wait(t, 3*time.Second)
		select {
		case <-Ctx(t).Done():
			t.Error("killed although its wait moved the deadline")
		case <-time.After(2 * time.Second):
		}
	}}}
	ts := Run(t, list, Options{Cores: 1, Deadline: func(Scenario) time.Duration { return 2 * time.Second }})
	if ts[0].Result != OK || ts[0].Waited != 3*time.Second {
		t.Errorf("result %s, waited %s; want ok and 3s", ts[0].Result, ts[0].Waited)
	}
}

// helper runs this test binary's TestHelper with mode, which must fail,
// and returns its output.
func helper(t *testing.T, mode string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "SCHED_HELPER="+mode)
	begin := time.Now()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("helper %s passed; want it to fail:\n%s", mode, out)
	}
	if took := time.Since(begin); took > 20*time.Second {
		t.Errorf("helper %s took %s: the kill did not end it", mode, took)
	}
	return string(out)
}

// At its deadline a scenario fails, and what it started under Ctx (a
// process that would run a minute) is killed at once.
func TestDeadlineKills(t *testing.T) {
	out := helper(t, "deadline")
	for _, re := range []string{
		`scenario Sleeper is past its deadline of 300ms \(expected 1s\): its QEMU processes and builds are killed`,
		`(?m)^\s*Sleeper +1 .* KILLED$`,
		`sleep ended: signal: killed`,
		`(?m)^\s*Quick +1 .* ok$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("helper output lacks %q:\n%s", re, out)
		}
	}
}

// At the suite's deadline what runs is killed and what is queued fails as
// not run, and the table still comes.
func TestSuiteStop(t *testing.T) {
	out := helper(t, "stop")
	for _, re := range []string{
		`the suite's deadline has passed: its QEMU processes and builds are killed`,
		`(?m)^\s*Long +1 .* KILLED$`,
		`not run: the suite's deadline passed before it started`,
		`(?m)^\s*Queued +1 .* not run$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("helper output lacks %q:\n%s", re, out)
		}
	}
}

// TestHelper is run by the tests above in a process of its own: its
// scenarios fail on purpose.
func TestHelper(t *testing.T) {
	mode := os.Getenv("SCHED_HELPER")
	if mode == "" {
		t.Skip("run by TestDeadlineKills and TestSuiteStop")
	}
	sleeper := func(t *testing.T) {
		cmd := exec.CommandContext(Ctx(t), "sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Logf("sleep ended: %v", cmd.Wait())
	}
	begin := time.Now()
	var ts []Timing
	switch mode {
	case "deadline":
		ts = Run(t, []Scenario{
			{Name: "Sleeper", Expect: time.Second, CPUs: 1, Run: sleeper},
			{Name: "Quick", Expect: time.Millisecond, CPUs: 1, Run: func(t *testing.T) {}},
		}, Options{Cores: 2, Deadline: func(sc Scenario) time.Duration {
			if sc.Name == "Sleeper" {
				return 300 * time.Millisecond
			}
			return time.Minute
		}})
	case "stop":
		ts = Run(t, []Scenario{
			{Name: "Long", Expect: time.Hour, CPUs: 1, Run: sleeper},
			{Name: "Queued", Expect: time.Minute, CPUs: 1, Run: sleeper},
		}, Options{Cores: 1, Stop: time.After(300 * time.Millisecond)})
	}
	t.Log("\n" + Table(ts, time.Since(begin), 2))
}

// A scenario's cpu is what Spent added for it: from its body, from a
// subtest and from a cleanup (a VM often ends in one). The table has it
// and the total; outside a scenario Spent does nothing.
func TestSpent(t *testing.T) {
	list := []Scenario{
		{Name: "Busy", Expect: time.Second, CPUs: 1, Run: func(t *testing.T) {
			Spent(t, 2*time.Second)
			t.Run("check", func(t *testing.T) { Spent(t, 3*time.Second) })
			t.Cleanup(func() { Spent(t, 4*time.Second) })
		}},
		{Name: "Idle", Expect: time.Second, CPUs: 1, Run: func(t *testing.T) {}},
	}
	ts := Run(t, list, Options{Cores: 2})
	Spent(t, time.Hour)
	got := map[string]time.Duration{}
	for _, tm := range ts {
		got[tm.Name] = tm.CPU
	}
	if got["Busy"] != 9*time.Second || got["Idle"] != 0 {
		t.Errorf("cpu %v, want Busy 9s (its body's, its subtest's and its cleanup's) and Idle none", got)
	}
	table := Table(ts, time.Second, 2)
	for _, re := range []string{`(?m)^scenario +cpus +start +took +cpu +expect `, `(?m)^Busy +1 +\S+ +\S+ +9s +1s `, `(?m)^Idle +1 +\S+ +\S+ +- +1s `, `of which the scenarios' cpu column 9s\n`} {
		if !regexp.MustCompile(re).MatchString(table) {
			t.Errorf("the table lacks %q:\n%s", re, table)
		}
	}
}
