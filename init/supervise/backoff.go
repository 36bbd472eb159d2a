package supervise

import "time"

// Backoff is the wait before the next start of something that keeps
// failing (a service, the system containerd): Min after the first
// failure, doubling with each failure after it, never more than Max. A run
// that lasted StableAfter or longer was a success, so the failure that
// ends it waits Min again. It never gives up: whoever holds it retries for
// ever, at most once per Max.
type Backoff struct {
	Min, Max    time.Duration
	StableAfter time.Duration

	next     time.Duration // 0: no failure since the last reset
	failures int
}

// Failed records a failure that ended a run of ran (0 when the start
// itself failed) and returns how long to wait before the next start.
func (b *Backoff) Failed(ran time.Duration) time.Duration {
	if b.next == 0 || ran >= b.StableAfter {
		b.next, b.failures = b.Min, 0
	}
	b.failures++
	d := min(b.next, b.Max)
	b.next = min(b.next*2, b.Max)
	return d
}

// Failures counts the failures in a row that Failed has seen since the
// last reset or stable run.
func (b *Backoff) Failures() int { return b.failures }

// Reset forgets the failures: the next one waits Min. A restart asked for
// by hand resets the backoff.
func (b *Backoff) Reset() { b.next, b.failures = 0, 0 }

// Clock is the time the supervisor's backoff runs on: what it waits with
// between starts and how it measures a run. Tests pass a fake one, so
// that twenty failures take no real minutes.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
