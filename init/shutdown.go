package main

import (
	"bufio"
	"encoding/binary"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// handleSignals: SIGTERM and SIGPWR power off, SIGINT (Ctrl-Alt-Del) and
// SIGUSR1 reboot.
func (h *host) handleSignals() {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGPWR, syscall.SIGUSR1)
	h.goSafe("signals", func() {
		for s := range ch {
			switch s {
			case syscall.SIGINT, syscall.SIGUSR1:
				h.Shutdown(true)
			default:
				h.Shutdown(false)
			}
		}
	})
}

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
// process, syncs and unmounts filesystems, and reboots or powers off. It
// runs once; later calls return at once.
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
	if h.sup != nil {
		h.sup.StopAll()
	}
	close(h.stop)
	h.mu.Lock()
	ctr := h.ctrProc
	h.mu.Unlock()
	if ctr != nil {
		ctr.Signal(syscall.SIGTERM)
		waitGone(ctr.Pid, 10*time.Second)
		ctr.Kill()
	}
	// Everything else: TERM, a grace period, KILL.
	unix.Kill(-1, syscall.SIGTERM)
	waitAllGone(5 * time.Second)
	unix.Kill(-1, syscall.SIGKILL)
	waitAllGone(2 * time.Second)
	h.reaper.ReapAll()
	unix.Sync()
	for _, m := range unmountOrder() {
		if err := unix.Unmount(m, 0); err != nil {
			// Busy: at least make it read-only so the journal is clean.
			unix.Mount("", m, "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
			unix.Unmount(m, unix.MNT_DETACH)
		}
	}
	unix.Sync()
	h.alertf("%s now", what)
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if reboot {
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	if err := unix.Reboot(cmd); err != nil {
		h.logf("%s: %v", what, err)
	}
	select {}
}

// unmountOrder lists the mounts to take down, deepest first, leaving the
// root and the kernel's API filesystems.
func unmountOrder() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
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
		mp := fields[4]
		if keep[mp] || strings.HasPrefix(mp, "/proc/") || strings.HasPrefix(mp, "/sys/") || strings.HasPrefix(mp, "/dev/") {
			continue
		}
		out = append(out, mp)
	}
	// Mount order reversed, then deeper paths first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.Count(out[i], "/") > strings.Count(out[j], "/") })
	return out
}

func waitGone(pid int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := unix.Kill(pid, 0); err == unix.ESRCH {
			return
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); os.IsNotExist(err) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitAllGone waits until PID 1 is the only user process left.
func waitAllGone(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if len(userProcesses()) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// userProcesses lists processes other than PID 1 and kernel threads.
func userProcesses() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 {
			continue
		}
		// Kernel threads have an empty cmdline; zombies too, and are reaped.
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if len(b) > 0 {
			out = append(out, pid)
		}
	}
	return out
}
