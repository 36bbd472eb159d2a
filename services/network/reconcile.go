package network

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/vishvananda/netlink"

	"github.com/berth-os/berth/internal/netconfig"
)

// applyConfig puts a configuration read again into force: it deletes the
// links that only the old one made, makes those of the new one, moves every
// link to its new plan and rewrites resolv.conf.
func (s *service) applyConfig(ctx context.Context, c *netconfig.Config) {
	old := s.cfg
	s.cfg = c
	clear(s.failed)
	if s.listed {
		s.deleteStale(old)
		s.ensureLinks(true)
		s.reconcileAll(ctx)
	}
	s.writeResolv()
}

func (s *service) reconcileAll(ctx context.Context) {
	for _, index := range slices.Sorted(maps.Keys(s.seen)) {
		if l, ok := s.seen[index]; ok {
			s.reconcileLink(ctx, l)
		}
	}
}

// reconcileLink brings l to what the configuration asks of it, from what
// the service did to it so far.
func (s *service) reconcileLink(ctx context.Context, l netlink.Link) {
	a := l.Attrs()
	want := planLink(s.cfg, l, s.seen, s.patterns)
	st := s.links[a.Index]
	if st != nil && st.name != a.Name {
		// Another name may be another entry; a DHCP worker starts again
		// under the new name in any case.
		if st.worker != nil {
			s.stopWorker(st, "renamed to "+a.Name, nil)
			st.plan = linkPlan{}
		}
		s.done(st.name)
		st.name = a.Name
	}
	if st == nil {
		if want.Role == roleNone {
			return
		}
		st = &linkState{index: a.Index, name: a.Name, carrier: hasCarrier(l)}
		s.links[a.Index] = st
		s.transition(ctx, st, l, want)
		return
	}
	carrier := hasCarrier(l)
	carrierUp := carrier && !st.carrier
	st.carrier = carrier
	if !st.plan.same(want) {
		s.transition(ctx, st, l, want)
		return
	}
	if want.Role == roleNone {
		delete(s.links, st.index)
		return
	}
	st.plan.Key = want.Key
	s.maintain(st, l, carrierUp)
}

// maintain keeps a link as its plan says when nothing in the plan changed.
func (s *service) maintain(st *linkState, l netlink.Link, carrierUp bool) {
	switch st.plan.Role {
	case roleDHCP:
		if carrierUp {
			select {
			case st.worker.kick <- struct{}{}:
			default:
			}
		}
	case roleStatic:
		if !carrierUp {
			return
		}
		// A link taken down lost its routes and IPv6 addresses: put them
		// back (replacing changes nothing when they are there).
		if err := applyStatic(s.conf, st.name, &st.plan, st.plan); err != nil {
			s.log.Printf("%s: apply static configuration: %v", st.name, err)
		} else if !st.ok {
			st.ok = true
			s.log.Printf("%s: %s", st.name, st.plan)
			s.done(st.name)
		}
	case roleSlave:
		if !s.enslavedTo(l, st.plan.Master) {
			s.enslave(st, st.plan)
		}
	}
}

// transition takes off a link what its old plan set up and applies the new
// one, logging one line for the change.
func (s *service) transition(ctx context.Context, st *linkState, l netlink.Link, want linkPlan) {
	old := st.plan
	name := st.name
	// The configuration names the link, or did: what the service put on
	// it goes when the plan changes. A link the service took by default
	// and no longer wants keeps its lease, as it always did.
	byConfig := old.Key != "" || want.Key != ""
	switch old.Role {
	case roleDHCP:
		var cause error
		if want.Role == roleStatic || want.Role == roleSlave || want.Role == roleNone && byConfig {
			cause = errReconfigured
		}
		s.stopWorker(st, stopReason(want), cause)
	case roleStatic:
		if want.Role != roleStatic {
			if err := removeStatic(s.conf, name, old); err != nil {
				s.log.Printf("%s: remove static configuration: %v", name, err)
			}
			s.log.Printf("%s: static configuration removed", name)
		}
	}
	if master := l.Attrs().MasterIndex; want.Role != roleSlave && master != 0 && (old.Role == roleSlave || want.Key != "") {
		mname := old.Master
		if m, ok := s.seen[master]; ok {
			mname = m.Attrs().Name
		}
		if err := s.conf.SetMaster(name, ""); err != nil {
			s.log.Printf("%s: %v", name, err)
		} else {
			s.log.Printf("%s: released %s", mname, name)
		}
	}

	st.plan = want
	st.ok = false
	switch want.Role {
	case roleNone:
		delete(s.links, st.index)
		s.done(name)
	case roleDHCP:
		s.startWorker(ctx, st, want.MTU)
	case roleStatic:
		var prev *linkPlan
		if old.Role == roleStatic {
			prev = &old
		}
		err := applyStatic(s.conf, name, prev, want)
		s.log.Printf("%s: %s", name, want)
		if err != nil {
			s.log.Printf("%s: apply static configuration: %v", name, err)
			return
		}
		st.ok = true
		s.done(name)
	case roleSlave:
		s.enslave(st, want)
	}
}

func stopReason(want linkPlan) string {
	switch want.Role {
	case roleStatic:
		if len(want.Addrs) == 0 {
			return "configured without address"
		}
		return "configured static"
	case roleSlave:
		return "enslaved to " + want.Master
	case roleDHCP:
		return "configuration changed"
	}
	return "no longer wanted"
}

// enslave puts a link in its bond or bridge, making that if it is missing.
func (s *service) enslave(st *linkState, want linkPlan) {
	if s.seenByName(want.Master) == nil {
		s.ensureLinks(false)
	}
	if err := s.conf.SetMaster(st.name, want.Master); err != nil {
		s.log.Printf("%s: %v", st.name, err)
		return
	}
	if err := s.conf.SetLink(st.name, want.MTU); err != nil {
		s.log.Printf("%s: %v", st.name, err)
	}
	st.ok = true
	s.log.Printf("%s: enslaved %s", want.Master, st.name)
	s.done(st.name)
}

// enslavedTo says whether l is in master, as far as the service knows.
func (s *service) enslavedTo(l netlink.Link, master string) bool {
	index := l.Attrs().MasterIndex
	if index == 0 {
		return false
	}
	m := s.seenByName(master)
	// A master made a moment ago may not be seen yet.
	return m == nil || m.Attrs().Index == index
}

func (s *service) seenByName(name string) netlink.Link {
	for _, l := range s.seen {
		if l.Attrs().Name == name {
			return l
		}
	}
	return nil
}

// ensureLinks makes the links of the configuration that are missing: its
// bonds and bridges, and the VLANs of the parents there are. With recreate
// (a configuration put into force) a bond whose options differ from the
// configuration's is deleted and made again, since the kernel does not
// change the mode of a bond with slaves; the slaves follow it.
func (s *service) ensureLinks(recreate bool) {
	for _, sp := range linkSpecs(s.cfg, s.seen) {
		if l := s.seenByName(sp.Name); l != nil {
			if l.Type() != sp.Kind {
				if recreate {
					s.log.Printf("%s: is a %s, not a %s: left alone", sp.Name, l.Type(), sp.Kind)
				}
				continue
			}
			b, isBond := l.(*netlink.Bond)
			if !recreate || !isBond || bondMatches(b, sp.BondOpts) {
				continue
			}
			if err := s.conf.DeleteLink(sp.Name); err != nil {
				s.log.Printf("%v", err)
				continue
			}
			s.log.Printf("%s: deleted to be made again with other options", sp.Name)
			s.dropLink(l)
		}
		if s.creating[sp.Name] || s.failed[sp.Name] {
			continue
		}
		if err := s.conf.AddLink(sp); err != nil {
			s.failed[sp.Name] = true
			s.log.Printf("%v", err)
			continue
		}
		s.creating[sp.Name] = true
		s.log.Printf("%s: created %s", sp.Name, sp)
	}
}

// deleteStale deletes the links that the old configuration made and the
// new one does not.
func (s *service) deleteStale(old *netconfig.Config) {
	keep := map[string]bool{}
	for _, sp := range linkSpecs(s.cfg, s.seen) {
		keep[sp.Name] = true
	}
	for _, sp := range linkSpecs(old, s.seen) {
		if keep[sp.Name] {
			continue
		}
		delete(s.creating, sp.Name)
		l := s.seenByName(sp.Name)
		if l == nil || l.Type() != sp.Kind {
			continue
		}
		if err := s.conf.DeleteLink(sp.Name); err != nil {
			s.log.Printf("%v", err)
			continue
		}
		s.log.Printf("%s: deleted, no longer configured", sp.Name)
		s.dropLink(l)
	}
}

// dropLink forgets a link the service deleted, without waiting for the
// kernel to say so.
func (s *service) dropLink(l netlink.Link) {
	index := l.Attrs().Index
	delete(s.seen, index)
	if st := s.links[index]; st != nil {
		s.forget(st, "")
	}
}

// applyStatic moves a link from its old static plan (nil: none) to a new
// one. Addresses that go are deleted first: the kernel drops the other
// addresses of a subnet with its first, so a new address there must come
// after. Stale routes go after the new ones are in. It goes as far as it
// can and returns every failure.
func applyStatic(c linkConfigurer, link string, old *linkPlan, want linkPlan) error {
	errs := []error{c.SetLink(link, want.MTU)}
	if old != nil {
		for _, a := range old.Addrs {
			if !slices.Contains(want.Addrs, a) {
				errs = append(errs, c.DeleteAddr(link, address{Prefix: a}))
			}
		}
	}
	for _, a := range want.Addrs {
		errs = append(errs, c.ReplaceAddr(link, address{Prefix: a}))
	}
	for _, r := range want.Routes {
		errs = append(errs, c.ReplaceRoute(link, r))
	}
	if old != nil {
		for i := len(old.Routes) - 1; i >= 0; i-- {
			if r := old.Routes[i]; !slices.Contains(want.Routes, r) {
				errs = append(errs, c.DeleteRoute(link, r))
			}
		}
	}
	return errors.Join(errs...)
}

// removeStatic takes a static configuration off a link: routes in the
// reverse order of their addition, then addresses. The MTU stays.
func removeStatic(c linkConfigurer, link string, old linkPlan) error {
	var errs []error
	for i := len(old.Routes) - 1; i >= 0; i-- {
		errs = append(errs, c.DeleteRoute(link, old.Routes[i]))
	}
	for _, a := range old.Addrs {
		errs = append(errs, c.DeleteAddr(link, address{Prefix: a}))
	}
	return errors.Join(errs...)
}
