package main

import (
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berth-os/berth/internal/atomicfile"
)

// A span is one timed step of a boot, in seconds from the kernel's start.
type span struct {
	row, step  string
	start, end float64
}

// spanRe matches a timed line of PID 1's init log with its time stamp: the
// stamp is when the step ended.
var spanRe = regexp.MustCompile(`(?m)^(\S+Z) (phase [0-9]+/[0-9]+ (\S+) done|service (\S+): (` + serviceSteps + `)|state: (` + stateSteps + `)).*? in ([0-9]+(?:\.[0-9]+)?)s\s*$`)

// The timed steps of a service's start and of the state partition, as
// PID 1 logs them: the timeline's table and its chart read the same lines.
const (
	serviceSteps = "container created|task created|task started|ready"
	stateSteps   = "looked for|mke2fs|mounted"
)

// serviceStep names a service's steps on the chart.
var serviceStep = map[string]string{
	"container created": "container",
	"task created":      "task create",
	"task started":      "task start",
	"ready":             "to READY=1",
}

// bootSpans reads the timed steps of one boot's init log. readySince is
// the ready line's "seconds since the kernel started" (0 when unknown): the
// ready phase's end, less that, is the kernel's start, time 0. Without it,
// time 0 is PID 1's first step. A row is a phase, the state partition's
// steps, or a service's steps; the kernel and stage 1 get a row of their
// own, up to PID 1's first step.
func bootSpans(log string, readySince float64) ([]span, error) {
	var spans []span
	var readyEnd time.Time
	var first time.Time
	type timed struct {
		s        span
		end      time.Time
		duration float64
	}
	var all []timed
	for _, g := range spanRe.FindAllStringSubmatch(log, -1) {
		end, err := time.Parse(time.RFC3339Nano, g[1])
		if err != nil {
			return nil, fmt.Errorf("init log: time stamp %q: %v", g[1], err)
		}
		d, _ := strconv.ParseFloat(g[7], 64)
		var s span
		switch {
		case g[3] != "":
			s = span{row: "phase " + g[3], step: "phase"}
			if g[3] == "ready" {
				readyEnd = end
			}
		case g[4] != "":
			s = span{row: "service " + g[4], step: serviceStep[g[5]]}
		default:
			s = span{row: "state partition", step: g[6]}
		}
		start := end.Add(-time.Duration(d * float64(time.Second)))
		if first.IsZero() || start.Before(first) {
			first = start
		}
		all = append(all, timed{s, end, d})
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("init log: no timed step")
	}
	origin := first
	if readySince > 0 && !readyEnd.IsZero() {
		origin = readyEnd.Add(-time.Duration(readySince * float64(time.Second)))
		if k := first.Sub(origin).Seconds(); k > 0 {
			spans = append(spans, span{row: "kernel, stage 1", step: "kernel", start: 0, end: k})
		}
	}
	for _, t := range all {
		t.s.end = t.end.Sub(origin).Seconds()
		t.s.start = t.s.end - t.duration
		spans = append(spans, t.s)
	}
	return spans, nil
}

// stepColour gives each kind of step its colour on the chart.
var stepColour = map[string]string{
	"kernel":      "#9e9e9e",
	"phase":       "#5c6bc0",
	"looked for":  "#8d6e63",
	"mke2fs":      "#d84315",
	"mounted":     "#8d6e63",
	"container":   "#26a69a",
	"task create": "#ef6c00",
	"task start":  "#fbc02d",
	"to READY=1":  "#7cb342",
}

// writeChart draws spans as a bootchart-style SVG: a row per phase or
// service, in the order met, a bar per step, a grid line per second.
func writeChart(w io.Writer, title string, spans []span) error {
	var rows []string
	index := map[string]int{}
	end := 0.0
	for _, s := range spans {
		if _, ok := index[s.row]; !ok {
			index[s.row] = len(rows)
			rows = append(rows, s.row)
		}
		end = math.Max(end, s.end)
	}
	const left, width, rowH, top = 200.0, 760.0, 18.0, 40.0
	secs := math.Ceil(end)
	if secs < 1 {
		secs = 1
	}
	scale := width / secs
	height := top + rowH*float64(len(rows)) + 50
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", left+width+20, height)
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14">%s</text>`+"\n", xmlEscape(title))
	for i := 0; i <= int(secs); i++ {
		x := left + float64(i)*scale
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#ddd"/><text x="%.1f" y="%.0f" text-anchor="middle">%d s</text>`+"\n",
			x, top-5, x, top+rowH*float64(len(rows)), x, top+rowH*float64(len(rows))+14, i)
	}
	for i, r := range rows {
		fmt.Fprintf(&b, `<text x="10" y="%.1f">%s</text>`+"\n", top+rowH*float64(i)+13, xmlEscape(r))
	}
	for _, s := range spans {
		y := top + rowH*float64(index[s.row]) + 2
		w := math.Max((s.end-s.start)*scale, 1)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="%s"><title>%s: %s, %.3f–%.3f s</title></rect>`+"\n",
			left+s.start*scale, y, w, rowH-4, stepColour[s.step], xmlEscape(s.row), xmlEscape(s.step), s.start, s.end)
	}
	x := 10.0
	for _, k := range []string{"kernel", "phase", "mke2fs", "container", "task create", "task start", "to READY=1"} {
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="10" height="10" fill="%s"/><text x="%.0f" y="%.0f">%s</text>`+"\n", x, height-16, stepColour[k], x+14, height-7, xmlEscape(k))
		x += 14 + 7*float64(len(k)) + 16
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// chartFile writes one boot's chart to path, atomically.
func chartFile(path, title, log string, readySince float64) error {
	spans, err := bootSpans(log, readySince)
	if err != nil {
		return err
	}
	return atomicfile.WriteFrom(path, 0o644, func(w io.Writer) error { return writeChart(w, title, spans) })
}
