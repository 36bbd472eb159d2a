package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/init/boot"
	"github.com/berth-os/berth/init/cmdline"
	"github.com/berth-os/berth/init/etc"
	"github.com/berth-os/berth/init/mounts"
	"github.com/berth-os/berth/init/supervise"
	"github.com/berth-os/berth/installer"
	"github.com/berth-os/berth/internal/atomicfile"
	consoles "github.com/berth-os/berth/internal/console"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/services"
	"github.com/berth-os/berth/sysctl"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// plan is the boot sequence.
func (h *host) plan() boot.Plan {
	return boot.Plan{
		{Name: "mounts", Fatal: true, Run: h.phaseMounts},
		{Name: "state", Fatal: false, Run: h.phaseState},
		{Name: "config", Run: func(ctx context.Context) error {
			err := h.phaseConfig(ctx)
			h.startContainerdEarly()
			return err
		}},
		{Name: "etc", Fatal: true, Run: h.phaseEtc},
		{Name: "sysctl", Run: h.phaseSysctl},
		{Name: "apply", Run: h.phaseApply},
		{Name: "containerd", Fatal: true, Run: h.phaseContainerd},
		{Name: "services", Run: h.phaseServices},
		{Name: "late", Run: h.phaseLate},
		{Name: "ready", Run: h.phaseReady},
	}
}

// phaseMounts: the early mount table, cgroup2 controllers, the command line,
// the image info, and from here on the host API and the power button.
func (h *host) phaseMounts(ctx context.Context) error {
	mounted, err := mounts.Mounted("/proc/self/mountinfo")
	if err != nil {
		mounted = map[string]bool{} // /proc itself is not mounted yet
	}
	did, err := mounts.Apply(mounts.Syscall{}, "/", mounts.Early, mounted)
	for _, d := range did {
		h.debugf("mounted %s", d)
	}
	if err != nil {
		return err
	}
	if err := mounts.EnableControllers("/sys/fs/cgroup"); err != nil {
		h.logf("%v", err)
	}
	for _, d := range []string{layout.RunDir, layout.LogDir, layout.NetworkDir, layout.NotifyDir, "/run/udev", "/run/lock"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// The system containerd's folder is root's alone; the user
	// containerd's is the standard one, which ctr finds.
	if err := privateDir(layout.SystemContainerdDir); err != nil {
		return err
	}
	if err := os.MkdirAll(layout.UserContainerdDir, 0o711); err != nil {
		return err
	}
	// The docker service's socket folder, which the consoles bind before
	// docker is ever enabled.
	if err := os.MkdirAll(dockerRunDir, 0o711); err != nil {
		return err
	}
	os.Remove("/dev/log")
	if err := os.Symlink(layout.Syslog, "/dev/log"); err != nil {
		h.logf("/dev/log: %v", err)
	}
	// Ctrl-Alt-Del sends SIGINT to PID 1 instead of rebooting at once.
	unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)

	h.flags, err = cmdline.Read("/")
	if err != nil {
		return err
	}
	// What the kernel holds before userspace grows (make bench's kernel share).
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		h.debugf("memory at PID 1's start: %s", meminfoSummary(b))
	}
	if _, err := h.flags.Slot(); err != nil {
		h.logf("%v", err)
	}
	if h.info, err = layout.ReadInfo(infoPath); err != nil {
		return fmt.Errorf("image info: %w", err)
	}
	h.stage1 = h.readBoot()
	h.handleSignals()
	h.goSafe("power button", h.watchPowerButton)
	h.goSafe("log forwarder", func() { h.fwd.Run(h.stop) })
	l, err := api.Listen(api.SocketPath)
	if err != nil {
		h.logf("host API: %v", err)
	} else {
		h.goSafe("host API", func() { api.Serve(context.Background(), l, h) })
	}
	if pl, err := api.Listen(layout.PowerSocket); err != nil {
		h.logf("power socket: %v", err)
	} else {
		h.goSafe("power socket", func() { h.servePower(pl) })
	}
	return nil
}

// phaseState mounts the state partition on /var (formatting a blank one),
// or a tmpfs when there is none, and lays out /var, /home, /root, /opt.
func (h *host) phaseState(ctx context.Context) error {
	st, err := setupState(h)
	h.state = st
	switch {
	case err != nil:
		h.logf("state: %v", err)
	case st.Persistent:
		h.logf("state: %s (%s) on /var%s", st.Dev, st.FSType, map[bool]string{true: ", formatted on this boot"}[st.Formatted])
	default:
		h.logf("state: no partition named %s: running on tmpfs, nothing persists across reboots", layout.PartState)
	}
	if b := h.stage1; b.Medium == layout.MediumDisk && b.Disk != "" {
		switch renewed, err := installer.RenewDisk("/sys", "/dev", b.Disk); {
		case err != nil:
			h.logf("disk: %v", err)
		case renewed:
			h.logf("disk: %s is a new copy of a disk image: it and its partitions have GUIDs of their own now", b.Disk)
		}
	}
	return layoutState()
}

// phaseEtc renders /etc on a fresh tmpfs and sets the hostname.
func (h *host) phaseEtc(ctx context.Context) error {
	if err := unix.Mount("tmpfs", "/etc", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs on /etc: %w", err)
	}
	c := h.etcConfig()
	if err := etc.Render("/etc", etcTmpl, c); err != nil {
		return err
	}
	if _, err := os.Stat(resolvConf); os.IsNotExist(err) {
		os.WriteFile(resolvConf, []byte("# no DNS yet: the network service writes this file\n"), 0o644)
	}
	if err := unix.Sethostname([]byte(c.Hostname)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	return nil
}

// phaseSysctl applies the image's sysctl profile.
func (h *host) phaseSysctl(ctx context.Context) error {
	name := h.info.Sysctl
	if name == "" {
		name = "container-host"
	}
	settings, err := sysctl.Profile(name)
	if err != nil {
		return err
	}
	err = sysctl.Apply("/proc/sys", settings)
	h.debugf("sysctl: applied profile %s (%d settings)", name, len(settings))
	return err
}

// startContainerdEarly starts the system containerd as the config phase
// ends, so that its start runs while /etc, sysctl and apply do: it needs
// only the state partition. Not when earlyContainerd says no; then the
// containerd phase starts it.
func (h *host) startContainerdEarly() {
	var cfg *cloudconfig.Config
	if h.cfg != nil && h.cfg.merged != nil {
		cfg = &h.cfg.merged.Config
	}
	if ok, why := earlyContainerd(h.flags.Get("berth.break"), h.plan(), cfg); !ok {
		h.debugf("system containerd: started at its own phase: %s", why)
		return
	}
	if err := h.spawnContainerd(); err != nil {
		h.logf("system containerd: %v; trying again at its phase", err)
	}
}

// earlyContainerd says whether the system containerd may start before the
// phases between config and its own have run, and if not, why: not when
// berth.break stops boot at one of them or at containerd's (the rescue
// shell there finds it not started, as the plan's order says), nor when
// the configuration has no merged config, has bootcmd (which may mount
// anything), or mounts a filesystem on its store, above it or in it: the
// apply phase does those, and containerd must open its store after them.
func earlyContainerd(breakAt string, plan boot.Plan, cfg *cloudconfig.Config) (bool, string) {
	if breakAt != "" {
		from := false
		for _, ph := range plan {
			from = from || ph.Name == "config"
			if from && ph.Name == breakAt {
				return false, "berth.break=" + breakAt
			}
			if ph.Name == "containerd" {
				break
			}
		}
	}
	switch {
	case cfg == nil:
		return false, "no merged configuration"
	case len(cfg.Bootcmd) > 0:
		return false, "bootcmd runs first"
	}
	store := layout.SystemContainerdRoot
	for i, m := range cfg.Mounts {
		if len(m) < 2 || !filepath.IsAbs(m[1]) {
			continue
		}
		t := filepath.Clean(m[1])
		if t == "/" || t == store || strings.HasPrefix(store, t+"/") || strings.HasPrefix(t, store+"/") {
			return false, fmt.Sprintf("mounts[%d] mounts on %s first", i, t)
		}
	}
	return true, ""
}

// spawnContainerd writes the system containerd's config and starts it; a
// config that cannot be written starts nothing.
func (h *host) spawnContainerd() error {
	if err := atomicfile.Write(layout.SystemContainerdConfig, []byte(etc.SystemContainerdConfig), 0o600); err != nil {
		return err
	}
	h.startContainerd(h.reaper.Start, supervise.Options{})
	return nil
}

// phaseContainerd starts the system containerd, unless the config phase
// has, and connects to it.
func (h *host) phaseContainerd(ctx context.Context) error {
	if h.procs == nil {
		if err := h.spawnContainerd(); err != nil {
			return fmt.Errorf("system containerd: %w", err)
		}
	}
	c, err := supervise.Connect(ctx, layout.SystemContainerdSocket, 2*time.Minute)
	if err != nil {
		return err
	}
	c.RuncRoot, c.FIFODir, c.Runtime = layout.SystemRuncRoot, layout.SystemContainerdDir+"/fifo", layout.SystemRuntime
	c.Tracef = h.debugf
	h.ctr = c
	h.images = h.newImageStore()
	// Tarballs in the preload folder are imported before the services
	// that may run from them start; one that fails is tried again at the
	// next boot.
	if err := h.preload(ctx); err != nil {
		h.logf("%v", err)
	}
	h.sup = supervise.New(c, supervise.Options{
		Logf:   h.logf,
		Alertf: h.alertf,
		Tracef: h.debugf,
		Output: h.serviceOutput,
	})
	return nil
}

// startContainerd runs the system containerd as a host process, started
// through spawn, under a supervisor of its own: the services' supervisor
// and backoff, which restarts it whenever it dies or cannot even be
// exec'd, and never gives up on it. A start that fails is no reason to
// stop boot: it is reported, and the connection to containerd waits while
// the supervisor retries. opt tunes the backoff (tests); its output goes
// where PID 1's does.
func (h *host) startContainerd(spawn func(*exec.Cmd) (<-chan syscall.WaitStatus, error), opt supervise.Options) {
	opt.Logf, opt.Alertf, opt.Output = h.logf, h.alertf, h.serviceOutput
	h.procs = supervise.New(supervise.Processes{Spawn: spawn}, opt)
	if err := h.procs.Start(context.Background(), containerdService); err != nil {
		h.alertf("%v; retrying", err)
	}
}

// containerdService is the system containerd. The user containerd is a
// service of it (services/containerd), with another config.
var containerdService = supervise.Service{
	Name:    "containerd",
	Restart: "always",
	Spec: &specs.Spec{Process: &specs.Process{
		Args: []string{"/usr/bin/containerd", "--config", layout.SystemContainerdConfig},
		Env:  []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"},
		Cwd:  "/",
	}},
}

// phaseServices starts the system services the configuration asks for:
// the image's set, minus berth.services.disable, plus
// berth.services.enable (services.go). Each starts as soon as what it
// depends on is there, and the phase ends when each is ready (a oneshot:
// completed), has failed or is blocked; the ready line lists them in the
// image's order.
func (h *host) phaseServices(ctx context.Context) error {
	configMu.Lock()
	set, warnings := h.wantedServices()
	h.svcSet, h.svcBooted = set, true
	h.noteServiceWarnings(warnings)
	configMu.Unlock()
	for _, w := range warnings {
		h.logf("config: %s", w)
	}
	var svcs []supervise.Service
	var errs []error
	for _, name := range set {
		if name == consoleService {
			// berth.console's choice, or the built-in (consoles.go).
			svc, err := h.bootConsole(ctx)
			if err != nil {
				errs = append(errs, fmt.Errorf("service %s: %w", name, err))
				h.logf("service %s: %v", name, err)
				continue
			}
			svcs = append(svcs, svc)
			continue
		}
		svc, err := h.loadAnyService(ctx, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", name, err))
			h.logf("service %s: %v", name, err)
			continue
		}
		svcs = append(svcs, svc)
	}
	start := time.Now()
	for i, err := range h.sup.StartAll(ctx, svcs) {
		if err != nil && svcs[i].Name != consoleService && consoles.IsConsole(svcs[i].Name) {
			// The chosen console did not start: the built-in does.
			h.logf("%v", err)
			err = h.fallBack(ctx, svcs[i].Name, err)
		}
		if err != nil {
			errs = append(errs, err)
			h.logf("%v", err)
			continue
		}
		h.debugf("service %s: running after %.2fs", svcs[i].Name, time.Since(start).Seconds())
	}
	return errors.Join(errs...)
}

// loadService reads the bundle the build made for a service.
func loadService(name string) (supervise.Service, error) {
	dir := filepath.Join(servicesAt, name)
	var rt services.Runtime
	var spec specs.Spec
	for file, v := range map[string]any{"service.json": &rt, "config.json": &spec} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return supervise.Service{}, fmt.Errorf("read service bundle: %w", err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			return supervise.Service{}, fmt.Errorf("read %s: %w", filepath.Join(dir, file), err)
		}
	}
	svc, err := supervisedService(rt, &spec)
	if err != nil {
		return supervise.Service{}, fmt.Errorf("%s: %w", filepath.Join(dir, "service.json"), err)
	}
	svc.Name = name
	return svc, nil
}

// conditions maps Compose's depends_on conditions to the supervisor's.
var conditions = map[string]string{
	services.ServiceStarted:               supervise.ConditionStarted,
	services.ServiceHealthy:               supervise.ConditionHealthy,
	services.ServiceCompletedSuccessfully: supervise.ConditionCompleted,
}

// supervisedService is what the supervisor runs for a service's runtime
// settings and OCI spec.
func supervisedService(rt services.Runtime, spec *specs.Spec) (supervise.Service, error) {
	svc := supervise.Service{Name: rt.Name, Spec: spec, Notify: rt.Notify, Restart: rt.Restart, After: rt.After}
	switch rt.Kind {
	case "":
	case "oneshot":
		svc.Oneshot = true
	default:
		return svc, fmt.Errorf("kind: %q: want oneshot or none", rt.Kind)
	}
	for i, d := range rt.DependsOn {
		c, ok := conditions[d.Condition]
		if d.Condition == "" {
			c, ok = supervise.ConditionStarted, true
		}
		if !ok {
			return svc, fmt.Errorf("depends_on[%d].condition: %q: want %s, %s or %s", i, d.Condition, services.ServiceStarted, services.ServiceHealthy, services.ServiceCompletedSuccessfully)
		}
		svc.DependsOn = append(svc.DependsOn, supervise.Dependency{Name: d.Name, Condition: c, Optional: !d.Required})
	}
	if h := rt.Healthcheck; h != nil {
		svc.Health = &supervise.Health{Exec: h.Exec, File: h.File, Socket: h.Socket,
			Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	}
	return svc, nil
}

// phaseReady prints the ready line (or the degraded line) on every console.
func (h *host) phaseReady(ctx context.Context) error {
	var names, failed []string
	for _, s := range h.sup.List() {
		names = append(names, s.Name)
		if s.State != api.StateRunning && s.State != supervise.StateCompleted {
			failed = append(failed, s.Name)
		}
	}
	configMu.Lock()
	set := h.svcSet
	configMu.Unlock()
	for _, name := range set {
		if name == consoleService {
			name, _ = h.runningConsole() // berth.console's, or the built-in
		}
		if !h.sup.Has(name) {
			failed = append(failed, name)
		}
	}
	line := ReadyLine(uptime(), names, failed)
	h.mu.Lock()
	h.readyLine = line
	h.mu.Unlock()
	fmt.Fprintln(h.cons, line)
	fmt.Fprintln(h.initLog, line)
	h.booted.Store(true)
	h.goSafe("config final", func() { h.final(context.Background()) })
	if h.stage1.Medium == layout.MediumDisk {
		h.goSafe("boot chain", func() { h.proveSlot(context.Background()) })
	}
	return nil
}

// ReadyLine formats the line tests and benchmarks wait for.
func ReadyLine(seconds float64, started, failed []string) string {
	if len(failed) > 0 {
		return fmt.Sprintf("berth: degraded in %.2fs (failed: %s)", seconds, strings.Join(failed, " "))
	}
	return fmt.Sprintf("berth: ready in %.2fs (%s)", seconds, strings.Join(started, " "))
}

// privateDir makes dir, or takes an existing one, with mode 0700.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("make %s private: %w", dir, err)
	}
	return nil
}

// meminfoSummary is /proc/meminfo's MemTotal and MemAvailable on one line:
// "MemTotal 503612 kB, MemAvailable 455312 kB".
func meminfoSummary(meminfo []byte) string {
	var parts []string
	for _, line := range strings.Split(string(meminfo), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && (k == "MemTotal" || k == "MemAvailable") {
			parts = append(parts, k+" "+strings.TrimSpace(v))
		}
	}
	return strings.Join(parts, ", ")
}
