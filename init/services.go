package main

// Which services run, and hostctl service's verbs: the services the host
// knows (its catalogue: today the image's built-ins), the set that starts
// at boot (the image's default set, minus berth.services.disable, plus
// berth.services.enable), a change of that set applied live, and start,
// stop, status, enable and disable by hand.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/init/supervise"
	consoles "github.com/berth-os/berth/internal/console"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/internal/hypervisor"
	"github.com/berth-os/berth/services"
)

// consoleService is the service that holds every login: the gettys and
// sshd. hostctl runs in it.
const consoleService = consoles.Builtin

// startWait bounds how long a start by hand waits for the service to be
// ready before it answers "starting".
var startWait = 30 * time.Second

// serviceEntry is one service the host can run.
type serviceEntry struct {
	Name   string
	Source string // api.SourceBuiltin, SourceCatalogue or SourceUser
	Origin string // a user service's file or URL
	Image  string // "built-in", or an OCI reference
	// Default: in the image's default set (images/*.yaml services:).
	Default bool
	// Needs are the services it cannot do without (its depends_on):
	// disabling one of them warns.
	Needs []string
}

// catalogue lists the services this host knows, in start order: the
// image's default set, then any other built-in bundle the image holds.
// Catalogue entries and user-defined services join here.
func (h *host) catalogue() []serviceEntry {
	var out []serviceEntry
	seen := map[string]bool{}
	for _, n := range h.info.Services {
		if !seen[n] {
			seen[n] = true
			out = append(out, serviceEntry{Name: n, Source: api.SourceBuiltin, Image: api.SourceBuiltin, Default: true})
		}
	}
	ents, _ := os.ReadDir(servicesAt)
	for _, e := range ents { // sorted by name
		if e.IsDir() && !seen[e.Name()] {
			seen[e.Name()] = true
			out = append(out, serviceEntry{Name: e.Name(), Source: api.SourceBuiltin, Image: api.SourceBuiltin})
		}
	}
	for i := range out {
		readRuntime(&out[i])
	}
	// The catalogue's consoles: berth.console chooses among them.
	for _, e := range h.consoleEntries() {
		if !seen[e.Name] {
			seen[e.Name] = true
			out = append(out, e)
		}
	}
	// The catalogue's services with an image (imageservices.go), and the
	// user's (userservices.go): stored ones, then cloud-config's.
	for _, e := range append(h.imageEntries(), h.userEntries()...) {
		if !seen[e.Name] {
			seen[e.Name] = true
			out = append(out, e)
		}
	}
	for _, e := range h.cloudEntries(takenNames(out)) {
		seen[e.Name] = true
		out = append(out, e)
	}
	return out
}

// takenNames are the names of cat's services, with their sources.
func takenNames(cat []serviceEntry) map[string]string {
	out := map[string]string{}
	for _, e := range cat {
		out[e.Name] = e.Source
		if e.Origin != "" {
			out[e.Name] += " (" + e.Origin + ")"
		}
	}
	return out
}

// readRuntime adds what a built-in's bundle says of it (service.json): its
// image, if it has one, and its depends_on. A bundle that cannot be read
// is loadService's to report, when the service starts.
func readRuntime(e *serviceEntry) {
	b, err := os.ReadFile(filepath.Join(servicesAt, e.Name, "service.json"))
	if err != nil {
		return
	}
	var rt services.Runtime
	if json.Unmarshal(b, &rt) != nil {
		return
	}
	if rt.Image != "" {
		e.Image = rt.Image
	}
	for _, d := range rt.DependsOn {
		e.Needs = append(e.Needs, d.Name)
	}
}

func findEntry(cat []serviceEntry, name string) (serviceEntry, bool) {
	for _, e := range cat {
		if e.Name == name {
			return e, true
		}
	}
	return serviceEntry{}, false
}

func entryNames(cat []serviceEntry) []string {
	var out []string
	for _, e := range cat {
		out = append(out, e.Name)
	}
	return out
}

// serviceSet is the set of services that start: the catalogue's default
// ones and auto (the hypervisor's guest agent) minus sel.Disable plus
// sel.Enable, in catalogue order. A name in both lists is disabled.
// Unknown names and a disabled console are warnings, never errors: a typo
// must not cost a host its boot.
func serviceSet(cat []serviceEntry, sel cloudconfig.Services, auto []string) (set []string, warnings []string) {
	known := map[string]bool{}
	for _, e := range cat {
		known[e.Name] = true
	}
	unknown := func(key string, names []string) {
		for i, n := range names {
			if !known[n] {
				warnings = append(warnings, fmt.Sprintf("berth.services.%s[%d]: no service %q (known: %s)", key, i, n, strings.Join(entryNames(cat), ", ")))
			}
		}
	}
	unknown("enable", sel.Enable)
	unknown("disable", sel.Disable)
	for _, n := range sel.Enable {
		if known[n] && slices.Contains(sel.Disable, n) {
			warnings = append(warnings, fmt.Sprintf("berth.services: %s is in both enable and disable; disable wins", n))
		}
	}
	for _, e := range cat {
		if e.Source == api.SourceCatalogue && consoles.IsConsole(e.Name) {
			continue // berth.console chooses the console (consoles.go)
		}
		if (e.Default || slices.Contains(sel.Enable, e.Name) || slices.Contains(auto, e.Name)) && !slices.Contains(sel.Disable, e.Name) {
			set = append(set, e.Name)
		}
	}
	if known[consoleService] && !slices.Contains(set, consoleService) {
		warnings = append(warnings, "berth.services: the console is not enabled: this host has no getty and no sshd, no login at all")
	}
	return set, warnings
}

// wantedServices is the set the merged configuration asks for, with its
// warnings. The caller holds configMu.
func (h *host) wantedServices() ([]string, []string) {
	var sel cloudconfig.Services
	if h.cfg != nil && h.cfg.merged != nil {
		sel = h.cfg.merged.Config.Berth.Services
	}
	set, warnings := serviceSet(h.catalogue(), sel, h.guestAgents())
	// A user service's file that does not load is said, and the others
	// start.
	_, bad := readUserDefs()
	warnings = append(warnings, bad...)
	// So is an inline definition of cloud-config's that is not valid.
	var cat []serviceEntry
	for _, e := range h.catalogue() {
		if e.Origin != cloudOrigin {
			cat = append(cat, e)
		}
	}
	_, bad = h.cloudDefs(takenNames(cat))
	return set, append(warnings, bad...)
}

// noteServiceWarnings puts the set's warnings in the config status (for
// hostctl config status) in place of the last ones. The caller holds configMu.
func (h *host) noteServiceWarnings(warnings []string) {
	if h.cfg == nil {
		return
	}
	var keep []string
	for _, w := range h.cfg.status.Warnings {
		if !strings.HasPrefix(w, "berth.services") {
			keep = append(keep, w)
		}
	}
	h.cfg.status.Warnings = append(keep, warnings...)
	h.cfg.store.SaveStatus(h.cfg.status)
}

// servicePlan is what a change of the set starts and stops.
type servicePlan struct {
	start, stop []string
}

// planServices moves the host to the set the merged configuration asks
// for, and returns the difference from the last one. The caller holds configMu.
func (h *host) planServices() (servicePlan, []string) {
	set, warnings := h.wantedServices()
	h.noteServiceWarnings(warnings)
	var p servicePlan
	if !h.svcBooted { // the services phase starts the set it finds
		return p, warnings
	}
	for _, n := range set {
		if !slices.Contains(h.svcSet, n) {
			p.start = append(p.start, n)
		}
	}
	for _, n := range h.svcSet {
		if !slices.Contains(set, n) {
			p.stop = append(p.stop, n)
		}
	}
	h.svcSet = set
	return p, warnings
}

// runPlan starts and stops services as a change of berth.services asks,
// and says so in res. It runs without configMu: a start waits for the
// service to be ready.
func (h *host) runPlan(ctx context.Context, p servicePlan, res *api.ConfigChangeResult) {
	if h.sup == nil { // before the services phase, which starts the set
		return
	}
	for i := len(p.stop) - 1; i >= 0; i-- {
		n := p.stop[i]
		if _, ok := h.sup.Detail(n); !ok {
			continue
		}
		if err := h.sup.Stop(ctx, n); err != nil {
			res.Errors = append(res.Errors, err.Error())
			continue
		}
		res.Stopped = append(res.Stopped, n)
	}
	for _, n := range p.start {
		if _, err := h.startService(ctx, n); err != nil {
			res.Errors = append(res.Errors, err.Error())
			continue
		}
		res.Started = append(res.Started, n)
	}
}

// enabledBy says which configuration decides whether a service starts at
// boot. The caller holds configMu.
func (h *host) enabledBy(e serviceEntry) string {
	if h.cfg == nil || h.cfg.merged == nil {
		return "image default"
	}
	sel := h.cfg.merged.Config.Berth.Services
	for _, k := range []struct {
		key   string
		names []string
	}{{"berth.services.disable", sel.Disable}, {"berth.services.enable", sel.Enable}} {
		if !slices.Contains(k.names, e.Name) {
			continue
		}
		src, err := h.cfg.merged.Source(k.key)
		if err != nil {
			continue
		}
		return layerWords(src) + " (" + k.key + ")"
	}
	if e.Default {
		return "image default"
	}
	if kind := h.hypervisor(); e.Name == hypervisor.Agent(kind) && h.hypervisorService() {
		return "the hypervisor (" + kind + "; berth.hypervisor_service), when its image is in the store"
	}
	return "not in the image's default set"
}

// layerWords names a configuration layer as a user knows it.
func layerWords(layer string) string {
	for l, w := range map[string]string{
		cloudconfig.LayerImage:      "image default",
		cloudconfig.LayerDatasource: "cloud-config",
		cloudconfig.LayerLocal:      "local config",
		cloudconfig.LayerCmdline:    "kernel command line",
	} {
		if layer == l || strings.HasPrefix(layer, l+",") {
			return w
		}
	}
	return layer
}

// apiState is the state hostctl shows: the supervisor's, with backoff for
// a service waiting to start again and completed for one that ran to its
// end by its restart policy.
func apiState(d supervise.Detail) string {
	switch {
	case d.State == supervise.StateRestarting:
		return api.StateBackoff
	case d.State == supervise.StateStopped && !d.Held && d.LastExit != nil && d.LastExit.Code == 0 && d.LastExit.Err == nil:
		return api.StateCompleted
	}
	return string(d.State)
}

// serviceView is one service as hostctl shows it. The caller holds configMu.
func (h *host) serviceView(e serviceEntry, set []string) api.ServiceStatus {
	s := api.ServiceStatus{Service: api.Service{Name: e.Name, Source: e.Source, Origin: e.Origin, Image: e.Image, State: api.StateStopped,
		Enabled: slices.Contains(set, e.Name), EnabledBy: h.enabledBy(e)}}
	if e.Source == api.SourceCatalogue && consoles.IsConsole(e.Name) {
		chosen, _ := consoles.Resolve(h.chosenConsole(), []string{e.Name})
		s.Enabled, s.EnabledBy = chosen == e.Name, "berth.console"
	}
	if h.sup == nil {
		return s
	}
	d, ok := h.sup.Detail(e.Name)
	if !ok {
		return s
	}
	s.State, s.PID, s.Restarts, s.Error, s.Held = apiState(d), d.PID, d.Restarts, d.Error, d.Held
	s.Health, s.HealthError, s.WaitingOn = string(d.Health), d.HealthError, d.WaitingOn
	if !d.Started.IsZero() {
		s.Started = &d.Started
	}
	if !d.NextRetry.IsZero() {
		s.NextRetry = &d.NextRetry
	}
	if d.LastExit != nil {
		code, at := d.LastExit.Code, d.LastExitAt
		s.LastExit, s.LastExitAt = &code, &at
		if d.LastExit.Err != nil {
			s.LastError = d.LastExit.Err.Error()
		}
	}
	return s
}

// Services lists every service the host knows, running or not, in start
// order; any the supervisor runs that the catalogue lacks come last.
func (h *host) Services() []api.Service {
	configMu.Lock()
	defer configMu.Unlock()
	cat := h.catalogue()
	set, _ := h.wantedServices()
	var out []api.Service
	for _, e := range cat {
		out = append(out, h.serviceView(e, set).Service)
	}
	if h.sup != nil {
		for _, s := range h.sup.List() {
			if _, ok := findEntry(cat, s.Name); !ok {
				out = append(out, h.serviceView(serviceEntry{Name: s.Name}, set).Service)
			}
		}
	}
	return out
}

// unknownService is the error for a name the host does not know.
func (h *host) unknownService(name string) error {
	return errkind.Mark(errkind.ErrNotFound, fmt.Errorf("no service %q (known: %s)", name, strings.Join(entryNames(h.catalogue()), ", ")))
}

// ServiceStatus is hostctl service status.
func (h *host) ServiceStatus(name string) (api.ServiceStatus, error) {
	configMu.Lock()
	defer configMu.Unlock()
	e, ok := findEntry(h.catalogue(), name)
	if !ok {
		if h.sup == nil || !h.sup.Has(name) {
			return api.ServiceStatus{}, h.unknownService(name)
		}
		e = serviceEntry{Name: name}
	}
	set, _ := h.wantedServices()
	return h.serviceView(e, set), nil
}

// serviceEnv is the environment PID 1 adds to every service.
func (h *host) serviceEnv() []string {
	// Autologin comes from the flags only: cloud-config's berth.autologin
	// is a warning and changes nothing (cloudconfig.FlagOnly).
	env := []string{"BERTH_AUTOLOGIN=" + h.flags.Autologin()}
	if h.flags.Debug() {
		env = append(env, "BERTH_DEBUG=1")
	}
	return env
}

// StartService is hostctl service start: a service stopped (by hand, by
// its policy, or never started because it is disabled) starts now; one
// waiting out its backoff starts at once. What starts at boot is
// unchanged.
func (h *host) StartService(ctx context.Context, name string) (api.ServiceResult, error) {
	if _, ok := findEntry(h.catalogue(), name); !ok && (h.sup == nil || !h.sup.Has(name)) {
		return api.ServiceResult{}, h.unknownService(name)
	}
	return h.startService(ctx, name)
}

func (h *host) startService(ctx context.Context, name string) (api.ServiceResult, error) {
	res := api.ServiceResult{Name: name}
	if h.sup == nil {
		return res, errkind.Mark(errkind.ErrUnavailable, errors.New("services are not started yet"))
	}
	if consoles.IsConsole(name) && name != consoleService && !h.sup.Has(name) {
		return res, errkind.Mark(errkind.ErrInvalidConfig, fmt.Errorf("%s is a console: hostctl console switch %s makes it the console now", name, consoles.Short(name)))
	}
	ctx, cancel := context.WithTimeout(ctx, startWait)
	defer cancel()
	d, ok := h.sup.Detail(name)
	var err error
	switch {
	case !ok:
		var svc supervise.Service
		if svc, err = h.loadAnyService(ctx, name); err != nil {
			return res, fmt.Errorf("service %s: %w", name, err)
		}
		err = h.sup.Launch(ctx, svc)
	case d.Held:
		err = h.sup.StartStopped(ctx, name)
	case d.State == supervise.StateRunning || d.State == supervise.StateStarting:
		res.State = string(d.State)
		return res, nil
	default: // waiting out its backoff, or ended by its restart policy
		err = h.sup.Restart(name)
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return res, err
	}
	h.logf("service %s: started by hand", name)
	res.Started = true
	res.State = api.StateStarting
	if d, ok := h.sup.Detail(name); ok {
		res.State = apiState(d)
	}
	return res, nil
}

// refuseConsole refuses to stop or disable the console without force: it
// holds every login (getty and sshd), and hostctl itself runs in it, so
// once it is down nothing can start it again; disabled, it stays down
// across reboots and the host is out of reach for good.
func refuseConsole(name, verb string, c api.ServiceControl) error {
	if name != consoleService || c.Force {
		return nil
	}
	why := "until the next boot"
	if verb == "disable" {
		why = "from the next boot on, for good (berth.services.enable=[console] on the kernel command line brings it back)"
	}
	return errkind.Mark(errkind.ErrInvalidConfig, fmt.Errorf("the console holds every login (getty, sshd) and hostctl itself; without it nobody can log in to this host %s; add --force to %s it anyway", why, verb))
}

// StopService is hostctl service stop: the service stops and stays stopped
// until hostctl service start or a reboot. What starts at boot is
// unchanged.
func (h *host) StopService(ctx context.Context, name string, c api.ServiceControl) (api.ServiceResult, error) {
	res := api.ServiceResult{Name: name, State: api.StateStopped}
	if _, ok := findEntry(h.catalogue(), name); !ok && (h.sup == nil || !h.sup.Has(name)) {
		return res, h.unknownService(name)
	}
	if err := refuseConsole(name, "stop", c); err != nil {
		return res, err
	}
	if c.DryRun {
		return res, nil
	}
	return h.stopService(ctx, name)
}

func (h *host) stopService(ctx context.Context, name string) (api.ServiceResult, error) {
	res := api.ServiceResult{Name: name, State: api.StateStopped}
	if h.sup == nil {
		return res, errkind.Mark(errkind.ErrUnavailable, errors.New("services are not started yet"))
	}
	if _, ok := h.sup.Detail(name); !ok {
		return res, nil // never started: stopped already
	}
	if err := h.sup.Stop(ctx, name); err != nil {
		return res, err
	}
	res.Stopped = true
	return res, nil
}

// EnableService is hostctl service enable|disable: it validates the name
// first (an unknown one changes nothing), then changes
// berth.services.enable/disable in the local layer through the config
// change path, so that the change survives reboot. The running services
// are left alone unless c.Now: then the service starts or stops at once.
func (h *host) EnableService(ctx context.Context, name string, enable bool, c api.ServiceControl) (api.ServiceResult, error) {
	res := api.ServiceResult{Name: name}
	verb := map[bool]string{true: "enable", false: "disable"}[enable]
	cat := h.catalogue()
	e, ok := findEntry(cat, name)
	if !ok {
		return res, h.unknownService(name)
	}
	if e.Source == api.SourceCatalogue && consoles.IsConsole(name) {
		return h.enableConsoleService(ctx, name, enable, c)
	}
	if !enable {
		if err := refuseConsole(name, verb, c); err != nil {
			return res, err
		}
	}
	if enable && e.Source == api.SourceCatalogue && !c.DryRun {
		// Its image first: nothing is enabled that cannot start.
		if d, ok := h.imageDefs()[name]; ok {
			if err := h.ensureImage(ctx, d); err != nil {
				return res, err
			}
		}
	}
	cres, err := h.changeLocal(func(local map[string]any) error {
		return h.editServiceLists(local, e, enable)
	}, c.DryRun, false)
	if err != nil {
		return res, err // it names the key and the layer
	}
	// The config path says what a change of berth.services does when it
	// comes through hostctl config set; here the running services are
	// left alone unless --now.
	for i := range cres.Changes {
		if strings.HasPrefix(cres.Changes[i].Key, "berth.services") {
			cres.Changes[i].Effect = map[bool]string{true: "now and from the next boot", false: "from the next boot"}[c.Now]
		}
	}
	res.Config = &cres
	configMu.Lock()
	set, _ := h.wantedServices()
	configMu.Unlock()
	if slices.Contains(set, name) != enable && !c.DryRun {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s is still %sd: a higher configuration layer (the kernel command line) decides", name, map[bool]string{true: "disable", false: "enable"}[enable]))
	}
	res.Warnings = append(res.Warnings, needsWarnings(cat, set, name, enable)...)
	if !c.Now || c.DryRun {
		return res, nil
	}
	var now api.ServiceResult
	if enable {
		now, err = h.startService(ctx, name)
	} else {
		now, err = h.stopService(ctx, name)
	}
	res.State, res.Started, res.Stopped = now.State, now.Started, now.Stopped
	if err != nil {
		return res, fmt.Errorf("%sd from the next boot, but: %w", verb, err)
	}
	return res, nil
}

// needsWarnings warns when a disabled service is one an enabled one needs,
// or an enabled one needs one that is disabled.
func needsWarnings(cat []serviceEntry, set []string, name string, enable bool) []string {
	var out []string
	for _, e := range cat {
		if !enable && e.Name != name && slices.Contains(set, e.Name) && slices.Contains(e.Needs, name) {
			out = append(out, fmt.Sprintf("%s needs %s, which is now disabled", e.Name, name))
		}
		if enable && e.Name == name {
			for _, n := range e.Needs {
				if !slices.Contains(set, n) {
					out = append(out, fmt.Sprintf("%s needs %s, which is disabled", name, n))
				}
			}
		}
	}
	return out
}

// editServiceLists changes the local layer so that the merged
// configuration enables (or disables) e: the name leaves the other list,
// and joins this one unless the image's default set already says so. A
// list the local layer sets replaces the lower layers' (lists do not
// merge), so it is written whole: the merged list, changed. The caller
// holds configMu.
func (h *host) editServiceLists(local map[string]any, e serviceEntry, enable bool) error {
	sel := h.cfg.merged.Config.Berth.Services
	en := slices.DeleteFunc(slices.Clone(sel.Enable), func(s string) bool { return s == e.Name })
	dis := slices.DeleteFunc(slices.Clone(sel.Disable), func(s string) bool { return s == e.Name })
	if enable && !e.Default {
		en = append(en, e.Name)
	}
	if !enable && e.Default {
		dis = append(dis, e.Name)
	}
	for _, k := range []struct {
		key        string
		was, names []string
	}{{"enable", sel.Enable, en}, {"disable", sel.Disable, dis}} {
		if slices.Equal(k.was, k.names) {
			continue
		}
		segs := []cloudconfig.Seg{{Key: "berth", Index: -1}, {Key: "services", Index: -1}, {Key: k.key, Index: -1}}
		if len(k.names) == 0 && !h.lowerLayersSet(segs) {
			cloudconfig.Unset(local, segs)
			continue
		}
		list := make([]any, 0, len(k.names))
		for _, n := range k.names {
			list = append(list, n)
		}
		if err := cloudconfig.Set(local, segs, list); err != nil {
			return err
		}
	}
	return nil
}

// lowerLayersSet says whether a layer below the local one sets a key.
func (h *host) lowerLayersSet(segs []cloudconfig.Seg) bool {
	for _, l := range h.cfg.layers {
		if layerRank(l.Name) < layerRank(cloudconfig.LayerLocal) {
			if _, ok := cloudconfig.Get(l.Tree, segs); ok {
				return true
			}
		}
	}
	return false
}
