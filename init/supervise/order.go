package supervise

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Conditions of a dependency: what a service waits for in the service it
// depends on before it starts (Compose's depends_on conditions).
const (
	// ConditionStarted: running, and ready (READY=1) when it notifies; a
	// oneshot is started when it has completed.
	ConditionStarted = "started"
	// ConditionHealthy: its healthcheck has passed.
	ConditionHealthy = "healthy"
	// ConditionCompleted: exited 0 and not started again: a oneshot, or a
	// daemon whose restart policy is never or on-failure.
	ConditionCompleted = "completed"
)

// Dependency is a service another one requires, and how far along it must
// be before the other starts. When it never gets there (it failed, is
// blocked itself, is not a service here, or did not get there within the
// ready timeout of its own start), the service that requires it is
// blocked: not started, with the reason in its status. A blocked service
// goes on waiting, and starts once the dependency gets there after all,
// or at once when restarted by hand. An Optional one (Compose's required:
// false) is waited for only while it may still get there, as After is.
type Dependency struct {
	Name      string
	Condition string // ConditionStarted when empty
	Optional  bool
}

func (d Dependency) condition() string {
	if d.Condition == "" {
		return ConditionStarted
	}
	return d.Condition
}

// validate checks one service's own fields, all of them, before anything
// is started; present holds the services it may depend on (this batch and
// the ones already supervised).
func validate(svc Service, present map[string]Service) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	for i, d := range svc.DependsOn {
		f := fmt.Sprintf("depends_on[%d]", i)
		if d.Name == "" {
			bad(f+".name", "missing")
			continue
		}
		if d.Name == svc.Name {
			bad(f+".name", "%s depends on itself", d.Name)
			continue
		}
		dep, ok := present[d.Name]
		switch d.condition() {
		case ConditionStarted:
		case ConditionHealthy:
			if ok && dep.Health == nil {
				bad(f+".condition", "%s has no healthcheck, so it never becomes healthy", d.Name)
			}
		case ConditionCompleted:
			if ok && !dep.Oneshot && dep.Restart != "never" && dep.Restart != "on-failure" {
				bad(f+".condition", "%s restarts always, so it never completes", d.Name)
			}
		default:
			bad(f+".condition", "%q: want %s, %s or %s", d.Condition, ConditionStarted, ConditionHealthy, ConditionCompleted)
		}
	}
	for i, a := range svc.After {
		if a == "" {
			bad(fmt.Sprintf("after[%d]", i), "missing")
		} else if a == svc.Name {
			bad(fmt.Sprintf("after[%d]", i), "%s is after itself", a)
		}
	}
	if h := svc.Health; h != nil {
		n := 0
		for _, set := range []bool{len(h.Exec) > 0, h.File != "", h.Socket != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			bad("healthcheck", "want exactly one of exec, file and socket, got %d", n)
		}
		if svc.Oneshot {
			bad("healthcheck", "a oneshot has none: it is done when it exits 0")
		}
		for _, d := range []struct {
			field string
			v     time.Duration
		}{{"interval", h.Interval}, {"timeout", h.Timeout}, {"start_period", h.StartPeriod}} {
			if d.v < 0 {
				bad("healthcheck."+d.field, "%s: want a duration of 0 or more", d.v)
			}
		}
		if h.Retries < 0 {
			bad("healthcheck.retries", "%d: want 0 or more", h.Retries)
		}
	}
	return errors.Join(errs...)
}

// edges are what a service waits for among those present: its
// dependencies, then what it is after.
func edges(svc Service, present func(string) bool) []string {
	var out []string
	for _, d := range svc.DependsOn {
		if present(d.Name) && !slices.Contains(out, d.Name) {
			out = append(out, d.Name)
		}
	}
	for _, a := range svc.After {
		if present(a) && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// cycles returns, for each service in a dependency cycle, the cycle as
// "a -> b -> a". order fixes which service each cycle is named from.
func cycles(order []string, svcs map[string]Service) map[string]string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	out := map[string]string{}
	present := func(n string) bool { _, ok := svcs[n]; return ok }
	var path []string
	var visit func(n string)
	visit = func(n string) {
		color[n] = grey
		path = append(path, n)
		for _, m := range edges(svcs[n], present) {
			switch color[m] {
			case white:
				visit(m)
			case grey:
				i := slices.Index(path, m)
				cyc := append(slices.Clone(path[i:]), m)
				for _, c := range path[i:] {
					if _, ok := out[c]; !ok {
						out[c] = strings.Join(cyc, " -> ")
					}
				}
			}
		}
		path = path[:len(path)-1]
		color[n] = black
	}
	for _, n := range order {
		if color[n] == white {
			visit(n)
		}
	}
	return out
}

// startOrder is order sorted so that every service comes after what it
// waits for; among services free to go, the earlier in order goes first.
// A cycle (StartAll refuses them) keeps the rest in order.
func startOrder(order []string, svcs map[string]Service) []string {
	present := func(n string) bool { _, ok := svcs[n]; return ok }
	placed := map[string]bool{}
	out := make([]string, 0, len(order))
	for len(out) < len(order) {
		progress := false
		for _, n := range order {
			if placed[n] {
				continue
			}
			free := true
			for _, m := range edges(svcs[n], present) {
				if !placed[m] {
					free = false
					break
				}
			}
			if free {
				placed[n] = true
				out = append(out, n)
				progress = true
				break
			}
		}
		if !progress {
			for _, n := range order {
				if !placed[n] {
					placed[n] = true
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// met says whether dep has reached cond; the caller holds s.mu.
func met(dep *svcState, cond string) bool {
	switch cond {
	case ConditionHealthy:
		return dep.wasHealthy
	case ConditionCompleted:
		return dep.completed
	}
	if dep.svc.Oneshot {
		return dep.completed
	}
	return dep.wasReady
}

// gone says why dep will not reach a condition it has not reached, short
// of a restart by hand: "" when it may still get there. The caller holds
// s.mu.
func gone(dep *svcState) string {
	switch {
	case dep.state == StateBlocked:
		return dep.svc.Name + " is blocked: " + dep.err
	case dep.state == StateFailed || dep.state == StateStopped:
		if dep.err != "" {
			return dep.svc.Name + " " + string(dep.state) + ": " + dep.err
		}
		return dep.svc.Name + " " + string(dep.state)
	case dep.readyErr != "":
		return dep.svc.Name + " failed: " + dep.readyErr
	}
	return ""
}

// wait is what holds a service back: the first thing it still waits for
// (Waiting, "" for none), the requirement that blocks it and why ("" when
// none does), and when the wait in progress would block it (zero for
// never).
type wait struct {
	Waiting            string
	BlockedOn, Blocked string
	Deadline           time.Time
}

// unmet looks at what st waits for, the caller holding s.mu. What a
// service is after never blocks it: it waits for that only while it may
// still come.
func (s *Supervisor) unmet(st *svcState, now time.Time) wait {
	var w wait
	block := func(name, why string) {
		if w.Blocked == "" {
			w.BlockedOn, w.Blocked = name, why
		}
	}
	check := func(name, cond string, required bool) {
		dep, ok := s.svcs[name]
		if !ok {
			if required {
				block(name, "requires "+name+", which is not a service here")
			}
			return
		}
		if met(dep, cond) {
			return
		}
		if why := gone(dep); why != "" {
			if required {
				block(name, "dependency "+why)
			}
			return
		}
		if !dep.launched.IsZero() {
			end := dep.launched.Add(s.opt.ReadyTimeout)
			if !now.Before(end) {
				if required {
					block(name, fmt.Sprintf("dependency %s not %s after %s", name, cond, s.opt.ReadyTimeout))
				}
				return
			}
			if w.Deadline.IsZero() || end.Before(w.Deadline) {
				w.Deadline = end
			}
		}
		if w.Waiting == "" {
			w.Waiting = name + " (" + cond + ")"
		}
	}
	for _, d := range st.svc.DependsOn {
		check(d.Name, d.condition(), !d.Optional)
	}
	for _, a := range st.svc.After {
		check(a, ConditionStarted, false)
	}
	return w
}

// awaitDependencies holds a service back until what it waits for is
// there (true), or until it is restarted by hand (true: start it now), or
// stopped (false). A requirement that fails blocks it: boot hears why, and
// the wait goes on, so that it starts once the requirement is met after
// all.
func (s *Supervisor) awaitDependencies(st *svcState) bool {
	name := st.svc.Name
	for {
		now := time.Now()
		s.mu.Lock()
		w := s.unmet(st, now)
		if w.Waiting == "" && w.Blocked == "" {
			s.mu.Unlock()
			return true
		}
		state, waitingOn, msg := StateWaiting, w.Waiting, ""
		if w.Blocked != "" {
			state, waitingOn, msg = StateBlocked, w.BlockedOn, w.Blocked
			w.Deadline = time.Time{}
		}
		if st.state != state || st.waitingOn != waitingOn || st.err != msg {
			if state == StateBlocked && st.err != msg {
				s.opt.Logf("service %s: blocked: %s", name, msg)
			}
			st.state, st.waitingOn, st.err = state, waitingOn, msg
			s.broadcast()
		}
		changed := s.changed
		s.mu.Unlock()
		if state == StateBlocked {
			s.signalReady(st, fmt.Errorf("service %s: blocked: %s", name, msg))
		}
		var timeout <-chan time.Time
		var timer *time.Timer
		if !w.Deadline.IsZero() {
			timer = time.NewTimer(w.Deadline.Sub(now))
			timeout = timer.C
		}
		var started, stopped bool
		select {
		case <-changed:
		case <-timeout:
		case <-st.kick:
			s.opt.Logf("service %s: started by hand while waiting for %s", name, waitingOn)
			started = true
		case <-st.stop:
			stopped = true
		}
		if timer != nil {
			timer.Stop()
		}
		if started || stopped {
			return started
		}
	}
}
