package main

import (
	"fmt"
	"strconv"
	"strings"
)

// userHZ is the unit of the processor times in /proc (USER_HZ, 100 on
// x86-64 whatever the kernel's own tick rate).
const userHZ = 100

// cpuScript prints the seconds since the kernel started ("uptime" and
// /proc/uptime), the whole machine's processor time by kind ("machine" and
// the first line of /proc/stat) and a line per process, kernel threads
// included:
// "cpu COMM UTIME STIME CUTIME CSTIME", in USER_HZ ticks, from its stat
// (the fields after the command's closing parenthesis, which a command may
// contain).
const cpuScript = `echo "uptime $(cat /proc/uptime)"; echo "machine $(head -n 1 /proc/stat)"; ` +
	`for p in /proc/[0-9]*; do s=$(sed 's/^.*) //' $p/stat 2>/dev/null | cut -d' ' -f12-15); [ -n "$s" ] && echo "cpu $(cat $p/comm 2>/dev/null) $s"; done`

// cpuUse is what cpuScript reads.
type cpuUse struct {
	uptime     float64 // seconds since the kernel started
	busy, idle int64   // ticks: user, nice, system, irq and softirq; idle and iowait
	procs      []procCPU
}

// procCPU is one process's processor time, in ticks: its own, and that of
// its children that ended and that it waited for.
type procCPU struct {
	name                 string
	user, system, reaped int64
}

// parseCPU reads cpuScript's output.
func parseCPU(s string) (cpuUse, error) {
	var c cpuUse
	var seenUptime, seenStat bool
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r", ""), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "uptime":
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				c.uptime, seenUptime = v, true
			}
		case len(f) >= 9 && f[0] == "machine" && f[1] == "cpu":
			// user nice system idle iowait irq softirq [steal...]
			if v, ok := ints(f[2:9]); ok {
				c.busy, c.idle, seenStat = v[0]+v[1]+v[2]+v[5]+v[6], v[3]+v[4], true
			}
		case len(f) >= 6 && f[0] == "cpu":
			if v, ok := ints(f[len(f)-4:]); ok {
				c.procs = append(c.procs, procCPU{name: strings.Join(f[1:len(f)-4], " "), user: v[0], system: v[1], reaped: v[2] + v[3]})
			}
		}
	}
	switch {
	case !seenUptime:
		return c, fmt.Errorf("no /proc/uptime line in %q", s)
	case !seenStat:
		return c, fmt.Errorf("no /proc/stat cpu line in %q", s)
	case len(c.procs) == 0:
		return c, fmt.Errorf("no process's stat in %q", s)
	}
	return c, nil
}

// ints parses every field as a number; ok is false if one is not.
func ints(fields []string) (v []int64, ok bool) {
	for _, f := range fields {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

// cpuByName sums the processes of each name, the most processor time
// first, kernel threads by the name before their '/' (kworker/0:1-events
// is kworker), with the count of each in n, and the sum of all.
func cpuByName(procs []procCPU) (rows []procCPU, n map[string]int, all procCPU) {
	sum := map[string]*procCPU{}
	n = map[string]int{}
	for _, p := range procs {
		name, _, _ := strings.Cut(p.name, "/")
		if sum[name] == nil {
			sum[name] = &procCPU{name: name}
		}
		r := sum[name]
		r.user, r.system, r.reaped = r.user+p.user, r.system+p.system, r.reaped+p.reaped
		all.user, all.system, all.reaped = all.user+p.user, all.system+p.system, all.reaped+p.reaped
		n[name]++
	}
	all.name = "all"
	return largestFirst(sum, func(r procCPU) int64 { return r.user + r.system }), n, all
}

// ticks formats a processor time in seconds.
func ticks(t int64) string { return fmt.Sprintf("%.2f s", float64(t)/userHZ) }
