package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The boot order is data; this golden list is the documented order.
func TestPlanOrder(t *testing.T) {
	h := &host{}
	want := []string{"mounts", "state", "config", "etc", "sysctl", "apply", "containerd", "services", "late", "ready"}
	if diff := cmp.Diff(want, h.plan().Names()); diff != "" {
		t.Errorf("boot phases (-want +got)\n%s", diff)
	}
	fatal := map[string]bool{}
	for _, p := range h.plan() {
		fatal[p.Name] = p.Fatal
	}
	// A missing state partition or a failing service must never stop boot.
	for _, name := range []string{"state", "config", "sysctl", "apply", "services", "late", "ready"} {
		if fatal[name] {
			t.Errorf("phase %s is fatal", name)
		}
	}
}

func TestReadyLine(t *testing.T) {
	got := ReadyLine(6.4171, []string{"udev", "logging", "network", "console"}, nil)
	if got != "berth: ready in 6.42s (udev logging network console)" {
		t.Errorf("got %q", got)
	}
	got = ReadyLine(12, []string{"udev", "network"}, []string{"network"})
	if got != "berth: degraded in 12.00s (failed: network)" {
		t.Errorf("got %q", got)
	}
}

func TestUnmountOrderDeepestFirst(t *testing.T) {
	for _, m := range unmountOrder() {
		if m == "/" || m == "/proc" || strings.HasPrefix(m, "/sys/") {
			t.Errorf("would unmount %s", m)
		}
	}
}
