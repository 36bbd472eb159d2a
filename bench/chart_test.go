package main

import (
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
)

const chartLog = `2026-12-05T06:58:17.097Z phase 1/10 mounts done in 0.168s
2026-12-05T06:58:17.427Z phase 2/10 state done in 0.330s
2026-12-05T06:58:17.300Z state: mke2fs /dev/vda4 in 0.240s
2026-12-05T06:58:19.825Z service network: container created in 0.329s
2026-12-05T06:58:22.932Z service network: task created (shim, OCI runtime create) in 3.107s
2026-12-05T06:58:23.650Z service network: task started (OCI runtime start) in 0.718s
2026-12-05T06:58:25.650Z service network: ready (READY=1 after its start) in 2.000s
2026-12-05T06:58:27.952Z phase 8/10 services done in 8.764s
2026-12-05T06:58:27.965Z phase 10/10 ready done in 0.011s
2026-12-05T06:58:27.966Z service network: running after 9.29s
`

// Each step's bar ends at its line's time stamp and is as long as the
// duration it logs; time 0 is the kernel's start, the ready phase's end
// less the ready line's seconds; the kernel gets the time up to PID 1.
func TestBootSpans(t *testing.T) {
	got, err := bootSpans(chartLog, 11.71)
	if err != nil {
		t.Fatal(err)
	}
	// The ready phase ended at :27.965, 11.71 s after the kernel started
	// (:16.255); PID 1's first step began at :17.097 - 0.168 = :16.929.
	want := []span{
		{"kernel, stage 1", "kernel", 0, 0.674},
		{"phase mounts", "phase", 0.674, 0.842},
		{"phase state", "phase", 0.842, 1.172},
		{"state partition", "mke2fs", 0.805, 1.045},
		{"service network", "container", 3.241, 3.570},
		{"service network", "task create", 3.570, 6.677},
		{"service network", "task start", 6.677, 7.395},
		{"service network", "to READY=1", 7.395, 9.395},
		{"phase services", "phase", 2.933, 11.697},
		{"phase ready", "phase", 11.699, 11.710},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d spans, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.row != w.row || g.step != w.step || math.Abs(g.start-w.start) > 0.0015 || math.Abs(g.end-w.end) > 0.0015 {
			t.Errorf("span %d = %+v, want %+v", i, g, w)
		}
	}
	// Without the ready line's figure, time 0 is PID 1's first step.
	got, err = bootSpans(chartLog, 0)
	if err != nil || got[0].row != "phase mounts" || math.Abs(got[0].start) > 1e-9 {
		t.Errorf("without readySince: first span %+v, %v", got[0], err)
	}
	if _, err := bootSpans("berth: ready in 3s\n", 3); err == nil || !strings.Contains(err.Error(), "no timed step") {
		t.Errorf("a log with no timed step: %v", err)
	}
}

// The chart is well-formed SVG with a bar per span, placed by its start,
// and a row label per row.
func TestWriteChart(t *testing.T) {
	spans, err := bootSpans(chartLog, 11.71)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := writeChart(&b, "a <boot> & more", spans); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(b.String()))
	var bars, labels int
	var barXs []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, b.String())
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		attr := map[string]string{}
		for _, a := range se.Attr {
			attr[a.Name.Local] = a.Value
		}
		switch {
		case se.Name.Local == "rect" && attr["height"] == "14":
			bars++
			barXs = append(barXs, attr["x"])
		case se.Name.Local == "text" && attr["x"] == "10":
			labels++
		}
	}
	if bars != len(spans) {
		t.Errorf("%d bars, want %d", bars, len(spans))
	}
	// 12 s on 760 px: the kernel's bar starts at the axis, the services'
	// container step at 200 + 3.241 * 760 / 12.
	if barXs[0] != "200.0" || barXs[4] != "405.3" {
		t.Errorf("bars at x %v, want the first at 200.0 and the fifth at 405.3", barXs)
	}
	// The title and the seven rows.
	if labels != 8 {
		t.Errorf("%d labels, want 8 (a title and 7 rows)", labels)
	}
}
