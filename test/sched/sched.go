// Package sched runs the QEMU suite's scenarios: longest first, never
// more at once than the cores allow (each scenario declares the cores it
// keeps busy: its VMs' vCPUs, or a build's), each under a deadline of its
// own. At a scenario's deadline its context ends, which kills what it
// started (QEMU, builds, tools started with Ctx), and it fails. The suite
// may have a deadline too: then what runs is killed and what is queued
// fails as not run, so that the timing table is printed before go test's
// own timeout.
package sched

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A Scenario is one unit of the suite: a VM (booted, or forked from a
// saved machine) that runs many checks as subtests, or a build.
type Scenario struct {
	Name string
	// Expect is how long the scenario takes on a 2-core machine under
	// TCG with another scenario beside it: the order, and the deadline.
	Expect time.Duration
	Run    func(t *testing.T)
	// CPUs is how many cores the scenario keeps busy at once.
	CPUs int
	// After names a scenario that must have ended (or been left out by
	// -run) before this one starts: a fork waits for the saved machine
	// without holding a core.
	After string
}

// Deadline is how long a scenario may run: twice its expected time and a
// minute.
func Deadline(s Scenario) time.Duration { return 2*s.Expect + time.Minute }

// Options set how Run schedules.
type Options struct {
	Cores int
	// Stop, when it fires, stops the suite: running scenarios are killed
	// and fail, queued ones fail as not run.
	Stop <-chan time.Time
	// Deadline is a scenario's deadline; sched.Deadline when nil.
	Deadline func(Scenario) time.Duration
	// Progress gets a line a minute: what runs, and for how long.
	Progress io.Writer
	// Tick is how often Progress gets a line; a minute when zero.
	Tick time.Duration
}

// Result is how a scenario ended.
type Result string

const (
	OK     Result = "ok"
	Failed Result = "FAIL"
	Killed Result = "KILLED" // past its deadline, or the suite's
	NotRun Result = "not run"
	// Skipped is a scenario that said it could not run (a missing test
	// corpus outside CI): loud in the table, never in CI.
	Skipped Result = "SKIPPED"
)

// Timing is one line of the timing table.
type Timing struct {
	Name     string
	CPUs     int
	Expect   time.Duration
	Deadline time.Duration
	Started  time.Duration // after the suite started
	Took     time.Duration
	Waited   time.Duration // set by the scenario (Wait): time it spent waiting for another
	// CPU is the processor time of the processes the scenario ran and
	// accounted for (Spent): its QEMUs, its builds.
	CPU    time.Duration
	Result Result
}

// live is a running scenario. Its context ends at its deadline, or the
// suite's. Only the scenario's own goroutine ends it (ended).
type live struct {
	t      *testing.T
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	timer  *time.Timer
	due    time.Time
	ended  bool
	killed string // why its context ended before the scenario did
	waited time.Duration
}

// lives holds the running scenarios by their test's name (TestQEMU/Name).
var lives sync.Map

// spent holds each running scenario's processor time (an *atomic.Int64 of
// nanoseconds) by its test's name, until its cleanups have run: what it
// started is accounted for as it ends, and a VM often ends in a cleanup.
var spent sync.Map

// scenarioName is the test name of the scenario that t (a scenario or
// one of its subtests) belongs to.
func scenarioName(t testing.TB) string {
	parts := strings.SplitN(t.Name(), "/", 3)
	if len(parts) < 2 {
		return ""
	}
	return parts[0] + "/" + parts[1]
}

// of is the running scenario that t (a scenario or one of its subtests)
// belongs to, or nil.
func of(t testing.TB) *live {
	v, _ := lives.Load(scenarioName(t))
	l, _ := v.(*live)
	return l
}

// Spent adds d, the processor time of a process that t's scenario ran (a
// QEMU, a build) and that has ended, to the scenario's CPU. It may be
// called from t's cleanups; outside a scenario it does nothing.
func Spent(t testing.TB, d time.Duration) {
	if v, ok := spent.Load(scenarioName(t)); ok {
		v.(*atomic.Int64).Add(int64(d))
	}
}

// Ctx is the context of t's scenario: it ends at the scenario's deadline.
// Whatever a scenario starts (QEMU, a build, a tool) runs under it. Outside
// a scenario it is context.Background().
func Ctx(t testing.TB) context.Context {
	if l := of(t); l != nil {
		return l.ctx
	}
	return context.Background()
}

// Wait records that t's scenario waited d for another (a fork for the saved
// machine) and moves its deadline d later: the wait is not its own time.
func Wait(t testing.TB, d time.Duration) {
	l := of(t)
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waited += d
	if l.ended || l.killed != "" {
		return
	}
	l.due = l.due.Add(d)
	l.timer.Reset(time.Until(l.due))
}

// expire fails the scenario with why and kills what it started, unless it
// has ended, or (atDue) unless Wait moved its deadline on while the
// timer fired.
func (l *live) expire(why string, atDue bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended || l.killed != "" || (atDue && time.Now().Before(l.due)) {
		return
	}
	l.killed = why
	l.t.Errorf("%s: its QEMU processes and builds are killed", why)
	l.cancel()
}

// stopped is why the suite stopped.
const stopped = "the suite's deadline has passed"

// run runs sc as a subtest of t under its deadline; once suite is done,
// as at once if it is done when sc starts, sc is killed.
func run(t *testing.T, sc Scenario, deadline time.Duration, suiteStart time.Time, suite context.Context) (tm Timing, ran bool) {
	begin := time.Now()
	tm = Timing{Name: sc.Name, CPUs: sc.CPUs, Expect: sc.Expect, Deadline: deadline, Started: begin.Sub(suiteStart)}
	var killed string
	var skipped bool
	var used atomic.Int64
	name := ""
	ok := t.Run(sc.Name, func(t *testing.T) {
		ran = true
		name = t.Name()
		spent.Store(name, &used)
		ctx, cancel := context.WithCancel(context.Background())
		l := &live{t: t, ctx: ctx, cancel: cancel, due: time.Now().Add(deadline)}
		l.mu.Lock()
		l.timer = time.AfterFunc(deadline, func() {
			l.expire(fmt.Sprintf("scenario %s is past its deadline of %s (expected %s)", sc.Name, deadline, sc.Expect), true)
		})
		l.mu.Unlock()
		lives.Store(t.Name(), l)
		// A stop that came between the dispatch and the Store above.
		if suite.Err() != nil {
			l.expire(stopped, false)
		}
		defer func() {
			l.mu.Lock()
			l.ended = true
			l.timer.Stop()
			killed, tm.Waited = l.killed, l.waited
			l.mu.Unlock()
			skipped = t.Skipped()
			lives.Delete(t.Name())
			cancel()
		}()
		sc.Run(t)
	})
	tm.Took = time.Since(begin)
	// The subtest's cleanups have run: what they ended is counted.
	tm.CPU = time.Duration(used.Load())
	spent.Delete(name)
	switch {
	case killed != "":
		tm.Result = Killed
	case !ok:
		tm.Result = Failed
	case skipped:
		tm.Result = Skipped
	default:
		tm.Result = OK
	}
	return tm, ran
}

// Run runs the scenarios as subtests of t: longest first, as many at once
// as opt.Cores allows (a scenario that wants more runs alone), each once
// the scenario it comes after has ended, each under its deadline. When the
// next scenario in order waits for cores, it keeps its place: a later one
// starts only if it should end before those cores free up, or takes cores
// that the waiting one will not need (EASY backfilling, by expected
// times). It returns their timings in the order they started; -run may
// leave some out.
func Run(t *testing.T, list []Scenario, opt Options) []Timing {
	if opt.Cores < 1 {
		t.Fatalf("sched: %d cores: want at least 1", opt.Cores)
	}
	deadline := opt.Deadline
	if deadline == nil {
		deadline = Deadline
	}
	tick := opt.Tick
	if tick == 0 {
		tick = time.Minute
	}
	queue := Order(list)
	names := map[string]bool{}
	for _, sc := range list {
		names[sc.Name] = true
	}
	start := time.Now()
	suite, stopSuite := context.WithCancel(context.Background())
	defer stopSuite()
	type result struct {
		tm   Timing
		ran  bool
		cpus int
	}
	type running struct {
		start time.Time
		sc    Scenario
		cpus  int
	}
	done := make(chan result)
	var (
		timings []Timing
		runs    = map[string]running{}
		ended   = map[string]bool{}
		free    = opt.Cores
		halted  bool
		stop    = opt.Stop
	)
	cpus := func(sc Scenario) int { return min(max(sc.CPUs, 1), opt.Cores) }
	// shadow is when need cores will be free, by the running scenarios'
	// expected ends, and how many more than need are free then.
	shadow := func(now time.Time, need int) (time.Time, int) {
		var ends []running
		for _, r := range runs {
			ends = append(ends, r)
		}
		sort.Slice(ends, func(i, j int) bool {
			return ends[i].start.Add(ends[i].sc.Expect).Before(ends[j].start.Add(ends[j].sc.Expect))
		})
		at, avail := now, free
		for _, r := range ends {
			if avail >= need {
				break
			}
			avail += r.cpus
			if end := r.start.Add(r.sc.Expect); end.After(at) {
				at = end
			}
		}
		return at, avail - need
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for (len(queue) > 0 && !halted) || len(runs) > 0 {
		now := time.Now()
		reserved := false
		var until time.Time
		var extra int
		for i := 0; !halted && i < len(queue); {
			sc := queue[i]
			need := cpus(sc)
			if sc.After != "" && names[sc.After] && !ended[sc.After] {
				i++
				continue
			}
			fits := need <= free
			if fits && reserved {
				switch {
				case !now.Add(sc.Expect).After(until):
				case need <= extra:
					extra -= need
				default:
					fits = false
				}
			}
			if !fits {
				if !reserved {
					reserved = true
					until, extra = shadow(now, need)
				}
				i++
				continue
			}
			queue = slices.Delete(queue, i, i+1)
			free -= need
			runs[sc.Name] = running{now, sc, need}
			go func() {
				tm, ran := run(t, sc, deadline(sc), start, suite)
				done <- result{tm, ran, need}
			}()
		}
		if len(runs) == 0 && len(queue) > 0 && !halted {
			// Nothing runs and nothing can start: an After that names
			// itself, or a cycle.
			for _, sc := range queue {
				t.Errorf("scenario %s can't start: it comes after %s, which can't start either", sc.Name, sc.After)
			}
			break
		}
		select {
		case r := <-done:
			free += r.cpus
			delete(runs, r.tm.Name)
			ended[r.tm.Name] = true
			if r.ran {
				timings = append(timings, r.tm)
			}
		case <-stop:
			halted, stop = true, nil
			stopSuite()
			lives.Range(func(k, v any) bool {
				if strings.HasPrefix(k.(string), t.Name()+"/") {
					v.(*live).expire(stopped, false)
				}
				return true
			})
		case <-ticker.C:
			if opt.Progress != nil {
				var s []string
				for n, r := range runs {
					s = append(s, fmt.Sprintf("%s %s", n, time.Since(r.start).Round(time.Second)))
				}
				sort.Strings(s)
				fmt.Fprintf(opt.Progress, "qemu suite: %s, %d done, %d queued, running: %s\n", time.Since(start).Round(time.Second), len(timings), len(queue), strings.Join(s, ", "))
			}
		}
	}
	if halted {
		for _, sc := range queue {
			ran := false
			t.Run(sc.Name, func(t *testing.T) {
				ran = true
				t.Error("not run: the suite's deadline passed before it started")
			})
			if ran {
				timings = append(timings, Timing{Name: sc.Name, CPUs: sc.CPUs, Expect: sc.Expect, Deadline: deadline(sc), Started: time.Since(start), Result: NotRun})
			}
		}
	}
	sort.SliceStable(timings, func(i, j int) bool { return timings[i].Started < timings[j].Started })
	return timings
}

// Order puts the longest first; a scenario that others come after goes
// before every scenario of its length or less, so that they wait little.
func Order(all []Scenario) []Scenario {
	first := map[string]bool{}
	for _, sc := range all {
		if sc.After != "" {
			first[sc.After] = true
		}
	}
	q := slices.Clone(all)
	sort.SliceStable(q, func(i, j int) bool {
		if first[q[i].Name] != first[q[j].Name] {
			return first[q[i].Name]
		}
		return q[i].Expect > q[j].Expect
	})
	return q
}

// Table is the timing table: one line per scenario, then the totals, the
// cores held and the processor time the test and what it ran used. A
// scenario's cpu is the processor time of what it ran and accounted for
// (Spent): its QEMUs' and its builds', not the test binary's own.
func Table(ts []Timing, total time.Duration, cores int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-26s %4s %8s %8s %8s %8s %8s %8s  %s\n", "scenario", "cpus", "start", "took", "cpu", "expect", "deadline", "waited", "result")
	var sum, held, used time.Duration
	for _, tm := range ts {
		sum += tm.Took
		held += tm.Took * time.Duration(tm.CPUs)
		used += tm.CPU
		fmt.Fprintf(&b, "%-26s %4d %8s %8s %8s %8s %8s %8s  %s\n", tm.Name, tm.CPUs, secs(tm.Started), secs(tm.Took), secs(tm.CPU), secs(tm.Expect), secs(tm.Deadline), secs(tm.Waited), tm.Result)
	}
	fmt.Fprintf(&b, "%d scenarios in %s on %d cores (%s of scenario time; cores held %s of %s)\n",
		len(ts), total.Round(time.Second), cores, sum.Round(time.Second), held.Round(time.Second), (total * time.Duration(cores)).Round(time.Second))
	var self, children syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &self) == nil && syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children) == nil {
		cpu := func(r syscall.Rusage) time.Duration { return time.Duration(r.Utime.Nano() + r.Stime.Nano()) }
		fmt.Fprintf(&b, "processor time: the test binary %s, what it ran (QEMU, builds, tools) %s, of which the scenarios' cpu column %s\n",
			cpu(self).Round(time.Second), cpu(children).Round(time.Second), used.Round(time.Second))
	}
	return b.String()
}

func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0fs", d.Seconds())
}
