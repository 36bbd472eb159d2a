package ntp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-os/berth/internal/timesync"
)

// The discipline's thresholds.
const (
	// stepThreshold and stepUpdates: an offset above the threshold is
	// stepped at once, but only in the first updates after start (when a
	// clock can be years off: the RTC of a new VM, a board without a
	// battery). Later the clock is only slewed, so that nothing sees time
	// jump back on a running host; chrony's "makestep 1 3" is the same
	// idea with a 1 s threshold, ntpd's 128 ms step the same size.
	stepThreshold = 128 * time.Millisecond
	stepUpdates   = 3
	// queryTimeout is how long one server has to answer.
	queryTimeout = 2 * time.Second
	// lookupTimeout bounds the name lookups of one poll.
	lookupTimeout = 10 * time.Second
	// maxCandidates caps the addresses asked in one poll.
	maxCandidates = 8
	// poolAddrs is how many of a pool name's addresses are asked.
	poolAddrs = 2
)

// candidate is one address to ask, and the source it came from.
type candidate struct {
	source string // as configured: a server, or a pool's name
	addr   string // IP:port
}

// syncer keeps the clock on its sources: every round asks each candidate
// once, takes the answer with the least root distance, and steps or slews
// the clock by it.
type syncer struct {
	cfg   timesync.Config
	clock clock
	// query asks one address; lookup gives a host name's addresses.
	query  func(ctx context.Context, addr string) (sample, error)
	lookup func(ctx context.Context, host string) ([]string, error)
	now    func() time.Time
	logf   func(format string, args ...any)

	updates  int // answers applied since start
	failures int // rounds in a row with no usable answer
	status   timesync.Status
}

func newSyncer(cfg timesync.Config, c clock, logf func(string, ...any)) *syncer {
	return &syncer{
		cfg:    cfg,
		clock:  c,
		query:  func(ctx context.Context, addr string) (sample, error) { return query(ctx, addr, queryTimeout) },
		lookup: net.DefaultResolver.LookupHost,
		now:    time.Now,
		logf:   logf,
	}
}

// candidates resolves the sources: a server's first address, a pool
// name's first poolAddrs.
func (s *syncer) candidates(ctx context.Context) ([]candidate, []error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	var out []candidate
	var errs []error
	for _, src := range s.cfg.Sources {
		addrs := []string{src.Host}
		if net.ParseIP(src.Host) == nil {
			var err error
			if addrs, err = s.lookup(ctx, src.Host); err != nil {
				errs = append(errs, fmt.Errorf("look up %s: %w", src.Host, err))
				continue
			}
		}
		n := 1
		if src.Pool {
			n = poolAddrs
		}
		for _, a := range addrs[:min(n, len(addrs))] {
			out = append(out, candidate{source: src.String(), addr: net.JoinHostPort(a, fmt.Sprint(src.Port))})
		}
	}
	if len(out) > maxCandidates {
		out = out[:maxCandidates]
	}
	return out, errs
}

// round polls once and applies the best answer. It returns how long to
// wait for the next round.
func (s *syncer) round(ctx context.Context) time.Duration {
	cands, errs := s.candidates(ctx)
	type result struct {
		c   candidate
		smp sample
		err error
	}
	results := make([]result, len(cands))
	var wg sync.WaitGroup
	for i, c := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			smp, err := s.query(ctx, c.addr)
			results[i] = result{c, smp, err}
		}()
	}
	wg.Wait()
	var best *result
	for i, r := range results {
		if r.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.c.addr, r.err))
			continue
		}
		if best == nil || distance(r.smp) < distance(best.smp) {
			best = &results[i]
		}
	}
	if ctx.Err() != nil {
		return 0
	}
	st := &s.status
	st.Enabled = true
	st.Sources = s.sourceNames()
	if best == nil {
		if len(errs) == 0 {
			errs = append(errs, errors.New("no address to ask"))
		}
		s.failures++
		st.Error = errors.Join(errs...).Error()
		st.Synchronised = !st.LastSync.IsZero() && s.now().Sub(st.LastSync) < 4*st.Poll.Duration()
		wait := min(64*time.Second, 2*time.Second<<min(s.failures-1, 5))
		if st.LastSync.IsZero() || !st.Synchronised {
			st.Poll = timesync.Duration(wait)
		}
		s.logf("no usable answer (next try in %v): %s", wait, strings.ReplaceAll(st.Error, "\n", "; "))
		st.Updated = s.now()
		return wait
	}
	s.failures = 0
	poll := s.pollInterval()
	smp := best.smp
	residual := smp.Offset
	if s.updates < stepUpdates && abs(smp.Offset) > stepThreshold {
		if err := s.clock.Step(smp.Offset); err != nil {
			st.Error = err.Error()
			s.logf("%v", err)
			st.Updated = s.now()
			return min(64*time.Second, poll)
		}
		residual = 0
		st.Stepped, st.SteppedAt = timesync.Duration(smp.Offset), s.now()
		s.logf("stepped the clock by %+.6fs to %s's (%s)", smp.Offset.Seconds(), best.c.source, best.c.addr)
	}
	leap := leapDue(smp.Leap, s.now())
	if err := s.clock.Discipline(residual, smp.maxError(), smp.Delay/2, leap, poll); err != nil {
		st.Error = err.Error()
		s.logf("%v", err)
		st.Updated = s.now()
		return min(64*time.Second, poll)
	}
	if s.updates == 0 {
		s.logf("synchronised to %s (%s, stratum %d): offset %+.6fs, delay %.6fs", best.c.source, best.c.addr, smp.Stratum, smp.Offset.Seconds(), smp.Delay.Seconds())
	}
	s.updates++
	st.Synchronised = true
	st.Source, st.Address, st.Stratum = best.c.source, best.c.addr, smp.Stratum
	st.Offset, st.Delay = timesync.Duration(smp.Offset), timesync.Duration(smp.Delay)
	st.LastSync = s.now()
	st.Poll = timesync.Duration(poll)
	st.Leap = map[int]string{leapInsert: "insert", leapDelete: "delete"}[smp.Leap]
	st.Error = ""
	if len(errs) > 0 {
		st.Error = errors.Join(errs...).Error()
	}
	st.Updated = s.now()
	return poll
}

// pollInterval is 16 s for the first updates (the clock converges
// quickly after boot), then 64 s doubling every 8 updates up to 1024 s.
func (s *syncer) pollInterval() time.Duration {
	if s.updates < 4 {
		return 16 * time.Second
	}
	return 64 * time.Second << min((s.updates-4)/8, 4)
}

func (s *syncer) sourceNames() []string {
	var out []string
	for _, src := range s.cfg.Sources {
		out = append(out, src.String())
	}
	return slices.Clip(out)
}

// distance ranks answers: half the round trip plus the server's own
// distance to its reference.
func distance(s sample) time.Duration { return s.maxError() }

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// leapDue is the leap second to arm in the kernel: the one the server
// announces, only on the last day of a month (UTC), when it falls at the
// coming midnight. Servers announce it for the whole month (or longer);
// the kernel inserts it at the next midnight it is armed for.
func leapDue(leap int, now time.Time) int {
	if leap != leapInsert && leap != leapDelete {
		return leapNone
	}
	u := now.UTC()
	if u.AddDate(0, 0, 1).Day() != 1 {
		return leapNone
	}
	return leap
}
