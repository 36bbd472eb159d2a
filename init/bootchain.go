package main

// The boot chain on a disk. GRUB picks the slot from the environment block
// on the boot disk's EFI partition and counts the tries of a slot being
// tried (build/raw.go renders that grub.cfg). PID 1 makes a tried slot the
// good one once every enabled system service is healthy (and
// berth.upgrade.health_check passes) within berth.upgrade.health_timeout;
// otherwise it records why and reboots, and GRUB goes back to the good
// slot when the tries run out. hostctl os rollback has the other slot
// tried.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/init/supervise"
	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/berth-os/berth/internal/blockdev"
	"github.com/berth-os/berth/internal/grubenv"
	"github.com/berth-os/berth/internal/layout"
)

// efiMountDir is where the boot disk's EFI partition is mounted while PID
// 1 reads or changes its environment block; it is mounted for that only.
const efiMountDir = layout.RunDir + "/efi"

// trialPath records, on the state partition, why the last try of a slot
// failed: hostctl os status says it once GRUB has rejected the slot.
const trialPath = layout.StateDir + "/os/trial.json"

type trialRecord struct {
	Slot string    `json:"slot"`
	Why  string    `json:"why"`
	At   time.Time `json:"at"`
}

var efiMu sync.Mutex

// errNotDisk: the boot chain is a disk's.
var errNotDisk = errors.New("this host did not boot from a Berth disk: its slots are a disk's")

// withEFI mounts the boot disk's EFI partition (read-write when write)
// on efiMountDir for fn.
func (h *host) withEFI(write bool, fn func(dir string) error) error {
	if h.stage1.Medium != layout.MediumDisk || h.stage1.Disk == "" {
		return errNotDisk
	}
	efiMu.Lock()
	defer efiMu.Unlock()
	devs, err := blockdev.List("/sys", "/dev")
	if err != nil {
		return err
	}
	d, ok := blockdev.OnDisk(devs, layout.PartEFI, h.stage1.Disk)
	if !ok {
		return fmt.Errorf("the boot disk %s has no %s partition", h.stage1.Disk, layout.PartEFI)
	}
	if err := os.MkdirAll(efiMountDir, 0o700); err != nil {
		return err
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if !write {
		flags |= unix.MS_RDONLY
	}
	if write {
		h.repairEFI(d.Dev)
	}
	// quiet: FAT keeps no modes, and a chmod of a file written through
	// atomicfile succeeds instead of failing.
	if err := unix.Mount(d.Dev, efiMountDir, "vfat", flags, "quiet"); err != nil {
		return fmt.Errorf("mount %s: %w", d.Dev, err)
	}
	if write {
		if removed, err := removeSalvaged(efiMountDir); err != nil {
			h.logf("boot chain: %s: %v", d.Dev, err)
		} else if len(removed) > 0 {
			h.logf("boot chain: %s: removed %s, the clusters of cut-short writes", d.Dev, strings.Join(removed, ", "))
		}
	}
	err = fn(efiMountDir)
	if uerr := unix.Unmount(efiMountDir, 0); uerr != nil && err == nil {
		err = fmt.Errorf("unmount %s: %w", d.Dev, uerr)
	}
	return err
}

// bootEnv reads the boot disk's environment block.
func (h *host) bootEnv() (grubenv.Env, error) {
	var env grubenv.Env
	err := h.withEFI(false, func(dir string) error {
		var err error
		env, err = grubenv.Read(filepath.Join(dir, layout.GrubEnvPath))
		return err
	})
	return env, err
}

// changeBootEnv rewrites the boot disk's environment block with change.
func (h *host) changeBootEnv(change func(dir string, env grubenv.Env) error) error {
	return h.withEFI(true, func(dir string) error {
		p := filepath.Join(dir, layout.GrubEnvPath)
		env, err := grubenv.Read(p)
		if err != nil {
			return err
		}
		if err := change(dir, env); err != nil {
			return err
		}
		return grubenv.Write(p, env)
	})
}

// bootChain is hostctl os status's view of the environment block, and
// the version each slot's version file gives.
func (h *host) bootChain() (*api.BootChain, map[string]string) {
	var env grubenv.Env
	versions := map[string]string{}
	err := h.withEFI(false, func(dir string) error {
		var err error
		env, err = grubenv.Read(filepath.Join(dir, layout.GrubEnvPath))
		for _, slot := range []string{"a", "b"} {
			if b, err := os.ReadFile(filepath.Join(dir, layout.SlotVersion(slot))); err == nil && len(b) < 100 {
				versions[slot] = strings.TrimSpace(string(b))
			}
		}
		return err
	})
	if err != nil {
		return &api.BootChain{Error: err.Error()}, versions
	}
	bc := &api.BootChain{Good: env[layout.EnvGood], Trying: env[layout.EnvTry], Rejected: env[layout.EnvRejected]}
	if bc.Good == "" {
		bc.Good = "a" // grub.cfg's default
	}
	if bc.Trying != "" {
		bc.TriesLeft, _ = strconv.Atoi(env[layout.EnvTries])
	}
	if bc.Rejected != "" {
		if t, err := readTrial(); err == nil && t.Slot == bc.Rejected {
			bc.Why = t.Why
		} else {
			bc.Why = "its tries ran out before PID 1 said why (a kernel or early boot failure)"
		}
	}
	return bc, versions
}

func readTrial() (trialRecord, error) {
	var t trialRecord
	b, err := os.ReadFile(trialPath)
	if err != nil {
		return t, err
	}
	return t, json.Unmarshal(b, &t)
}

// proveSlot runs after the ready line on a disk boot: a slot that GRUB
// boots as a try becomes the good one once the host is healthy; one that
// is not healthy by the deadline reboots, so that GRUB counts its next try
// or goes back to the good slot.
func (h *host) proveSlot(ctx context.Context) {
	env, err := h.bootEnv()
	if err != nil {
		h.alertf("boot chain: %v", err)
		return
	}
	slot := h.stage1.Slot
	if slot == "" || env[layout.EnvTry] != slot {
		return
	}
	var up cloudconfig.Upgrade
	if h.cfg != nil && h.cfg.merged != nil {
		up = h.cfg.merged.Config.Berth.Upgrade
	}
	deadline := h.start.Add(up.Timeout())
	h.alertf("boot chain: trying slot %s (%s tries left): it is good once healthy, by %s after boot", slot, env[layout.EnvTries], up.Timeout())
	why := h.waitHealthy(ctx, up, deadline)
	if why != "" {
		h.alertf("boot chain: slot %s is not healthy %s after boot: %s; rebooting", slot, up.Timeout(), why)
		b, _ := json.Marshal(trialRecord{Slot: slot, Why: why, At: time.Now().UTC()})
		if err := os.MkdirAll(filepath.Dir(trialPath), 0o755); err != nil {
			h.alertf("boot chain: %v", err)
		} else if err := atomicfile.Write(trialPath, b, 0o644); err != nil {
			h.alertf("boot chain: %v", err)
		}
		h.Shutdown(true)
		return
	}
	err = h.changeBootEnv(func(_ string, env grubenv.Env) error {
		if env[layout.EnvTry] != slot {
			return fmt.Errorf("slot %s is no longer being tried", slot)
		}
		env[layout.EnvGood] = slot
		delete(env, layout.EnvTry)
		delete(env, layout.EnvTries)
		if env[layout.EnvRejected] == slot {
			delete(env, layout.EnvRejected)
		}
		return nil
	})
	if err != nil {
		h.alertf("boot chain: slot %s is healthy, but: %v", slot, err)
		return
	}
	os.Remove(trialPath)
	h.alertf("boot chain: slot %s is good (healthy %.1fs after boot)", slot, time.Since(h.start).Seconds())
}

// healthCheckTimeout bounds one run of berth.upgrade.health_check.
const healthCheckTimeout = time.Minute

// waitHealthy waits for the host to be healthy until deadline: "" when it
// is, else what was last wrong.
func (h *host) waitHealthy(ctx context.Context, up cloudconfig.Upgrade, deadline time.Time) string {
	for {
		why := h.unhealthy()
		if why == "" && up.HealthCheck != nil {
			// Each run has its own time: a boot slower than the deadline
			// still gets one check, and its verdict.
			cctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
			err := h.system().Run(cctx, *up.HealthCheck, h.commandEnv(), h.logs.Writer("boot-chain", "stdout"))
			cancel()
			if err != nil {
				why = fmt.Sprintf("berth.upgrade.health_check (%s): %v", up.HealthCheck, err)
			}
		}
		if why == "" {
			return ""
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return why
		}
		select {
		case <-ctx.Done():
			return ctx.Err().Error()
		case <-time.After(min(wait, 2*time.Second)):
		}
	}
}

// unhealthy says which enabled system service is not (yet) healthy: not
// running (or, for a one-shot, completed), or failing its healthcheck; ""
// when all are.
func (h *host) unhealthy() string {
	configMu.Lock()
	set := append([]string(nil), h.svcSet...)
	configMu.Unlock()
	st := map[string]supervise.Status{}
	for _, s := range h.sup.List() {
		st[s.Name] = s
	}
	for _, name := range set {
		if name == consoleService {
			name, _ = h.runningConsole()
		}
		s, ok := st[name]
		switch {
		case !ok:
			return fmt.Sprintf("service %s is not running", name)
		case s.State != api.StateRunning && s.State != supervise.StateCompleted:
			why := fmt.Sprintf("service %s is %s", name, s.State)
			if s.Error != "" {
				why += ": " + s.Error
			}
			return why
		case s.Health == supervise.HealthUnhealthy, s.Health == supervise.HealthStarting:
			why := fmt.Sprintf("service %s is %s", name, s.Health)
			if s.HealthError != "" {
				why += ": " + s.HealthError
			}
			return why
		}
	}
	return ""
}

// Rollback has the boot disk's other slot tried at the next boots, if it
// holds a root and its boot files.
func (h *host) Rollback(ctx context.Context, req api.RollbackRequest) (string, error) {
	tries := req.Tries
	if tries == 0 {
		tries = 3
	}
	if tries < 1 || tries > 3 {
		return "", api.BadRequest(fmt.Errorf("rollback: --tries %d: expected 1 to 3", tries))
	}
	if h.stage1.Medium != layout.MediumDisk {
		return "", api.BadRequest(fmt.Errorf("rollback: %w", errNotDisk))
	}
	other := "b"
	if h.stage1.Slot == "b" {
		other = "a"
	}
	devs, err := blockdev.List("/sys", "/dev")
	if err != nil {
		return "", err
	}
	d, ok := blockdev.OnDisk(devs, layout.SlotPart(other), h.stage1.Disk)
	if !ok {
		return "", api.BadRequest(fmt.Errorf("rollback: the boot disk has no %s", layout.SlotPart(other)))
	}
	if fs, err := blockdev.ProbeFile(d.Dev); err != nil || fs != "squashfs" {
		return "", api.BadRequest(fmt.Errorf("rollback: slot %s (%s) holds no root", other, d.Dev))
	}
	err = h.changeBootEnv(func(dir string, env grubenv.Env) error {
		for _, f := range []string{layout.SlotKernel(other), layout.SlotInitrd(other), layout.SlotUKI(other), layout.SlotBootCfg(other)} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				return api.BadRequest(fmt.Errorf("slot %s has no boot files: %w", other, err))
			}
		}
		env[layout.EnvTry] = other
		env[layout.EnvTries] = strconv.Itoa(tries)
		if env[layout.EnvRejected] == other {
			delete(env, layout.EnvRejected)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("rollback: %w", err)
	}
	// A new try: what an earlier one of the slot recorded is stale.
	if t, err := readTrial(); err == nil && t.Slot == other {
		os.Remove(trialPath)
	}
	h.logf("boot chain: rollback: slot %s is tried at the next boot (%d tries)", other, tries)
	return fmt.Sprintf("slot %s is tried at the next boot (%d tries), and kept once healthy; reboot to start", other, tries), nil
}
