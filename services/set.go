package services

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berth-os/berth/internal/strictyaml"
)

// ValidateSet checks definitions together, the whole set that will run:
// names given once, depends_on, after and before naming services of the
// set (a dependency that is not required may be absent), service_healthy
// only on a service with a healthcheck, and no cycle in the start order.
// It returns the start order (StartOrder) and every problem at once.
func ValidateSet(defs []*Definition) ([]string, error) {
	var errs strictyaml.Errors
	byName := map[string]*Definition{}
	for _, d := range defs {
		if o, ok := byName[d.Name]; ok {
			errs = append(errs, d.errorf("", "is defined twice (also in %s)", o.Source))
			continue
		}
		byName[d.Name] = d
	}
	for _, d := range defs {
		for _, dep := range d.DependsOn {
			o, ok := byName[dep.Name]
			field := strictyaml.Join("depends_on", dep.Name)
			switch {
			case !ok && dep.Required:
				errs = append(errs, d.errorf(field, "no service %q (known: %s)", dep.Name, names(defs)))
			case ok && dep.Condition == ServiceHealthy && !o.hasHealthcheck():
				errs = append(errs, d.errorf(field+".condition", "service_healthy, but %s has no healthcheck", dep.Name))
			case ok && dep.Condition == ServiceCompletedSuccessfully && o.XBerth.Kind != "oneshot" && o.restart() == "always":
				errs = append(errs, d.errorf(field+".condition", "service_completed_successfully, but %s restarts always: it never completes", dep.Name))
			}
		}
		for _, o := range []struct {
			field string
			names []string
		}{{"x-berth.after", d.XBerth.After}, {"x-berth.before", d.XBerth.Before}} {
			for i, n := range o.names {
				if _, ok := byName[n]; !ok {
					errs = append(errs, d.errorf(fmt.Sprintf("%s[%d]", o.field, i), "no service %q (known: %s)", n, names(defs)))
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	order, err := StartOrder(defs)
	if err != nil {
		return nil, err
	}
	return order, nil
}

func names(defs []*Definition) string {
	n := make([]string, len(defs))
	for i, d := range defs {
		n[i] = d.Name
	}
	return strings.Join(n, ", ")
}

// hasHealthcheck says whether the service has a check to be healthy by.
func (d *Definition) hasHealthcheck() bool {
	if d.XBerth.Healthcheck != nil {
		return true
	}
	h := d.Healthcheck
	return h != nil && !h.Disable && !(len(h.Test) == 1 && h.Test[0] == "NONE") && (len(h.Test) > 0 || d.Image != "")
}

// StartOrder is the order the set starts in: each service after those it
// depends on and those it comes after (after, and the others' before),
// ties broken by the order of defs (the image's). A cycle is an error
// that names its services.
func StartOrder(defs []*Definition) ([]string, error) {
	idx := map[string]int{}
	for i, d := range defs {
		idx[d.Name] = i
	}
	// preds[i] are the services i starts after.
	preds := make([][]int, len(defs))
	edge := func(before, after string) {
		b, ok1 := idx[before]
		a, ok2 := idx[after]
		if ok1 && ok2 && !slices.Contains(preds[a], b) {
			preds[a] = append(preds[a], b)
		}
	}
	for _, d := range defs {
		for _, dep := range d.DependsOn {
			edge(dep.Name, d.Name)
		}
		for _, n := range d.XBerth.After {
			edge(n, d.Name)
		}
		for _, n := range d.XBerth.Before {
			edge(d.Name, n)
		}
	}
	done := make([]bool, len(defs))
	var order []string
	for len(order) < len(defs) {
		next := -1
		for i := range defs {
			if done[i] {
				continue
			}
			if !slices.ContainsFunc(preds[i], func(p int) bool { return !done[p] }) {
				next = i
				break
			}
		}
		if next < 0 {
			return nil, cycleError(defs, preds, done)
		}
		done[next] = true
		order = append(order, defs[next].Name)
	}
	return order, nil
}

// cycleError finds a cycle among the services not yet ordered (each has
// a predecessor not ordered) and names it: a -> b -> a, each starting
// after the one before it.
func cycleError(defs []*Definition, preds [][]int, done []bool) error {
	start := slices.Index(done, false)
	// Walk back along unordered predecessors until a service repeats.
	seen := map[int]int{}
	var path []int
	for i := start; ; {
		if at, ok := seen[i]; ok {
			path = path[at:]
			break
		}
		seen[i] = len(path)
		path = append(path, i)
		for _, p := range preds[i] {
			if !done[p] {
				i = p
				break
			}
		}
	}
	slices.Reverse(path)
	// Begin at the first listed, so that the message is stable.
	first := slices.Index(path, slices.Min(path))
	path = append(path[first:], path[:first]...)
	n := make([]string, 0, len(path)+1)
	for _, i := range path {
		n = append(n, defs[i].Name)
	}
	n = append(n, n[0])
	d := defs[path[0]]
	return strictyaml.Errors{d.errorf("", "start order has a cycle: %s (depends_on, x-berth.after and x-berth.before)", strings.Join(n, " -> "))}
}

// Runtime is what PID 1 needs of a definition besides the OCI spec; the
// build writes it as service.json beside config.json.
type Runtime struct {
	Name string `json:"name"`
	// Image is the reference of a service with an image; empty for a
	// built-in.
	Image string `json:"image,omitempty"`
	// Kind is empty (a daemon) or oneshot.
	Kind   string `json:"kind,omitempty"`
	Notify bool   `json:"notify"`
	// Restart is always, on-failure or never (Compose's "no").
	Restart string `json:"restart"`
	// DependsOn: wait for each before starting, as its condition says.
	DependsOn []Dependency `json:"depends_on,omitempty"`
	// After: start after these, when they are in the set, and whatever
	// state they reach. The others' before is turned into this.
	After       []string          `json:"after,omitempty"`
	Healthcheck *Check            `json:"healthcheck,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// Check is a healthcheck as the supervisor runs it: one of Exec (an argv
// run in the container, healthy when it exits 0), File (a path that
// exists) and Socket (a unix socket that accepts a connection), each
// path in the container; every Interval, each try given Timeout; unhealthy
// after Retries failures in a row; failures in StartPeriod do not count.
type Check struct {
	Exec        []string      `json:"exec,omitempty"`
	File        string        `json:"file,omitempty"`
	Socket      string        `json:"socket,omitempty"`
	Interval    time.Duration `json:"interval"`
	Timeout     time.Duration `json:"timeout"`
	Retries     int           `json:"retries"`
	StartPeriod time.Duration `json:"start_period"`
}

// Runtimes returns the runtime settings of each definition of a set, in
// its order: before is turned into the other's after.
func Runtimes(defs []*Definition) []Runtime {
	out := make([]Runtime, len(defs))
	for i, d := range defs {
		out[i] = d.Runtime()
	}
	for _, d := range defs {
		for _, n := range d.XBerth.Before {
			for i := range out {
				if out[i].Name == n && !slices.Contains(out[i].After, d.Name) {
					out[i].After = append(out[i].After, d.Name)
				}
			}
		}
	}
	return out
}

// Runtime returns the definition's runtime settings on its own (its
// after without the others' before: see Runtimes).
func (d *Definition) Runtime() Runtime {
	r := d.restart()
	if r == "no" {
		r = "never" // the supervisor's word
	}
	rt := Runtime{
		Name: d.Name, Image: d.Image, Kind: d.XBerth.Kind, Notify: d.XBerth.Notify, Restart: r,
		After:       append([]string(nil), d.XBerth.After...),
		Healthcheck: d.check(),
		Labels:      d.Labels.Map(),
	}
	if len(d.DependsOn) > 0 {
		rt.DependsOn = append([]Dependency(nil), d.DependsOn...)
	}
	return rt
}

// check is the definition's healthcheck with Compose's defaults, or nil.
// A service with an image and a healthcheck without test takes the
// image's: the pulling code fills Exec in.
func (d *Definition) check() *Check {
	if !d.hasHealthcheck() {
		return nil
	}
	c := &Check{Interval: 30 * time.Second, Timeout: 30 * time.Second, Retries: 3}
	if h := d.Healthcheck; h != nil {
		switch {
		case len(h.Test) > 0 && h.Test[0] == "CMD":
			c.Exec = append([]string(nil), h.Test[1:]...)
		case len(h.Test) > 0 && h.Test[0] == "CMD-SHELL":
			c.Exec = []string{"/bin/sh", "-c", h.Test[1]}
		}
		for _, v := range []struct {
			to   *time.Duration
			from *Duration
		}{{&c.Interval, h.Interval}, {&c.Timeout, h.Timeout}, {&c.StartPeriod, h.StartPeriod}} {
			if v.from != nil {
				*v.to = time.Duration(*v.from)
			}
		}
		if h.Retries != nil {
			c.Retries = *h.Retries
		}
	}
	if b := d.XBerth.Healthcheck; b != nil {
		c.File, c.Socket = b.File, b.Socket
	}
	return c
}
