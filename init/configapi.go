package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/init/etc"
	"github.com/berth-os/berth/init/supervise"
	"github.com/berth-os/berth/internal/errkind"
	"golang.org/x/sys/unix"
)

// The host is the one writer of configuration.
var _ api.ConfigHost = (*host)(nil)

var configMu sync.Mutex

func (h *host) ConfigTree(merged bool) map[string]any {
	configMu.Lock()
	defer configMu.Unlock()
	if h.cfg == nil || h.cfg.merged == nil {
		return map[string]any{}
	}
	if merged {
		return h.cfg.merged.Tree
	}
	for _, l := range h.cfg.layers {
		if l.Name == cloudconfig.LayerLocal {
			return l.Tree
		}
	}
	return map[string]any{}
}

func (h *host) ConfigValue(key string) (api.ConfigValue, error) {
	configMu.Lock()
	defer configMu.Unlock()
	if h.cfg == nil || h.cfg.merged == nil {
		return api.ConfigValue{}, errkind.Mark(errkind.ErrUnavailable, errors.New("no configuration yet"))
	}
	segs, err := cloudconfig.ParseKey(key)
	if err != nil {
		return api.ConfigValue{}, api.BadRequest(err)
	}
	if _, err := cloudconfig.EffectOf(key); err != nil {
		return api.ConfigValue{}, api.BadRequest(err)
	}
	v, ok := cloudconfig.Get(h.cfg.merged.Tree, segs)
	if !ok {
		return api.ConfigValue{}, errkind.Mark(errkind.ErrNotFound, fmt.Errorf("%s: not set", cloudconfig.FormatKey(segs)))
	}
	src, err := h.cfg.merged.Source(key)
	if err != nil {
		return api.ConfigValue{}, err
	}
	return api.ConfigValue{Key: cloudconfig.FormatKey(segs), Value: v, Source: src}, nil
}

func (h *host) ConfigStatus() cloudconfig.Status {
	configMu.Lock()
	defer configMu.Unlock()
	if h.cfg == nil {
		return cloudconfig.Status{}
	}
	return h.cfg.status
}

// ConfigChange changes the local layer through validation: the new layer
// and the new merged configuration must both be valid, or nothing changes.
// Then the file is written atomically (the previous version kept) and each
// changed key takes effect as the schema declares: live, by restarting a
// service, or at the next boot.
func (h *host) ConfigChange(req api.ConfigChangeRequest) (api.ConfigChangeResult, error) {
	return h.changeLocal(func(local map[string]any) error { return changeTree(local, req) }, req.DryRun, true)
}

// changeLocal changes the local layer with edit, as ConfigChange
// describes. A change of berth.services moves the host to the new set of
// services; with liveServices it also starts and stops the difference
// (hostctl service enable without --now leaves them alone).
func (h *host) changeLocal(edit func(local map[string]any) error, dryRun, liveServices bool) (api.ConfigChangeResult, error) {
	configMu.Lock()
	res, plan, err := h.changeLocked(edit, dryRun)
	configMu.Unlock()
	if err == nil && liveServices {
		h.runPlan(context.Background(), plan, &res)
		h.noteApplyErrors(res.Errors)
	}
	return res, err
}

func (h *host) changeLocked(edit func(local map[string]any) error, dryRun bool) (api.ConfigChangeResult, servicePlan, error) {
	var res api.ConfigChangeResult
	var plan servicePlan
	if h.cfg == nil || h.cfg.merged == nil {
		return res, plan, errkind.Mark(errkind.ErrUnavailable, errors.New("no configuration yet"))
	}
	local := map[string]any{}
	idx := -1
	for i, l := range h.cfg.layers {
		if l.Name == cloudconfig.LayerLocal {
			local, idx = deepCopyTree(l.Tree), i
		}
	}
	if err := edit(local); err != nil {
		return res, plan, api.BadRequest(err)
	}
	if _, err := cloudconfig.FromTree("local config", local); err != nil {
		return res, plan, api.BadRequest(err)
	}
	layers := append([]cloudconfig.Layer(nil), h.cfg.layers...)
	newLocal := cloudconfig.Layer{Name: cloudconfig.LayerLocal, Source: "local config", Tree: local}
	if idx >= 0 {
		layers[idx] = newLocal
	} else {
		layers = append(layers, newLocal)
		sort.SliceStable(layers, func(i, j int) bool { return layerRank(layers[i].Name) < layerRank(layers[j].Name) })
	}
	merged, err := cloudconfig.Merge(layers...)
	if err != nil {
		return res, plan, api.BadRequest(err)
	}
	res.Changes = diffTrees(h.cfg.merged.Tree, merged.Tree)
	res.DryRun = dryRun
	if dryRun {
		return res, plan, nil
	}
	if err := h.cfg.store.WriteLocal(local); err != nil {
		return res, plan, err
	}
	h.cfg.layers, h.cfg.merged = layers, merged
	h.cfg.status.Stored = cloudconfig.StoredKeys(merged.Tree)
	h.cfg.store.SaveStatus(h.cfg.status)
	h.cfg.store.SaveDatasources(merged.Config.Berth.CloudInit.Datasources)
	plan = h.applyChanges(&res)
	return res, plan, nil
}

func layerRank(name string) int {
	return map[string]int{cloudconfig.LayerImage: 0, cloudconfig.LayerDatasource: 1, cloudconfig.LayerLocal: 2, cloudconfig.LayerCmdline: 3}[name]
}

// changeTree applies one request to a tree.
func changeTree(tree map[string]any, req api.ConfigChangeRequest) error {
	switch req.Op {
	case "set", "unset":
		segs, err := cloudconfig.ParseKey(req.Key)
		if err != nil {
			return err
		}
		if _, err := cloudconfig.EffectOf(req.Key); err != nil {
			return err
		}
		if why, ok := cloudconfig.FlagOnly(req.Key); ok && req.Op == "set" {
			return fmt.Errorf("%s: %s; set it there", cloudconfig.FormatKey(segs), why)
		}
		if req.Op == "unset" {
			if !cloudconfig.Unset(tree, segs) {
				return fmt.Errorf("%s: not set in the local config", cloudconfig.FormatKey(segs))
			}
			return nil
		}
		v, err := cloudconfig.ParseValue(req.Value)
		if err != nil {
			return err
		}
		return cloudconfig.Set(tree, segs, v)
	case "merge":
		text := req.YAML
		if !strings.HasPrefix(strings.TrimSpace(text), "#cloud-config") {
			text = "#cloud-config\n" + text
		}
		doc, err := cloudconfig.Parse("merged file", []byte(text))
		if err != nil {
			return err
		}
		if len(doc.Scripts) > 0 {
			return errors.New("merge: scripts are user-data only, not local config")
		}
		for _, w := range doc.Warnings {
			if why, ok := cloudconfig.FlagOnly(w.Path); ok {
				return fmt.Errorf("%s: %s; set it there", w.Path, why)
			}
		}
		cloudconfig.MergeInto(tree, doc.Tree)
		return nil
	}
	return fmt.Errorf("unknown operation %q (expected set, unset or merge)", req.Op)
}

// diffTrees lists the leaves that differ, with their effects.
func diffTrees(before, after map[string]any) []api.ConfigChange {
	b, a := map[string]any{}, map[string]any{}
	flatten(before, nil, b)
	flatten(after, nil, a)
	keys := map[string]bool{}
	for k := range b {
		keys[k] = true
	}
	for k := range a {
		keys[k] = true
	}
	var out []api.ConfigChange
	for k := range keys {
		if reflect.DeepEqual(b[k], a[k]) {
			continue
		}
		e, err := cloudconfig.EffectOf(k)
		effect := e.String()
		if err != nil {
			effect = "needs a reboot"
		}
		out = append(out, api.ConfigChange{Key: k, Before: b[k], After: a[k], Effect: effect})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// flatten maps each leaf (a value or a list) of a tree to its KEY.
func flatten(v any, prefix []cloudconfig.Seg, out map[string]any) {
	if m, ok := v.(map[string]any); ok && (len(m) > 0 || len(prefix) == 0) {
		for k, e := range m {
			flatten(e, append(append([]cloudconfig.Seg(nil), prefix...), cloudconfig.Seg{Key: k, Index: -1}), out)
		}
		return
	}
	out[cloudconfig.FormatKey(prefix)] = v
}

// applyChanges puts changed keys into effect according to their effect;
// what a change of berth.services starts and stops is returned, for the
// caller to do once it has let go of configMu.
func (h *host) applyChanges(res *api.ConfigChangeResult) servicePlan {
	restart := map[string]bool{}
	live, services := false, false
	for _, c := range res.Changes {
		e, _ := cloudconfig.EffectOf(c.Key)
		switch e.Kind {
		case "services":
			services = true
			res.Applied = append(res.Applied, c.Key)
		case "live":
			live = true
			res.Applied = append(res.Applied, c.Key)
		case "restart":
			restart[e.Service] = true
		case "stored":
			res.Stored = append(res.Stored, c.Key)
		default:
			res.Reboot = append(res.Reboot, c.Key)
		}
	}
	var plan servicePlan
	if services {
		plan, res.Warnings = h.planServices()
	}
	cfg := h.cfg.merged.Config
	var errs []error
	if err := asPID1(); err != nil && (live || len(restart) > 0) {
		res.Errors = append(res.Errors, err.Error())
		return plan
	}
	if live || len(restart) > 0 {
		ec := h.etcConfig()
		docker := dockerInputs("/etc")
		if err := etc.Render("/etc", "", ec); err != nil {
			errs = append(errs, err)
		}
		if dockerInputs("/etc") != docker {
			restart[dockerService] = true
		}
		if err := unix.Sethostname([]byte(ec.Hostname)); err != nil {
			errs = append(errs, fmt.Errorf("set hostname: %w", err))
		}
	}
	if live {
		a := h.applier()
		errs = append(errs,
			a.AuthorizedKeys(cfg.SSHAuthorizedKeys, cfg.Users, h.userIDs(cfg.Users)),
			a.Sysctl(cloudconfig.Strings(cfg.Berth.Sysctl)),
			a.Modules(cfg.Berth.Modules),
			a.Timezone(cfg.Timezone),
			a.CACerts(cfg.CACerts),
			writeNetworkConfig(cfg.Berth.Network),
		)
		h.signalNetwork()
	}
	restarted, rerrs := h.restartUp(restart)
	res.Restarted = append(res.Restarted, restarted...)
	errs = append(errs, rerrs...)
	sort.Strings(res.Restarted)
	if err := errors.Join(errs...); err != nil {
		res.Errors = splitLines(err)
		h.cfg.status.ApplyErrors = append(h.cfg.status.ApplyErrors, res.Errors...)
		h.cfg.store.SaveStatus(h.cfg.status)
	}
	return plan
}

// noteApplyErrors keeps the errors of starting and stopping services for
// hostctl config status.
func (h *host) noteApplyErrors(errs []string) {
	if len(errs) == 0 {
		return
	}
	configMu.Lock()
	defer configMu.Unlock()
	for _, e := range errs {
		if !slices.Contains(h.cfg.status.ApplyErrors, e) {
			h.cfg.status.ApplyErrors = append(h.cfg.status.ApplyErrors, e)
		}
	}
	h.cfg.store.SaveStatus(h.cfg.status)
}

func deepCopyTree(t map[string]any) map[string]any {
	out := map[string]any{}
	cloudconfig.MergeInto(out, t)
	return out
}

// restartUp restarts the services a change concerns. One that is not up
// (disabled, stopped by hand, never started) reads the new config when it
// starts: restarting it would start it against the user's choice.
func (h *host) restartUp(names map[string]bool) (restarted []string, errs []error) {
	if h.sup == nil {
		return nil, nil
	}
	for svc := range names {
		if d, ok := h.sup.Detail(svc); !ok || d.Held || d.State == supervise.StateStopped {
			continue
		}
		if err := h.sup.Restart(svc); err != nil {
			errs = append(errs, err)
			continue
		}
		restarted = append(restarted, svc)
	}
	return restarted, errs
}
