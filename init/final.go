package main

// After the ready line: user-data scripts and runcmd once per instance,
// then power_state.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/cloud-config/apply"
	"github.com/berth-os/berth/internal/layout"
)

// final runs after the ready line, in the background, so that a slow or
// failing command never holds boot: user-data scripts and runcmd (once per
// instance), then power_state.
func (h *host) final(ctx context.Context) {
	if h.cfg == nil || h.cfg.merged == nil {
		return
	}
	cfg := h.cfg.merged.Config
	a := h.applier()
	var errs []error
	if h.cfg.instance != "" {
		for i, s := range h.cfg.scripts {
			s := s
			name := fmt.Sprintf("script-%d-%s", i, s.Name)
			_, err := a.Once(h.cfg.instance, name, func() error { return h.runScript(ctx, s) })
			errs = append(errs, err)
		}
	}
	if len(cfg.Runcmd) > 0 {
		inst := h.cfg.instance
		if inst == "" {
			inst = "local"
		}
		_, err := a.Once(inst, "runcmd", func() error { return a.Commands(ctx, "runcmd", cfg.Runcmd, h.commandEnv()) })
		errs = append(errs, err)
	}
	if err := h.recordApply(errs); err != nil {
		h.alertf("config: %v", err)
	}
	fmt.Fprintln(a.Out, "config: user-data scripts and runcmd done")
	if h.installUnattended(ctx, cfg.Berth.Install) {
		return
	}
	h.powerState(ctx, cfg.PowerState, a)
}

// powerState powers off or reboots once per instance after runcmd, as
// power_state asks: after its delay ("now" or +minutes), with its message;
// not at all when its condition is false, or is a command that fails.
// halt is a power-off.
func (h *host) powerState(ctx context.Context, ps *cloudconfig.PowerState, a *apply.Applier) {
	if ps == nil || h.cfg.instance == "" || (ps.Condition != nil && ps.Condition.Bool != nil && !*ps.Condition.Bool) {
		return
	}
	// Recorded before the delay: a host that reboots by itself meanwhile
	// does not do it again.
	ran, err := a.Once(h.cfg.instance, "power_state", func() error { return nil })
	if err != nil {
		h.alertf("config: power_state %s skipped: %v", ps.Mode, err)
		return
	}
	if !ran {
		fmt.Fprintf(a.Out, "config: power_state %s done for instance %s on an earlier boot; not again\n", ps.Mode, h.cfg.instance)
		return
	}
	// As in cloud-init, the condition is checked once per instance.
	run := func(ctx context.Context, c cloudconfig.Command) error {
		return h.system().Run(ctx, c, h.commandEnv(), h.logs.Writer("cloud-config", "stdout"))
	}
	if ok, err := powerCondition(ctx, ps.Condition, run); !ok {
		h.alertf("config: power_state %s skipped: condition: %v", ps.Mode, err)
		return
	}
	var delay time.Duration
	if m, err := strconv.Atoi(strings.TrimPrefix(ps.Delay, "+")); err == nil {
		delay = time.Duration(m) * time.Minute
	}
	msg := ps.Message
	if msg == "" {
		msg = "power_state " + ps.Mode
	}
	h.alertf("config: %s in %s", msg, delay)
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		return
	}
	h.Shutdown(ps.Mode == "reboot")
}

// powerCondition says whether power_state's condition lets the power
// change go ahead: none or true does, false does not, and a command does
// when it exits 0 (run runs it); the error says why not.
func powerCondition(ctx context.Context, c *cloudconfig.Condition, run func(context.Context, cloudconfig.Command) error) (bool, error) {
	switch {
	case c == nil:
		return true, nil
	case c.Bool != nil && !*c.Bool:
		return false, errors.New("false")
	case c.Command != nil:
		if err := run(ctx, *c.Command); err != nil {
			return false, fmt.Errorf("%s: %w", c.Command, err)
		}
	}
	return true, nil
}

// runScript runs a #! user-data script from the state partition.
func (h *host) runScript(ctx context.Context, s cloudconfig.Part) error {
	dir := filepath.Join(layout.ConfigDir, "scripts")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	p := filepath.Join(dir, filepath.Base(s.Name))
	if err := os.WriteFile(p, s.Data, 0o700); err != nil {
		return err
	}
	return h.system().Run(ctx, cloudconfig.Command{Argv: []string{p}}, h.commandEnv(), h.logs.Writer("cloud-config", "stdout"))
}

func (h *host) commandEnv() []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}
	if h.cfg != nil && h.cfg.merged != nil {
		keys := make([]string, 0, len(h.cfg.merged.Config.Berth.Environment))
		for k := range h.cfg.merged.Config.Berth.Environment {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			env = append(env, k+"="+string(h.cfg.merged.Config.Berth.Environment[k]))
		}
	}
	return env
}
