package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/init/boot"
	"github.com/google/go-cmp/cmp"
)

func TestPhaseSeconds(t *testing.T) {
	tests := []struct {
		name   string
		log    string
		want   float64
		wantOK bool
	}{
		{name: "the line", log: "phase 3/10 config done in 0.412s\n", want: 0.412, wantOK: true},
		{name: "among others", log: "phase 2/10 state done in 1.250s\nphase 3/10 config done in 2.031s\r\nphase 4/10 etc done in 0.010s\n", want: 2.031, wantOK: true},
		{name: "console prefix", log: "berth: phase 3/10 config done in 0.007s", want: 0.007, wantOK: true},
		{name: "no line", log: "phase 3/10 config\nphase 4/10 etc done in 0.010s\n"},
		{name: "empty log", log: ""},
		{name: "fatal failure is no duration", log: "phase 3/10 config failed in 0.500s\n"},
		{name: "another phase of a similar name", log: "phase 3/10 configure done in 0.500s\n"},
		{name: "the old slow-phase line", log: "berth: phase config took 0.80s\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := phaseSeconds(tc.log, "config")
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("phaseSeconds = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestPhaseMeasure(t *testing.T) {
	line := func(secs string) string { return "phase 3/10 config done in " + secs + "s\n" }
	tests := []struct {
		name      string
		logs      []string
		wantValue string
		wantNote  string
	}{
		{"median", []string{line("0.412"), line("3.000"), line("0.300")}, "0.41 s", "median of 3"},
		{"one boot lacks the line", []string{line("0.412"), "phase 3/10 config\n", line("0.300")}, "missing", `1 of 3 boots logged no "phase N/M config done in" duration line`},
		{"no boot has it", []string{"", ""}, "missing", `2 of 2 boots logged no "phase N/M config done in" duration line`},
		{"no boots", nil, "missing", `0 of 0 boots logged no "phase N/M config done in" duration line`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			value, note := phaseMeasure(tc.logs, "config")
			if value != tc.wantValue || note != tc.wantNote {
				t.Errorf("phaseMeasure = %q, %q; want %q, %q", value, note, tc.wantValue, tc.wantNote)
			}
		})
	}
}

// bench reads the very line PID 1's phase runner writes.
func TestPhaseSecondsReadsTheRunnersLine(t *testing.T) {
	plan := boot.Plan{
		{Name: "state", Run: func(context.Context) error { return nil }},
		{Name: "config", Run: func(context.Context) error { time.Sleep(50 * time.Millisecond); return nil }},
	}
	var initLog strings.Builder
	logf := func(f string, a ...any) { fmt.Fprintf(&initLog, f+"\n", a...) }
	if err := plan.Run(context.Background(), logf, logf, nil); err != nil {
		t.Fatal(err)
	}
	secs, ok := phaseSeconds(initLog.String(), "config")
	if !ok || secs < 0.05 || secs > 5 {
		t.Errorf("phaseSeconds = %v, %v from the log:\n%s", secs, ok, initLog.String())
	}
}

func TestParseFirstUse(t *testing.T) {
	got, err := parseFirstUse("first-use 20.51 22.01 22.26\r\nuser-containerd 31457280\r\n")
	if err != nil || math.Abs(got.first-1.5) > 1e-9 || math.Abs(got.next-0.25) > 1e-9 || got.memory != 31457280 {
		t.Errorf("parseFirstUse = %+v, %v; want 1.5 s, 0.25 s, 30 MiB", got, err)
	}
	if _, err := parseFirstUse("user-containerd 5\n"); err == nil || !strings.Contains(err.Error(), "no first-use line") {
		t.Errorf("without the times: %v", err)
	}
	if _, err := parseFirstUse("first-use 1 2 3\n"); err == nil || !strings.Contains(err.Error(), "no user containerd's memory.current") {
		t.Errorf("without the memory: %v", err)
	}
}

func TestParseMemory(t *testing.T) {
	const procs = "proc init 21000 9000 4000\r\nproc containerd 40000 30000 9000\r\nproc containerd 30000 20000 6000\r\nproc berth ntp 8000 2000 1000\r\nproc sh x 1 1\r\nproc sh 1 1\r\n"
	got, err := parseMemory("MemAvailable:     401234 kB\r\nuser-containerd 23453696\r\n" + procs)
	want := memory{availKB: 401234, userContainerd: 23453696, procs: []procMemory{{"init", 21000, 9000, 4000}, {"containerd", 40000, 30000, 9000}, {"containerd", 30000, 20000, 6000}, {"berth ntp", 8000, 2000, 1000}}}
	if err != nil || !cmp.Equal(got, want, cmp.AllowUnexported(memory{}, procMemory{}, cpuUse{}, procCPU{}, firstUse{})) {
		t.Errorf("parseMemory = %+v, %v", got, err)
	}
	if _, err := parseMemory("MemAvailable: 1 kB\n" + procs); err == nil || !strings.Contains(err.Error(), "no user containerd's memory.current") {
		t.Errorf("without the user containerd: %v", err)
	}
	if _, err := parseMemory("user-containerd 5\n" + procs); err == nil || !strings.Contains(err.Error(), "no MemAvailable line") {
		t.Errorf("without MemAvailable: %v", err)
	}
	if _, err := parseMemory("MemAvailable: 1 kB\nuser-containerd 5\n"); err == nil || !strings.Contains(err.Error(), "no process's smaps_rollup") {
		t.Errorf("without processes: %v", err)
	}
	rows, n, total := byName(got.procs)
	if total != 61000 || len(rows) != 3 || rows[0] != (procMemory{"containerd", 70000, 50000, 15000}) || n["containerd"] != 2 || rows[2].name != "berth ntp" {
		t.Errorf("byName = %+v, %v, %d", rows, n, total)
	}
}

// The kernel's share is MemTotal − MemAvailable at PID 1's start, the
// median of the boots that logged it.
func TestKernelShare(t *testing.T) {
	line := func(total, avail int) string {
		return fmt.Sprintf("2026-12-03T10:00:00Z memory at PID 1's start: MemTotal %d kB, MemAvailable %d kB\n", total, avail)
	}
	v, note := kernelShare([]string{line(500000, 460000), line(500000, 450000), "no such line", line(500000, 470000)})
	if v != "39.1 MiB" || !strings.Contains(note, "median of 3") {
		t.Errorf("kernelShare = %q, %q; want 39.1 MiB over 3 boots", v, note)
	}
	if v, _ := kernelShare([]string{"nothing"}); v != "" {
		t.Errorf("kernelShare of logs without the line = %q", v)
	}
}

func TestParseDockerMemory(t *testing.T) {
	got, err := parseDockerMemory("MemAvailable:     601234 kB\r\ndocker 73453696\r\n")
	if err != nil || got.availKB != 601234 || got.docker != 73453696 {
		t.Errorf("parseDockerMemory = %+v, %v", got, err)
	}
	if _, err := parseDockerMemory("MemAvailable: 1 kB\ndocker \n"); err == nil || !strings.Contains(err.Error(), "no docker service's memory.current") {
		t.Errorf("without dockerd (pidof printed nothing): %v", err)
	}
	if _, err := parseDockerMemory("docker 5\n"); err == nil || !strings.Contains(err.Error(), "no MemAvailable line") {
		t.Errorf("without MemAvailable: %v", err)
	}
}

// The suite's totals line is read from the timing table test/sched writes.
func TestSuiteTiming(t *testing.T) {
	p := filepath.Join(t.TempDir(), "timing.txt")
	table := "scenario cpus start took expect deadline waited result\nForkBase 1 0s 61s 45s 150s - ok\n" +
		"49 scenarios in 31m2s on 2 cores (1h4m of scenario time; cores held 1h1m of 1h2m4s)\nprocessor time: the test binary 2m, what it ran 1h\n"
	if err := os.WriteFile(p, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	v, note, ok := suiteTiming(p)
	if !ok || v != "31m2s" || !strings.Contains(note, "49 scenarios on 2 cores") || !strings.Contains(note, p) {
		t.Errorf("suiteTiming: %q, %q, %v", v, note, ok)
	}
	if _, _, ok := suiteTiming(filepath.Join(t.TempDir(), "none")); ok {
		t.Error("a missing table gave a row")
	}
}

func TestBootTimeline(t *testing.T) {
	first := `2026-12-03T11:01:00.1Z phase 2/10 state done in 4.343s
2026-12-03T11:01:00.2Z state: mke2fs /dev/vda4 in 4.213s
2026-12-03T11:01:00.3Z service udev: container created in 1.304s
2026-12-03T11:01:00.4Z service udev: task created (shim, OCI runtime create) in 4.471s
2026-12-03T11:01:00.5Z phase 8/10 services done in 9.490s
2026-12-03T11:01:00.6Z service udev: running after 9.29s
`
	later := []string{
		"phase 2/10 state done in 0.2s\nservice udev: container created in 0.3s\nphase 8/10 services done in 6.0s\n",
		"phase 2/10 state done in 0.4s\nservice udev: container created in 0.5s\nphase 8/10 services done in 5.0s\nstate: mounted /dev/vda4 in 0.04s\n",
		"phase 2/10 state done in 0.3s\nservice udev: container created in 0.1s\nphase 8/10 services done in 7.0s\n",
	}
	want := [][3]string{
		{"phase state", "4.34 s", "0.30 s"},
		{"state: mke2fs", "4.21 s", "-"},
		{"service udev: container created", "1.30 s", "0.30 s"},
		{"service udev: task created (shim, OCI runtime create)", "4.47 s", "-"},
		{"phase services", "9.49 s", "6.00 s"},
		{"state: mounted", "-", "0.04 s"},
	}
	if diff := cmp.Diff(want, bootTimeline(first, later)); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
}

func TestParseConsoleUse(t *testing.T) {
	got, err := parseConsoleUse("30310400\r\nanon 5136384\r\npss 9123\r\n")
	if err != nil || got != (consoleUse{current: 30310400, anon: 5136384, pssKB: 9123}) {
		t.Errorf("parseConsoleUse = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "30310400\nanon 5\n", "cat: memory.current: No such file\nanon 5\npss 1\n", "1\nanon 2\npss x\n"} {
		if _, err := parseConsoleUse(bad); err == nil || !strings.Contains(err.Error(), "console memory") {
			t.Errorf("parseConsoleUse(%q) = %v, want an error", bad, err)
		}
	}
}

// The breakdown sums regular files by component (a service's rootfs each),
// counts a file of a size met before (and of its name too, when small) as
// a repeat, and refuses a listing with no file.
func TestBreakdown(t *testing.T) {
	listing := `drwxr-xr-x 0/0                     248 2025-01-01 00:00 squashfs-root
lrwxrwxrwx 0/0                       7 2025-01-01 00:00 squashfs-root/bin -> usr/bin
-rwxr-xr-x 0/0                31330430 2025-01-01 00:00 squashfs-root/usr/bin/containerd
-rwxr-xr-x 0/0                31330430 2025-01-01 00:00 squashfs-root/usr/bin/ctr
-rwxr-xr-x 0/0                 9650302 2025-01-01 00:00 squashfs-root/usr/bin/hostctl
-rwxr-xr-x 0/0                 9650302 2025-01-01 00:00 squashfs-root/usr/lib/berth/services/console/rootfs/usr/bin/hostctl
-rwxr-xr-x 0/0                 9650302 2025-01-01 00:00 squashfs-root/usr/lib/berth/services/ntp/rootfs/usr/bin/berth-ntp
-rw-r--r-- 0/0                    1000 2025-01-01 00:00 squashfs-root/usr/lib/berth/services/console/rootfs/etc/a file
-rw-r--r-- 0/0                    1000 2025-01-01 00:00 squashfs-root/usr/lib/berth/services/ntp/rootfs/etc/b file
-rw-r--r-- 0/0                    1000 2025-01-01 00:00 squashfs-root/usr/lib/berth/services/ntp/rootfs/etc/a file
-rw-r--r-- 0/0                 5000985 2025-01-01 00:00 squashfs-root/usr/lib/modules/6.12.117-berth/kernel/fs/xfs/xfs.ko
-rw-r--r-- 0/0                      10 2025-01-01 00:00 squashfs-root/etc/os-release
`
	got, err := breakdown(listing)
	if err != nil {
		t.Fatal(err)
	}
	want := []sizeRow{
		{name: "containerd (and ctr)", bytes: 31330430, files: 1},
		{name: "ctr (a hard link to containerd)", bytes: 31330430, dupes: 31330430, files: 1},
		{name: "service ntp (rootfs)", bytes: 9652302, dupes: 9651302, files: 3},
		{name: "service console (rootfs)", bytes: 9651302, dupes: 9650302, files: 2},
		{name: "berthbox (hostctl and the services' programs)", bytes: 9650302, files: 1},
		{name: "kernel modules", bytes: 5000985, files: 1},
		{name: "everything else", bytes: 10, files: 1},
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(sizeRow{})); d != "" {
		t.Errorf("breakdown (-want +got):\n%s", d)
	}
	if _, err := breakdown("drwxr-xr-x 0/0 3 2025-01-01 00:00 squashfs-root\n"); err == nil || !strings.Contains(err.Error(), "no regular file") {
		t.Errorf("a listing without files: %v", err)
	}
}
