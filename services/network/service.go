package network

import (
	"bytes"
	"context"
	"errors"
	"log"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/vishvananda/netlink"

	"github.com/berth-os/berth/internal/netconfig"
	"github.com/berth-os/berth/internal/strictyaml"
)

// baseMetric is the route metric of the first link; each link adds its
// index, so that the default route of every link stays in the table and
// the lowest-numbered link wins.
const baseMetric = 1024

// service configures every link as the configuration file says (DHCP where
// it says nothing) and keeps them so: it runs one DHCP worker per link that
// takes DHCP and gathers what they report, applies static configurations,
// makes VLANs, bonds and bridges, writes resolv.conf and reports readiness.
type service struct {
	log          *log.Logger
	patterns     []string
	resolvPath   string
	configPath   string
	readyTimeout time.Duration
	conf         linkConfigurer
	newLeaser    func(link string) leaser
	notify       func(status string) error
	clock        clock
	// reload asks for the configuration file to be read again (SIGHUP).
	reload <-chan struct{}

	cfg *netconfig.Config // the configuration in force
	// seen are all the links there are, by index, as last reported;
	// listed says a full list came.
	seen   map[int]netlink.Link
	listed bool
	links  map[int]*linkState    // the links the service configures, by index
	leases map[string]linkConfig // by link name
	// creating are links asked of the kernel and not seen yet; failed are
	// those the kernel refused under the configuration in force, not
	// asked again until it changes.
	creating map[string]bool
	failed   map[string]bool
	// pending are the names of the links of the first full list (and of
	// those made for it) that are not configured yet; nil until that list
	// came.
	pending    map[string]bool
	ready      bool
	lastResolv []byte
	events     chan leaseEvent
	wg         sync.WaitGroup
}

// linkState is what the service did to one link.
type linkState struct {
	index   int
	name    string
	plan    linkPlan      // in force on the link
	worker  *workerHandle // of roleDHCP
	carrier bool
	// ok says the plan is applied: static addresses in place, link
	// enslaved. A DHCP link is configured once it has a lease.
	ok bool
}

type workerHandle struct {
	index  int
	name   string
	cancel context.CancelCauseFunc
	kick   chan struct{}
	done   chan struct{}
}

// leaseEvent is a worker's report.
type leaseEvent struct {
	from *workerHandle
	cfg  *linkConfig
}

// run handles link changes, the workers' reports and reloads until ctx is
// done and links is closed, then stops the workers.
func (s *service) run(ctx context.Context, links <-chan linkEvent) {
	s.seen = map[int]netlink.Link{}
	s.links = map[int]*linkState{}
	s.leases = map[string]linkConfig{}
	s.creating = map[string]bool{}
	s.failed = map[string]bool{}
	s.events = make(chan leaseEvent)
	s.cfg = &netconfig.Config{}
	if c, ok := s.readConfig("ignored: dhcp everywhere"); ok {
		s.cfg = c
	}
	// Name servers of the configuration need no lease.
	s.writeResolv()
	readyTimer := s.clock.After(s.readyTimeout)
	defer func() {
		for _, st := range s.links {
			if st.worker != nil {
				st.worker.cancel(nil)
			}
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
		case <-s.reload:
			if c, ok := s.readConfig("keeping the configuration in force"); ok {
				s.applyConfig(ctx, c)
			}
		case <-readyTimer:
			readyTimer = nil
			s.becomeReady(true)
		case <-ctx.Done():
			return
		}
	}
}

// readConfig reads the configuration file and logs what it says, or what
// is wrong with it and then what happens instead.
func (s *service) readConfig(instead string) (*netconfig.Config, bool) {
	c, warnings, err := netconfig.Load(s.configPath)
	for _, w := range warnings {
		s.log.Printf("config %s: %s", s.configPath, problem(w))
	}
	if err != nil {
		var es strictyaml.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				s.log.Printf("config %s: %s", s.configPath, problem(e))
			}
		} else {
			s.log.Printf("config %s: %v", s.configPath, err)
		}
		s.log.Printf("config %s: %s", s.configPath, instead)
		return nil, false
	}
	s.log.Printf("config %s: %s", s.configPath, c.Summary())
	return c, true
}

// problem is how a problem with the configuration file shows after its
// name: the field and what is wrong, or, for a file that is not JSON, the
// line and what is wrong.
func problem(e *strictyaml.FieldError) string {
	fe := *e
	fe.Source = ""
	if fe.Path != "" {
		fe.Line = 0
	}
	return fe.Error()
}

func (s *service) linkEvent(ctx context.Context, ev linkEvent) {
	if ev.Full {
		seen := map[int]netlink.Link{}
		for _, l := range ev.Links {
			seen[l.Attrs().Index] = l
		}
		for index, st := range s.links {
			if _, ok := seen[index]; !ok {
				s.forget(st, "gone")
			}
		}
		s.seen = seen
		first := !s.listed
		s.listed = true
		s.ensureLinks(first)
		s.reconcileAll(ctx)
		if s.pending == nil {
			s.pending = map[string]bool{}
			for _, st := range s.links {
				if !s.configured(st) {
					s.pending[st.name] = true
				}
			}
			for name := range s.creating {
				s.pending[name] = true
			}
			s.checkReady()
		}
		return
	}
	changed := false
	for _, l := range ev.Links {
		a := l.Attrs()
		if ev.Deleted {
			delete(s.seen, a.Index)
			if st := s.links[a.Index]; st != nil {
				s.forget(st, "gone")
			}
			changed = true
			continue
		}
		if _, ok := s.seen[a.Index]; !ok {
			changed = true
		}
		s.seen[a.Index] = l
		delete(s.creating, a.Name)
		s.reconcileLink(ctx, l)
	}
	if changed && s.listed {
		// A parent of VLANs may have come, or a master gone.
		s.ensureLinks(false)
	}
}

// configured says whether a link needs nothing more before readiness.
func (s *service) configured(st *linkState) bool {
	if st.plan.Role == roleDHCP {
		_, ok := s.leases[st.name]
		return ok
	}
	return st.ok
}

// forget drops a link that is gone or renamed; its configuration stays.
// An empty why logs nothing: the caller said it.
func (s *service) forget(st *linkState, why string) {
	if st.worker != nil {
		s.stopWorker(st, why, nil)
	} else if st.plan.Role != roleNone && why != "" {
		s.log.Printf("%s: %s", st.name, why)
	}
	delete(s.links, st.index)
	// A link gone before it was configured is no longer waited for.
	s.done(st.name)
}

func (s *service) startWorker(ctx context.Context, st *linkState, mtu int) {
	wctx, cancel := context.WithCancelCause(ctx)
	h := &workerHandle{index: st.index, name: st.name, cancel: cancel, kick: make(chan struct{}, 1), done: make(chan struct{})}
	st.worker = h
	w := &worker{
		link:    st.name,
		metric:  baseMetric + st.index,
		mtu:     mtu,
		dhcp:    s.newLeaser(st.name),
		conf:    s.conf,
		log:     s.log,
		clock:   s.clock,
		random:  defaultRandom,
		kick:    h.kick,
		carrier: st.carrier,
		report: func(ctx context.Context, cfg *linkConfig) {
			select {
			case s.events <- leaseEvent{from: h, cfg: cfg}:
			case <-ctx.Done():
			}
		},
	}
	s.log.Printf("%s: dhcp started", st.name)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(h.done)
		w.run(wctx)
	}()
}

// stopWorker stops the DHCP worker of a link. With cause errReconfigured
// it waits for the worker to take its lease off the link.
func (s *service) stopWorker(st *linkState, why string, cause error) {
	h := st.worker
	h.cancel(cause)
	if cause != nil {
		<-h.done
	}
	st.worker = nil
	delete(s.leases, h.name)
	s.log.Printf("%s: dhcp stopped: %s", h.name, why)
	s.writeResolv()
}

func (s *service) leaseEvent(ev leaseEvent) {
	st := s.links[ev.from.index]
	if st == nil || st.worker != ev.from {
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
		s.done(ev.from.name)
	}
}

// done takes a link off the readiness list, and reports readiness when
// the list is done.
func (s *service) done(name string) {
	if s.pending[name] {
		delete(s.pending, name)
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
	var waiting, unconfigured []string
	if timedOut {
		for _, name := range slices.Sorted(maps.Keys(s.pending)) {
			if st := s.byName(name); st != nil && st.plan.Role == roleDHCP {
				waiting = append(waiting, name)
			} else {
				unconfigured = append(unconfigured, name)
			}
		}
	}
	status := readyStatus(s.leases, s.statics(), waiting, unconfigured)
	s.log.Printf("ready: %s", status)
	if err := s.notify(status); err != nil {
		s.log.Printf("report readiness: %v", err)
	}
}

func (s *service) byName(name string) *linkState {
	for _, st := range s.links {
		if st.name == name {
			return st
		}
	}
	return nil
}

// statics are the addresses of the links with a static configuration
// applied, by name.
func (s *service) statics() map[string][]netip.Prefix {
	out := map[string][]netip.Prefix{}
	for _, st := range s.links {
		if st.plan.Role == roleStatic && len(st.plan.Addrs) > 0 && st.ok {
			out[st.name] = st.plan.Addrs
		}
	}
	return out
}

// readyStatus is the STATUS= of the readiness report: the leases, the
// static addresses, and after a timeout the links still waited for.
func readyStatus(leases map[string]linkConfig, static map[string][]netip.Prefix, waiting, unconfigured []string) string {
	var parts []string
	if len(leases) > 0 {
		var ls []string
		for _, name := range slices.Sorted(maps.Keys(leases)) {
			ls = append(ls, name+" "+leases[name].Addr.String())
		}
		parts = append(parts, "leases: "+strings.Join(ls, ", "))
	}
	if len(static) > 0 {
		var ss []string
		for _, name := range slices.Sorted(maps.Keys(static)) {
			as := make([]string, len(static[name]))
			for i, a := range static[name] {
				as[i] = a.String()
			}
			ss = append(ss, name+" "+strings.Join(as, " "))
		}
		parts = append(parts, "static: "+strings.Join(ss, ", "))
	}
	if len(parts) == 0 {
		parts = append(parts, "no leases")
	}
	if len(waiting) > 0 {
		parts = append(parts, "no lease yet: "+strings.Join(waiting, ", "))
	}
	if len(unconfigured) > 0 {
		parts = append(parts, "not configured yet: "+strings.Join(unconfigured, ", "))
	}
	return strings.Join(parts, "; ")
}

// writeResolv writes resolv.conf if what it should say changed; before
// readiness only once there is a lease or name servers of the
// configuration, so that a restart of the service does not blank the file
// of a running system.
func (s *service) writeResolv() {
	dns := s.cfg.DNS
	if !s.ready && len(s.leases) == 0 && len(dns.Nameservers) == 0 {
		return
	}
	data := renderResolv(s.leases, dns)
	if s.lastResolv != nil && bytes.Equal(data, s.lastResolv) {
		return
	}
	if err := atomicfile.Write(s.resolvPath, data, 0o644); err != nil {
		s.log.Printf("%v", err)
		return
	}
	s.lastResolv = data
	s.log.Printf("wrote %s: %s", s.resolvPath, resolvSummary(s.leases, dns))
}

func resolvSummary(leases map[string]linkConfig, dns netconfig.Resolver) string {
	ns, search := resolvers(leases, dns)
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
