package main

import (
	"bytes"
	"context"
	"log"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/vishvananda/netlink"
)

// baseMetric is the route metric of the first link; each link adds its
// index, so that the default route of every link stays in the table and
// the lowest-numbered link wins.
const baseMetric = 1024

// service runs one worker per wanted link and gathers what they report:
// it writes resolv.conf and reports readiness.
type service struct {
	log          *log.Logger
	patterns     []string
	resolvPath   string
	readyTimeout time.Duration
	conf         linkConfigurer
	newLeaser    func(link string) leaser
	notify       func(status string) error
	clock        clock

	workers map[int]*workerHandle // by link index
	leases  map[string]linkConfig // by link name
	// pending are the wanted links of the first full list that have no
	// lease yet; nil until that list came.
	pending    map[int]string
	ready      bool
	lastResolv []byte
	events     chan leaseEvent
	wg         sync.WaitGroup
}

type workerHandle struct {
	index   int
	name    string
	cancel  context.CancelFunc
	kick    chan struct{}
	carrier bool
}

// leaseEvent is a worker's report.
type leaseEvent struct {
	from *workerHandle
	cfg  *linkConfig
}

// run handles link changes and the workers' reports until ctx is done and
// links is closed, then stops the workers.
func (s *service) run(ctx context.Context, links <-chan linkEvent) {
	s.workers = map[int]*workerHandle{}
	s.leases = map[string]linkConfig{}
	s.events = make(chan leaseEvent)
	readyTimer := s.clock.After(s.readyTimeout)
	defer func() {
		for _, h := range s.workers {
			h.cancel()
		}
		s.wg.Wait()
		// Let the watcher see ctx and close links.
		for range links {
		}
	}()
	for {
		select {
		case ev, ok := <-links:
			if !ok {
				return
			}
			s.linkEvent(ctx, ev)
		case ev := <-s.events:
			s.leaseEvent(ev)
		case <-readyTimer:
			readyTimer = nil
			s.becomeReady(true)
		case <-ctx.Done():
			return
		}
	}
}

func (s *service) linkEvent(ctx context.Context, ev linkEvent) {
	if ev.Full {
		seen := map[int]bool{}
		for _, l := range ev.Links {
			seen[l.Attrs().Index] = true
		}
		for index, h := range s.workers {
			if !seen[index] {
				s.stop(h, "gone")
			}
		}
	}
	for _, l := range ev.Links {
		s.linkChanged(ctx, l, ev.Deleted)
	}
	if ev.Full && s.pending == nil {
		s.pending = map[int]string{}
		for index, h := range s.workers {
			s.pending[index] = h.name
		}
		s.checkReady()
	}
}

func (s *service) linkChanged(ctx context.Context, l netlink.Link, deleted bool) {
	a := l.Attrs()
	h := s.workers[a.Index]
	want := !deleted && wantLink(l, s.patterns)
	switch {
	case h != nil && !want:
		why := "no longer wanted"
		if deleted {
			why = "gone"
		}
		s.stop(h, why)
	case h != nil && h.name != a.Name:
		s.stop(h, "renamed to "+a.Name)
		s.start(ctx, l)
	case h != nil:
		carrier := hasCarrier(l)
		if carrier && !h.carrier {
			select {
			case h.kick <- struct{}{}:
			default:
			}
		}
		h.carrier = carrier
	case want:
		s.start(ctx, l)
	}
}

func (s *service) start(ctx context.Context, l netlink.Link) {
	a := l.Attrs()
	wctx, cancel := context.WithCancel(ctx)
	h := &workerHandle{index: a.Index, name: a.Name, cancel: cancel, kick: make(chan struct{}, 1), carrier: hasCarrier(l)}
	s.workers[a.Index] = h
	w := &worker{
		link:    a.Name,
		metric:  baseMetric + a.Index,
		dhcp:    s.newLeaser(a.Name),
		conf:    s.conf,
		log:     s.log,
		clock:   s.clock,
		random:  defaultRandom,
		kick:    h.kick,
		carrier: h.carrier,
		report: func(ctx context.Context, cfg *linkConfig) {
			select {
			case s.events <- leaseEvent{from: h, cfg: cfg}:
			case <-ctx.Done():
			}
		},
	}
	s.log.Printf("%s: dhcp started", a.Name)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		w.run(wctx)
	}()
}

func (s *service) stop(h *workerHandle, why string) {
	h.cancel()
	delete(s.workers, h.index)
	delete(s.leases, h.name)
	s.log.Printf("%s: dhcp stopped: %s", h.name, why)
	s.writeResolv()
	// A link gone before its first lease is no longer waited for.
	s.leased(h.index)
}

func (s *service) leaseEvent(ev leaseEvent) {
	if s.workers[ev.from.index] != ev.from {
		// A report from a worker stopped since.
		return
	}
	if ev.cfg == nil {
		delete(s.leases, ev.from.name)
	} else {
		s.leases[ev.from.name] = *ev.cfg
	}
	s.writeResolv()
	if ev.cfg != nil {
		s.leased(ev.from.index)
	}
}

// leased takes a link off the readiness list, and reports readiness when
// the list is done.
func (s *service) leased(index int) {
	if _, ok := s.pending[index]; ok {
		delete(s.pending, index)
		s.checkReady()
	}
}

func (s *service) checkReady() {
	if s.pending != nil && len(s.pending) == 0 {
		s.becomeReady(false)
	}
}

func (s *service) becomeReady(timedOut bool) {
	if s.ready {
		return
	}
	s.ready = true
	// From now on the file exists, even without any lease.
	s.writeResolv()
	status := readyStatus(s.leases, s.pending, timedOut)
	s.log.Printf("ready: %s", status)
	if err := s.notify(status); err != nil {
		s.log.Printf("report readiness: %v", err)
	}
}

// readyStatus is the STATUS= of the readiness report.
func readyStatus(leases map[string]linkConfig, pending map[int]string, timedOut bool) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(leases)) {
		parts = append(parts, name+" "+leases[name].Addr.String())
	}
	s := "no leases"
	if len(parts) > 0 {
		s = "leases: " + strings.Join(parts, ", ")
	}
	if timedOut {
		waiting := slices.Sorted(maps.Values(pending))
		if len(waiting) > 0 {
			s += "; no lease yet: " + strings.Join(waiting, ", ")
		}
	}
	return s
}

// writeResolv writes resolv.conf if what it should say changed; before
// readiness only once there is a lease, so that a restart of the service
// does not blank the file of a running system.
func (s *service) writeResolv() {
	if !s.ready && len(s.leases) == 0 {
		return
	}
	data := renderResolv(s.leases)
	if s.lastResolv != nil && bytes.Equal(data, s.lastResolv) {
		return
	}
	if err := atomicfile.Write(s.resolvPath, data, 0o644); err != nil {
		s.log.Printf("%v", err)
		return
	}
	s.lastResolv = data
	s.log.Printf("wrote %s: %s", s.resolvPath, resolvSummary(s.leases))
}

func resolvSummary(leases map[string]linkConfig) string {
	ns, search := resolvers(leases)
	if len(ns) == 0 && len(search) == 0 {
		return "no name servers"
	}
	var parts []string
	if len(ns) > 0 {
		parts = append(parts, "nameserver "+strings.Join(ns, " "))
	}
	if len(search) > 0 {
		parts = append(parts, "search "+strings.Join(search, " "))
	}
	return strings.Join(parts, ", ")
}
