package main

// Applying the merged configuration: early at boot (the apply phase), late
// once the services run (a network datasource, deferred files), and live
// when it changes.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/cloud-config/apply"
	"github.com/berth-os/berth/cloud-config/datasource"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/init/etc"
	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/timesync"
	"golang.org/x/sys/unix"
)

// asPID1 guards what changes the machine itself (/etc, the hostname,
// mounts, sysctls): only PID 1 of a Berth host may, so that a test that
// reaches such a path on a developer's machine gets an error instead of
// rewriting its /etc. Tests apply to a temporary root (apply.System).
func asPID1() error {
	if os.Getpid() != 1 {
		return errors.New("not PID 1: Berth's init changes the machine it runs on only as PID 1")
	}
	return nil
}

// system is apply's Host on this machine.
func (h *host) system() *apply.System {
	return &apply.System{Root: "/", Sysfs: "/sys", Dev: "/dev", ModprobePath: "/usr/sbin/modprobe", Spawn: h.reaper.Start, Kernel: apply.Linux{}}
}

// applier applies configuration on this host.
func (h *host) applier() *apply.Applier {
	return &apply.Applier{Root: "/", Host: h.system(), ProcSys: "/proc/sys", Out: h.logs.Writer("cloud-config", "stdout")}
}

// phaseApply puts the early part of the merged configuration into effect:
// keys, files, kernel settings, mounts, the network configuration, then
// bootcmd.
func (h *host) phaseApply(ctx context.Context) error {
	if h.cfg == nil || h.cfg.merged == nil {
		return nil
	}
	if err := asPID1(); err != nil {
		return err
	}
	cfg := h.cfg.merged.Config
	errs := []error{h.growState(ctx, cfg)}
	errs = append(errs, h.applyEarly(ctx, cfg)...)
	errs = append(errs, h.swap(cfg))
	if len(cfg.Bootcmd) > 0 {
		a := h.applier()
		a.CommandTimeout = apply.BootcmdTimeout
		errs = append(errs, a.Commands(ctx, "bootcmd", cfg.Bootcmd, h.commandEnv()))
	}
	return h.recordApply(errs)
}

// applyEarly applies what does not need the services.
func (h *host) applyEarly(ctx context.Context, cfg cloudconfig.Config) []error {
	a := h.applier()
	ids := h.userIDs(cfg.Users)
	return []error{
		a.AuthorizedKeys(cfg.SSHAuthorizedKeys, cfg.Users, ids),
		a.WriteFiles(cfg.WriteFiles, false, ids),
		a.Sysctl(cloudconfig.Strings(cfg.Berth.Sysctl)),
		a.Modules(cfg.Berth.Modules),
		a.Timezone(cfg.Timezone),
		a.CACerts(cfg.CACerts),
		a.Mounts(cfg.Mounts),
		writeNetworkConfig(cfg.Berth.Network),
	}
}

func (h *host) recordApply(errs []error) error {
	err := errors.Join(errs...)
	if err != nil {
		h.cfg.status.ApplyErrors = append(h.cfg.status.ApplyErrors, splitLines(err)...)
		h.cfg.store.SaveStatus(h.cfg.status)
	}
	return err
}

// writeNetworkConfig writes berth.network where the network service reads it.
func writeNetworkConfig(n cloudconfig.Network) error {
	b, err := n.ServiceJSON()
	if err != nil {
		return fmt.Errorf("network config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(layout.NetworkConfig), 0o755); err != nil {
		return fmt.Errorf("network config: %w", err)
	}
	return atomicfile.Write(layout.NetworkConfig, b, 0o644)
}

// phaseLate runs once the services are up: a network datasource if one is
// pending (each tried, with backoff, for 5 s at most), and deferred write_files.
func (h *host) phaseLate(ctx context.Context) error {
	if h.cfg == nil || h.cfg.merged == nil {
		return nil
	}
	if len(h.cfg.pending) > 0 {
		data, attempts := datasource.First(ctx, h.cfg.pending, 5*time.Second)
		h.noteAttempts(attempts)
		if data != nil {
			h.useDatasource(data)
			if err := h.remerge(); err != nil {
				return err
			}
			// Late config takes effect the way a live change does.
			h.relive(ctx)
		}
	}
	cfg := h.cfg.merged.Config
	return h.recordApply([]error{h.applier().WriteFiles(cfg.WriteFiles, true, h.userIDs(cfg.Users))})
}

// relive applies a configuration that arrived after boot's early phases.
func (h *host) relive(ctx context.Context) {
	cfg := h.cfg.merged.Config
	ec := h.etcConfig()
	ntpBefore, _ := os.ReadFile(timesync.ConfigPath)
	docker := dockerInputs("/etc")
	if err := etc.Render("/etc", "", ec); err != nil {
		h.logf("config: render /etc: %v", err)
	}
	restart := map[string]bool{}
	if ec.NTP.Render() != string(ntpBefore) {
		restart["ntp"] = true
	}
	if dockerInputs("/etc") != docker {
		restart[dockerService] = true
	}
	if len(restart) > 0 {
		_, errs := h.restartUp(restart)
		for _, err := range errs {
			h.logf("config: %v", err)
		}
	}
	if err := unix.Sethostname([]byte(ec.Hostname)); err != nil {
		h.logf("config: set hostname: %v", err)
	}
	h.recordApply(h.applyEarly(ctx, cfg))
	h.signalNetwork()
	configMu.Lock()
	plan, _ := h.planServices()
	configMu.Unlock()
	var res api.ConfigChangeResult
	h.runPlan(ctx, plan, &res)
	h.noteApplyErrors(res.Errors)
	for _, n := range res.Started {
		h.logf("config: service %s started (berth.services)", n)
	}
	for _, n := range res.Stopped {
		h.logf("config: service %s stopped (berth.services)", n)
	}
}

// signalNetwork tells the network service to read its configuration again.
func (h *host) signalNetwork() {
	if h.sup != nil {
		h.sup.Signal("network", syscall.SIGHUP)
	}
}
