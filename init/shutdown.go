package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-os/berth/init/mounts"
)

// handleSignals shuts down as busybox's reboot, poweroff and halt ask
// (SIGTERM, SIGUSR2, SIGUSR1: they signal PID 1 when it is not their own
// init, and the console's shell runs them as applets, whatever is on its
// PATH), and as the kernel does on Ctrl-Alt-Del (SIGINT, reboot) and a
// power failure (SIGPWR, power off). A host has nobody to halt for: halt
// powers off.
func (h *host) handleSignals() {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGPWR, syscall.SIGUSR1, syscall.SIGUSR2)
	h.goSafe("signals", func() {
		for s := range ch {
			h.Shutdown(rebootSignal(s))
		}
	})
}

// rebootSignal says whether s asks for a reboot (else a power off).
func rebootSignal(s os.Signal) bool { return s == syscall.SIGTERM || s == syscall.SIGINT }

// watchPowerButton powers off when the ACPI power button (an input device
// named "Power Button") sends KEY_POWER.
func (h *host) watchPowerButton() {
	var dev string
	for i := 0; i < 30 && dev == ""; i++ {
		ents, _ := filepath.Glob("/sys/class/input/event*/device/name")
		for _, e := range ents {
			b, _ := os.ReadFile(e)
			if strings.TrimSpace(string(b)) == "Power Button" {
				dev = filepath.Join("/dev/input", filepath.Base(filepath.Dir(filepath.Dir(e))))
				break
			}
		}
		if dev == "" {
			time.Sleep(time.Second)
		}
	}
	if dev == "" {
		h.debugf("no ACPI power button")
		return
	}
	f, err := os.Open(dev)
	if err != nil {
		h.logf("power button %s: %v", dev, err)
		return
	}
	defer f.Close()
	// struct input_event on 64-bit: 16 bytes of time, u16 type, u16 code, s32 value.
	buf := make([]byte, 24)
	for {
		if _, err := f.Read(buf); err != nil {
			return
		}
		typ := binary.LittleEndian.Uint16(buf[16:])
		code := binary.LittleEndian.Uint16(buf[18:])
		val := int32(binary.LittleEndian.Uint32(buf[20:]))
		if typ == 1 && code == 116 && val == 1 { // EV_KEY, KEY_POWER, press
			h.alertf("power button pressed")
			h.Shutdown(false)
		}
	}
}

// Shutdown stops services in reverse order, then containerd and every other
// process, syncs and unmounts filesystems, and reboots or powers off,
// within about a minute even when containerd answers nothing. It runs
// once; later calls return at once.
func (h *host) Shutdown(reboot bool) {
	h.shutdownOnce.Do(func() {
		h.goSafe("shutdown", func() { h.shutdown(reboot) })
	})
}

func (h *host) shutdown(reboot bool) {
	what := "power off"
	if reboot {
		what = "reboot"
	}
	h.alertf("shutting down to %s", what)
	start := time.Now()
	// The reaper runs until every process is gone: an exit it does not
	// reap is a zombie that still looks alive to kill(pid, 0), and
	// shutdown would wait out every timeout for it.
	// Each step is bounded, so that a wedged containerd cannot hold the
	// power-off: every call to it has a deadline, and the services still
	// there after 30 s are killed through their cgroups.
	if h.sup != nil {
		h.sup.StopAll()
	}
	if h.procs != nil {
		h.procs.StopAll() // containerd: SIGTERM, then SIGKILL after 10 s (a stopped one too)
	}
	// Everything else: TERM, a grace period, KILL.
	unix.Kill(-1, syscall.SIGTERM)
	waitAllGone("/proc", 5*time.Second)
	unix.Kill(-1, syscall.SIGKILL)
	waitAllGone("/proc", 2*time.Second)
	close(h.stop)
	h.reaper.ReapAll()
	h.logf("shutdown: processes stopped in %.2fs", time.Since(start).Seconds())
	unix.Sync()
	order, err := unmountOrder("/proc/self/mountinfo")
	if err != nil {
		h.logf("shutdown: %v", err)
	}
	for _, m := range order {
		if err := unix.Unmount(m, 0); err != nil {
			// Busy: at least make it read-only so the journal is clean.
			unix.Mount("", m, "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
			unix.Unmount(m, unix.MNT_DETACH)
		}
	}
	unix.Sync()
	h.alertf("%s now", what)
	// The consoles write from queues of their own: give them a moment to
	// show the last lines, but no more (a console stopped by Ctrl-S must
	// not hold the power-off).
	h.cons.Flush(2 * time.Second)
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if reboot {
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	if err := unix.Reboot(cmd); err != nil {
		h.logf("%s: %v", what, err)
	}
	select {}
}

// unmountOrder lists the mounts of a mountinfo file to take down: every
// one but the root and the kernel's API filesystems, children before their
// parents (the deepest paths first; among mounts on the same path, the
// latest first).
func unmountOrder(mountinfo string) ([]string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil, fmt.Errorf("unmount order: %w", err)
	}
	defer f.Close()
	keep := map[string]bool{"/": true, "/proc": true, "/sys": true, "/dev": true, "/run": true}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := mounts.Unescape(fields[4])
		if keep[mp] || strings.HasPrefix(mp, "/proc/") || strings.HasPrefix(mp, "/sys/") || strings.HasPrefix(mp, "/dev/") {
			continue
		}
		out = append(out, mp)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("unmount order: %w", err)
	}
	// Mount order reversed, then deeper paths first.
	slices.Reverse(out)
	sort.SliceStable(out, func(i, j int) bool { return depth(out[i]) > depth(out[j]) })
	return out, nil
}

func depth(p string) int { return strings.Count(strings.TrimSuffix(p, "/"), "/") }

// waitAllGone waits until PID 1 is the only user process left in proc.
func waitAllGone(proc string, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if len(userProcesses(proc)) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// userProcesses lists processes other than PID 1 and kernel threads.
func userProcesses(proc string) []int {
	ents, _ := os.ReadDir(proc)
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 {
			continue
		}
		// Kernel threads have an empty cmdline; zombies too, and are reaped.
		b, _ := os.ReadFile(filepath.Join(proc, e.Name(), "cmdline"))
		if len(b) > 0 {
			out = append(out, pid)
		}
	}
	return out
}
