package network

import (
	"context"
	"errors"
	"log"
	"math/rand/v2"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// discoverBackoff spaces out discovery rounds when no server answers. Each
// round already retransmits for 14s.
var discoverBackoff = backoff{min: 2 * time.Second, max: time.Minute}

// carrierWait is how long the first discovery waits for the carrier of a
// link that was just set up: a packet sent before it is dropped, and costs
// a retransmission.
const carrierWait = 5 * time.Second

// errReconfigured is the cause of a worker's stop when its link is to be
// configured otherwise: the worker takes its lease off the link first.
var errReconfigured = errors.New("link configured otherwise")

// worker keeps one link leased: discover, apply, renew, rebind, and on
// expiry or refusal remove the configuration and discover again. It runs
// until ctx is done and leaves the configuration in place then, unless the
// cause of ctx is errReconfigured.
type worker struct {
	link   string
	metric int
	// mtu, if not 0, is the MTU of the link by configuration; it wins
	// over the lease's.
	mtu    int
	dhcp   leaser
	conf   linkConfigurer
	log    *log.Logger
	clock  clock
	random func() float64
	// report tells the service the link's current lease, nil for none.
	report func(ctx context.Context, cfg *linkConfig)
	// kick cuts a discovery backoff short (the carrier came up).
	kick <-chan struct{}
	// carrier says the link had its carrier when the worker started.
	carrier bool

	// current is the lease in place on the link, nil for none.
	current *linkConfig
}

func (w *worker) run(ctx context.Context) {
	defer w.release(ctx)
	if err := w.conf.SetLink(w.link, w.mtu); err != nil {
		w.log.Printf("%s: %v", w.link, err)
	}
	if !w.carrier {
		select {
		case <-w.kick:
		case <-w.clock.After(carrierWait):
			w.log.Printf("%s: no carrier after %s, discover anyway", w.link, carrierWait)
		case <-ctx.Done():
			return
		}
	}
	for ctx.Err() == nil {
		l, cfg, start, ok := w.discover(ctx)
		if !ok {
			return
		}
		w.hold(ctx, l, cfg, start)
	}
}

// discover gets a lease, however long that takes. It returns false when ctx
// is done.
func (w *worker) discover(ctx context.Context) (*nclient4.Lease, linkConfig, time.Time, bool) {
	for attempt := 0; ; attempt++ {
		start := w.clock.Now()
		l, err := w.dhcp.Discover(ctx)
		if err == nil {
			cfg, cerr := w.configOf(l)
			if cerr == nil {
				return l, cfg, start, true
			}
			err = cerr
		}
		if ctx.Err() != nil {
			return nil, linkConfig{}, time.Time{}, false
		}
		d := discoverBackoff.delay(attempt, w.random())
		w.log.Printf("%s: %v; again in %s", w.link, err, d.Round(time.Millisecond))
		select {
		case <-w.clock.After(d):
		case <-w.kick:
			w.log.Printf("%s: carrier up, discover now", w.link)
			attempt = -1
		case <-ctx.Done():
			return nil, linkConfig{}, time.Time{}, false
		}
	}
}

// hold applies a lease and keeps it until it is lost or ctx is done.
func (w *worker) hold(ctx context.Context, l *nclient4.Lease, cfg linkConfig, start time.Time) {
	if err := apply(w.conf, w.link, nil, cfg); err != nil {
		w.log.Printf("%s: apply lease: %v", w.link, err)
	}
	w.setCurrent(&cfg)
	w.log.Printf("%s: lease %s", w.link, cfg)
	w.report(ctx, &cfg)

	times := timesOf(start, cfg)
	wake := times.Renew
	for {
		select {
		case <-w.clock.After(wake.Sub(w.clock.Now())):
		case <-ctx.Done():
			return
		}
		now := w.clock.Now()
		var (
			nl  *nclient4.Lease
			err error
		)
		ph := times.phase(now)
		switch ph {
		case bound:
			wake = times.Renew
			continue
		case renewing:
			nl, err = w.attempt(ctx, times.Rebind, func(ctx context.Context) (*nclient4.Lease, error) { return w.dhcp.Renew(ctx, l) })
		case rebinding:
			nl, err = w.attempt(ctx, times.Expiry, func(ctx context.Context) (*nclient4.Lease, error) { return w.dhcp.Rebind(ctx, l) })
		case expired:
			w.drop(ctx, cfg, "expired")
			return
		}
		if ctx.Err() != nil {
			return
		}
		var nak *nclient4.ErrNak
		switch {
		case errors.As(err, &nak):
			w.drop(ctx, cfg, "refused by the server")
			return
		case err != nil:
			after := w.clock.Now()
			if next := times.phase(after); next != ph {
				// The attempt lasted into the next phase: go on with
				// that at once.
				wake = after
				w.log.Printf("%s: %v; %s now", w.link, err, next)
				continue
			}
			wake = times.next(after)
			w.log.Printf("%s: %v; again in %s", w.link, err, wake.Sub(after).Round(time.Second))
			continue
		}
		ncfg, err := w.configOf(nl)
		if err != nil {
			w.drop(ctx, cfg, err.Error())
			return
		}
		if err := apply(w.conf, w.link, &cfg, ncfg); err != nil {
			w.log.Printf("%s: apply lease: %v", w.link, err)
		}
		w.setCurrent(&ncfg)
		verb := "renewed"
		if ph == rebinding {
			verb = "rebound"
		}
		w.log.Printf("%s: %s %s", w.link, verb, ncfg)
		w.report(ctx, &ncfg)
		l, cfg = nl, ncfg
		times = timesOf(now, cfg)
		wake = times.Renew
	}
}

// attempt runs one renewal or rebinding, given up at the end of its phase.
func (w *worker) attempt(ctx context.Context, end time.Time, f func(context.Context) (*nclient4.Lease, error)) (*nclient4.Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, end.Sub(w.clock.Now()))
	defer cancel()
	return f(ctx)
}

// drop removes the configuration of a lost lease.
func (w *worker) drop(ctx context.Context, cfg linkConfig, why string) {
	if err := remove(w.conf, w.link, cfg); err != nil {
		w.log.Printf("%s: remove lease: %v", w.link, err)
	}
	w.setCurrent(nil)
	w.log.Printf("%s: lease %s %s, removed", w.link, cfg.Addr, why)
	w.report(ctx, nil)
}

// configOf is the configuration of a lease for the link.
func (w *worker) configOf(l *nclient4.Lease) (linkConfig, error) {
	cfg, err := configFromACK(l.ACK, w.metric)
	if err == nil && w.mtu > 0 {
		cfg.MTU = w.mtu
	}
	return cfg, err
}

func (w *worker) setCurrent(cfg *linkConfig) {
	if cfg == nil {
		w.current = nil
		return
	}
	c := *cfg
	w.current = &c
}

// release takes the lease off the link when the worker was stopped for
// another configuration of the link.
func (w *worker) release(ctx context.Context) {
	if w.current == nil || !errors.Is(context.Cause(ctx), errReconfigured) {
		return
	}
	if err := remove(w.conf, w.link, *w.current); err != nil {
		w.log.Printf("%s: remove lease: %v", w.link, err)
	}
	w.log.Printf("%s: lease %s removed", w.link, w.current.Addr)
	w.current = nil
}

func defaultRandom() float64 { return rand.Float64() }
