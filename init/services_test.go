package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/init/supervise"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var testCatalogue = []serviceEntry{
	{Name: "udev", Default: true}, {Name: "logging", Default: true}, {Name: "network", Default: true},
	{Name: "console", Default: true}, {Name: "extra"},
}

// The boot set: the image's default set minus disable plus enable, in the
// image's order; unknown names and a console left out are warnings.
func TestServiceSet(t *testing.T) {
	const known = "(known: udev, logging, network, console, extra)"
	for _, tc := range []struct {
		name          string
		sel           cloudconfig.Services
		auto          []string
		want, warning []string
	}{
		{name: "image default", want: []string{"udev", "logging", "network", "console"}},
		{name: "disable one", sel: cloudconfig.Services{Disable: []string{"logging"}}, want: []string{"udev", "network", "console"}},
		{name: "enable one outside the default set", sel: cloudconfig.Services{Enable: []string{"extra"}}, want: []string{"udev", "logging", "network", "console", "extra"}},
		{name: "enable a default one", sel: cloudconfig.Services{Enable: []string{"udev"}}, want: []string{"udev", "logging", "network", "console"}},
		{name: "unknown names", sel: cloudconfig.Services{Enable: []string{"extra", "nosuch"}, Disable: []string{"gone"}},
			want:    []string{"udev", "logging", "network", "console", "extra"},
			warning: []string{`berth.services.enable[1]: no service "nosuch" ` + known, `berth.services.disable[0]: no service "gone" ` + known}},
		{name: "in both lists", sel: cloudconfig.Services{Enable: []string{"extra"}, Disable: []string{"extra"}},
			want:    []string{"udev", "logging", "network", "console"},
			warning: []string{"berth.services: extra is in both enable and disable; disable wins"}},
		// The hypervisor's guest agent joins the set, unless disabled.
		{name: "guest agent", auto: []string{"extra"}, want: []string{"udev", "logging", "network", "console", "extra"}},
		{name: "guest agent disabled", auto: []string{"extra"}, sel: cloudconfig.Services{Disable: []string{"extra"}}, want: []string{"udev", "logging", "network", "console"}},
		{name: "console disabled", sel: cloudconfig.Services{Disable: []string{"console"}}, want: []string{"udev", "logging", "network"},
			warning: []string{"berth.services: the console is not enabled: this host has no getty and no sshd, no login at all"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, warnings := serviceSet(testCatalogue, tc.sel, tc.auto)
			if diff := cmp.Diff(tc.want, set); diff != "" {
				t.Errorf("set (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff(tc.warning, warnings); diff != "" {
				t.Errorf("warnings (-want +got)\n%s", diff)
			}
		})
	}
}

// The catalogue: the image's set in its order, then other bundles.
func TestCatalogue(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"udev", "console", "zeta", "alpha"} {
		os.MkdirAll(filepath.Join(dir, n), 0o755)
	}
	defer func(old string) { servicesAt = old }(servicesAt)
	servicesAt = dir
	h := &host{}
	h.info.Services = []string{"udev", "console"}
	var got []string
	for _, e := range h.catalogue() {
		got = append(got, e.Name+map[bool]string{true: "+", false: "-"}[e.Default]+e.Source)
	}
	if diff := cmp.Diff([]string{"udev+built-in", "console+built-in", "alpha-built-in", "zeta-built-in"}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// procRuntime runs each service as a goroutine until it is signalled; its
// PIDs count up.
type procRuntime struct {
	mu     sync.Mutex
	pid    int
	starts map[string]int
}

type procTask struct {
	pid  int
	exit chan supervise.Exit
	once sync.Once
}

func (t *procTask) PID() int                      { return t.pid }
func (t *procTask) Exited() <-chan supervise.Exit { return t.exit }
func (t *procTask) Delete(context.Context) error  { return nil }
func (t *procTask) Exec(context.Context, []string, io.Writer) (int, error) {
	return -1, errors.New("test: no exec")
}
func (t *procTask) Signal(_ context.Context, s syscall.Signal) error {
	if s == syscall.SIGTERM || s == syscall.SIGKILL {
		t.once.Do(func() { t.exit <- supervise.Exit{Code: 128 + int(s)} })
	}
	return nil
}

func (r *procRuntime) Start(_ context.Context, name string, _ *specs.Spec, _, _ io.Writer) (supervise.Task, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pid++
	r.starts[name]++
	return &procTask{pid: r.pid, exit: make(chan supervise.Exit, 1)}, nil
}

func (r *procRuntime) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.starts[name]
}

// servicesHost is a booted host whose image has udev, network and console
// (its default set) and extra, whose configuration layers are image,
// datasource (ds) and local, and whose services run on a procRuntime.
func servicesHost(t *testing.T, ds map[string]any) (*host, *procRuntime) {
	t.Helper()
	h, rt := hostBeforeServices(t, ds)
	if err := h.phaseServices(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h, rt
}

// hostBeforeServices is servicesHost before its services phase.
func hostBeforeServices(t *testing.T, ds map[string]any) (*host, *procRuntime) {
	t.Helper()
	h, _ := testHost(t, "")
	dir := t.TempDir()
	for _, n := range []string{"udev", "network", "console", "extra"} {
		os.MkdirAll(filepath.Join(dir, n), 0o755)
		deps := ""
		if n == "network" {
			deps = `,"depends_on":[{"name":"udev","condition":"service_started","required":true}]`
		}
		os.WriteFile(filepath.Join(dir, n, "service.json"), []byte(`{"name":"`+n+`","restart":"always"`+deps+`}`), 0o644)
		os.WriteFile(filepath.Join(dir, n, "config.json"), []byte(`{"ociVersion":"1.2.0","process":{"args":["/bin/`+n+`"],"cwd":"/"}}`), 0o644)
	}
	old := servicesAt
	servicesAt = dir
	t.Cleanup(func() { servicesAt = old })
	h.info.Services = []string{"udev", "network", "console"}
	h.cfg.layers = []cloudconfig.Layer{
		{Name: cloudconfig.LayerImage, Source: "image", Tree: map[string]any{"hostname": "a"}},
		{Name: cloudconfig.LayerDatasource, Source: "user-data", Tree: ds},
		{Name: cloudconfig.LayerLocal, Source: "local config", Tree: map[string]any{}},
	}
	m, err := cloudconfig.Merge(h.cfg.layers...)
	if err != nil {
		t.Fatal(err)
	}
	h.cfg.merged = m
	rt := &procRuntime{starts: map[string]int{}}
	h.sup = supervise.New(rt, supervise.Options{NotifyDir: t.TempDir(), CgroupRoot: t.TempDir(), MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, StopTimeout: time.Second,
		Kill: func(int, syscall.Signal) error { return errors.New("test: no kill") }})
	t.Cleanup(h.sup.StopAll)
	return h, rt
}

func states(h *host) map[string]string {
	out := map[string]string{}
	for _, s := range h.Services() {
		e := "-"
		if s.Enabled {
			e = "+"
		}
		out[s.Name] = e + s.State
	}
	return out
}

// At boot the datasource's berth.services decide; list shows every
// built-in, enabled or not, and says where that comes from; an unknown name
// is a warning in the config status, and boot goes on.
func TestBootSetAndList(t *testing.T) {
	h, rt := servicesHost(t, map[string]any{"berth": map[string]any{"services": map[string]any{"disable": []any{"network"}, "enable": []any{"extra", "nosuch"}}}})
	want := map[string]string{"udev": "+running", "network": "-stopped", "console": "+running", "extra": "+running"}
	if diff := cmp.Diff(want, states(h)); diff != "" {
		t.Errorf("list (-want +got)\n%s", diff)
	}
	if rt.count("network") != 0 {
		t.Error("a disabled service was started")
	}
	var names []string
	for _, s := range h.Services() {
		names = append(names, s.Name)
		if s.Source != api.SourceBuiltin || s.Image != "built-in" {
			t.Errorf("%s: source %q image %q, want built-in", s.Name, s.Source, s.Image)
		}
	}
	if diff := cmp.Diff([]string{"udev", "network", "console", "extra"}, names); diff != "" {
		t.Errorf("order (-want +got)\n%s", diff)
	}
	for name, by := range map[string]string{"udev": "image default", "network": "cloud-config (berth.services.disable)", "extra": "cloud-config (berth.services.enable)"} {
		if st, err := h.ServiceStatus(name); err != nil || st.EnabledBy != by {
			t.Errorf("status %s: enabled by %q (%v), want %q", name, st.EnabledBy, err, by)
		}
	}
	if w := strings.Join(h.ConfigStatus().Warnings, "\n"); !strings.Contains(w, `berth.services.enable[1]: no service "nosuch" (known: udev, network, console, extra)`) {
		t.Errorf("config status warnings: %q", w)
	}
	if _, err := h.ServiceStatus("nosuch"); !errors.Is(err, errkind.ErrNotFound) || !strings.Contains(err.Error(), `no service "nosuch"`) {
		t.Errorf("status of an unknown service: %v", err)
	}
}

func waitState(t *testing.T, h *host, name, want string) api.ServiceStatus {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := h.ServiceStatus(name)
		if err == nil && st.State == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %+v (%v), want %s", name, st, err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop keeps a service stopped (no restart by the backoff); start starts
// it with a new PID; a disabled one starts too; neither changes the boot
// set or the configuration.
func TestStartStop(t *testing.T) {
	h, rt := servicesHost(t, map[string]any{})
	before, _ := h.ServiceStatus("udev")
	res, err := h.StopService(context.Background(), "udev", api.ServiceControl{})
	if err != nil || !res.Stopped {
		t.Fatalf("stop: %+v %v", res, err)
	}
	time.Sleep(100 * time.Millisecond) // five backoffs
	st, _ := h.ServiceStatus("udev")
	if st.State != api.StateStopped || !st.Held || st.PID != 0 || rt.count("udev") != 1 || !st.Enabled {
		t.Errorf("after stop: %+v, %d starts; want stopped, held, still enabled, 1 start", st, rt.count("udev"))
	}
	if st.LastExit == nil || *st.LastExit != 128+int(syscall.SIGTERM) || st.LastExitAt == nil {
		t.Errorf("last exit after stop: %v at %v, want 143", st.LastExit, st.LastExitAt)
	}
	res, err = h.StartService(context.Background(), "udev")
	if err != nil || !res.Started || res.State != api.StateRunning {
		t.Fatalf("start: %+v %v", res, err)
	}
	st, _ = h.ServiceStatus("udev")
	if st.PID == 0 || st.PID == before.PID || st.Held {
		t.Errorf("after start: %+v, want a new PID (was %d)", st, before.PID)
	}
	// A second start is no error and starts nothing.
	if res, err := h.StartService(context.Background(), "udev"); err != nil || res.Started || res.State != api.StateRunning {
		t.Errorf("start of a running service: %+v %v", res, err)
	}
	// extra is not enabled: start runs it now, and it stays not enabled.
	if res, err := h.StartService(context.Background(), "extra"); err != nil || !res.Started {
		t.Fatalf("start extra: %+v %v", res, err)
	}
	if st, _ := h.ServiceStatus("extra"); st.State != api.StateRunning || st.Enabled {
		t.Errorf("extra after start: %+v, want running and not enabled", st)
	}
	// hostctl service restart of a stopped one starts it.
	h.StopService(context.Background(), "extra", api.ServiceControl{})
	if err := h.RestartService("extra"); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, "extra", api.StateRunning)
	if tree := h.ConfigTree(false); len(tree) != 0 {
		t.Errorf("start and stop changed the local layer: %v", tree)
	}
	for _, tc := range []struct {
		name string
		call func() error
		kind error
		msg  string
	}{
		{"start unknown", func() error { _, err := h.StartService(context.Background(), "nosuch"); return err }, errkind.ErrNotFound, `no service "nosuch" (known: udev, network, console, extra)`},
		{"stop unknown", func() error {
			_, err := h.StopService(context.Background(), "nosuch", api.ServiceControl{})
			return err
		}, errkind.ErrNotFound, `no service "nosuch"`},
		{"stop the console", func() error {
			_, err := h.StopService(context.Background(), "console", api.ServiceControl{})
			return err
		}, errkind.ErrInvalidConfig, "the console holds every login (getty, sshd) and hostctl itself; without it nobody can log in to this host until the next boot; add --force to stop it anyway"},
	} {
		err := tc.call()
		if !errors.Is(err, tc.kind) || !strings.Contains(fmt.Sprint(err), tc.msg) {
			t.Errorf("%s: %v, want %q of kind %v", tc.name, err, tc.msg, tc.kind)
		}
	}
	if st, _ := h.ServiceStatus("console"); st.State != api.StateRunning {
		t.Errorf("the refused stop stopped the console: %+v", st)
	}
	if res, err := h.StopService(context.Background(), "console", api.ServiceControl{Force: true}); err != nil || !res.Stopped {
		t.Errorf("stop console --force: %+v %v", res, err)
	}
}

// enable and disable write berth.services into the local layer (the
// datasource's lists kept), change nothing running without --now, and
// validate first: an unknown service or the console without --force
// changes nothing.
func TestEnableDisable(t *testing.T) {
	h, rt := servicesHost(t, map[string]any{"berth": map[string]any{"services": map[string]any{"enable": []any{"extra"}}}})
	ctx := context.Background()
	local := func() string { b, _ := os.ReadFile(h.cfg.store.LocalPath()); return string(b) }

	res, err := h.EnableService(ctx, "network", false, api.ServiceControl{})
	if err != nil || res.Config == nil || len(res.Config.Changes) != 1 || res.Config.Changes[0].Key != "berth.services.disable" || res.Config.Changes[0].Effect != "from the next boot" {
		t.Fatalf("disable network: %+v %v", res, err)
	}
	if st, _ := h.ServiceStatus("network"); st.State != api.StateRunning || st.Enabled || st.EnabledBy != "local config (berth.services.disable)" {
		t.Errorf("network after disable without --now: %+v, want running, disabled by the local config", st)
	}
	if got := local(); !strings.Contains(got, "disable:\n            - network") {
		t.Errorf("local.yaml:\n%s", got)
	}
	// extra is the datasource's: disabling it writes the enable list
	// without it, and the disable list with it left as it was.
	if _, err := h.EnableService(ctx, "extra", false, api.ServiceControl{Now: true}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cloudconfig.Services{Enable: []string{}, Disable: []string{"network"}}, h.cfg.merged.Config.Berth.Services); diff != "" {
		t.Errorf("merged berth.services (-want +got)\n%s", diff)
	}
	if st, _ := h.ServiceStatus("extra"); st.State != api.StateStopped || st.Enabled {
		t.Errorf("extra after disable --now: %+v", st)
	}
	res, err = h.EnableService(ctx, "network", true, api.ServiceControl{Now: true})
	if err != nil || !res.Started && res.State != api.StateRunning {
		t.Fatalf("enable --now network: %+v %v", res, err)
	}
	if got := local(); strings.Contains(got, "network") {
		t.Errorf("local.yaml still names network:\n%s", got)
	}
	// Refusals change nothing.
	before := local()
	starts := rt.count("console")
	for _, tc := range []struct {
		name   string
		svc    string
		enable bool
		ctl    api.ServiceControl
		kind   error
		msg    string
	}{
		{"enable unknown", "nosuch", true, api.ServiceControl{Now: true}, errkind.ErrNotFound, `no service "nosuch" (known: udev, network, console, extra)`},
		{"disable unknown", "nosuch", false, api.ServiceControl{}, errkind.ErrNotFound, `no service "nosuch"`},
		{"disable the console", "console", false, api.ServiceControl{Now: true}, errkind.ErrInvalidConfig, "the console holds every login (getty, sshd) and hostctl itself; without it nobody can log in to this host from the next boot on, for good (berth.services.enable=[console] on the kernel command line brings it back); add --force to disable it anyway"},
	} {
		_, err := h.EnableService(ctx, tc.svc, tc.enable, tc.ctl)
		if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %q of kind %v", tc.name, err, tc.msg, tc.kind)
		}
	}
	if got := local(); got != before {
		t.Errorf("a refused verb changed local.yaml:\n%s\nwas\n%s", got, before)
	}
	if st, _ := h.ServiceStatus("console"); st.State != api.StateRunning || rt.count("console") != starts || !st.Enabled {
		t.Errorf("a refused disable touched the console: %+v", st)
	}
	// A dry run says what would change and changes nothing; network's
	// depends_on names udev: a warning.
	res, err = h.EnableService(ctx, "udev", false, api.ServiceControl{DryRun: true, Now: true})
	if err != nil || !res.Config.DryRun || len(res.Config.Changes) != 1 || local() != before || res.Stopped {
		t.Errorf("disable --dry-run: %+v %v", res, err)
	}
	if diff := cmp.Diff([]string{"network needs udev, which is now disabled"}, res.Warnings); diff != "" {
		t.Errorf("warnings of disable udev (-want +got)\n%s", diff)
	}
	if st, _ := h.ServiceStatus("udev"); st.State != api.StateRunning || !st.Enabled {
		t.Errorf("a dry run touched udev: %+v", st)
	}
}

// hostctl config set berth.services... starts and stops the difference
// at once, and warns about unknown names.
func TestServicesChangeLive(t *testing.T) {
	h, _ := servicesHost(t, map[string]any{})
	res, err := h.ConfigChange(api.ConfigChangeRequest{Op: "set", Key: "berth.services.enable", Value: "[extra, nosuch]"})
	if err != nil || len(res.Errors) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if diff := cmp.Diff([]string{"extra"}, res.Started); diff != "" {
		t.Errorf("started (-want +got)\n%s", diff)
	}
	if len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], `berth.services.enable[1]: no service "nosuch"`) {
		t.Errorf("warnings %q", res.Warnings)
	}
	if len(res.Changes) != 1 || res.Changes[0].Effect != "starts or stops services" || len(res.Applied) != 1 || len(res.Stored) != 0 {
		t.Errorf("changes %+v applied %v stored %v", res.Changes, res.Applied, res.Stored)
	}
	res, err = h.ConfigChange(api.ConfigChangeRequest{Op: "set", Key: "berth.services.disable", Value: "[extra, network]"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"extra", "network"}, sortedStrings(res.Stopped)); diff != "" {
		t.Errorf("stopped (-want +got)\n%s", diff)
	}
	want := map[string]string{"udev": "+running", "network": "-stopped", "console": "+running", "extra": "-stopped"}
	if diff := cmp.Diff(want, states(h)); diff != "" {
		t.Errorf("list (-want +got)\n%s", diff)
	}
	// Unsetting brings them back.
	res, _ = h.ConfigChange(api.ConfigChangeRequest{Op: "unset", Key: "berth.services.disable"})
	if diff := cmp.Diff([]string{"network", "extra"}, res.Started); diff != "" {
		t.Errorf("started after unset (-want +got)\n%s", diff)
	}
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// hostctl's states: backoff for a service waiting to start again,
// completed for one that ended with status 0 by its policy, stopped for
// one stopped by hand whatever its exit.
func TestAPIState(t *testing.T) {
	ok, bad := &supervise.Exit{Code: 0}, &supervise.Exit{Code: 1}
	for _, tc := range []struct {
		d    supervise.Detail
		want string
	}{
		{supervise.Detail{Status: supervise.Status{State: supervise.StateRunning}}, "running"},
		{supervise.Detail{Status: supervise.Status{State: supervise.StateRestarting}}, "backoff"},
		{supervise.Detail{Status: supervise.Status{State: supervise.StateStopped}, LastExit: ok}, "completed"},
		{supervise.Detail{Status: supervise.Status{State: supervise.StateStopped}, LastExit: ok, Held: true}, "stopped"},
		{supervise.Detail{Status: supervise.Status{State: supervise.StateFailed}, LastExit: bad}, "failed"},
	} {
		if got := apiState(tc.d); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.d, got, tc.want)
		}
	}
}

// A change of berth.services before the services phase starts nothing: the
// phase starts the set it then finds.
func TestServicesChangeBeforeBoot(t *testing.T) {
	h, rt := hostBeforeServices(t, map[string]any{})
	res, err := h.ConfigChange(api.ConfigChangeRequest{Op: "set", Key: "berth.services.enable", Value: "[extra]"})
	if err != nil || len(res.Started) != 0 || rt.count("extra") != 0 {
		t.Fatalf("change before the services phase: %+v %v, %d starts of extra", res, err, rt.count("extra"))
	}
	if err := h.phaseServices(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, _ := h.ServiceStatus("extra"); st.State != api.StateRunning || !st.Enabled || rt.count("extra") != 1 {
		t.Errorf("extra after the services phase: %+v, %d starts", st, rt.count("extra"))
	}
}

// status passes on what a service waits for: network needs udev, which is
// disabled.
func TestStatusWaitingOn(t *testing.T) {
	h, _ := hostBeforeServices(t, map[string]any{"berth": map[string]any{"services": map[string]any{"disable": []any{"udev"}}}})
	if err := h.phaseServices(context.Background()); err == nil || !strings.Contains(err.Error(), "requires udev") {
		t.Errorf("services phase: %v, want network's requirement named", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := h.ServiceStatus("network")
		if err == nil && strings.Contains(st.WaitingOn, "udev") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("network: %+v (%v), want waiting on udev", st, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A config change whose effect restarts a service leaves one that is not
// up alone: a service stopped by hand stays stopped, an unknown or disabled
// one is no error; a running one is restarted.
func TestConfigRestartOnlyWhatIsUp(t *testing.T) {
	h, rt := servicesHost(t, nil)
	if err := h.sup.Stop(context.Background(), "console"); err != nil {
		t.Fatal(err)
	}
	before := rt.count("console")
	got, errs := h.restartUp(map[string]bool{"console": true, "extra": true, "nosuch": true})
	if len(got) > 0 || len(errs) > 0 {
		t.Fatalf("restart of services not up: restarted %v, errors %v; want neither", got, errs)
	}
	if rt.count("console") != before {
		t.Error("the change started a console stopped by hand")
	}
	if err := h.sup.StartStopped(context.Background(), "console"); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, "console", "running")
	if got, errs := h.restartUp(map[string]bool{"console": true}); len(errs) > 0 || len(got) != 1 || got[0] != "console" {
		t.Fatalf("restart of a running console: restarted %v, errors %v", got, errs)
	}
}

// On a hypervisor, its guest agent's entry says the hypervisor enables
// it; elsewhere, and for another agent, it is just not in the default set.
func TestEnabledByHypervisor(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "sys/class/dmi/id"), 0o755)
	os.WriteFile(filepath.Join(root, "sys/class/dmi/id/sys_vendor"), []byte("QEMU\n"), 0o644)
	h := &host{sysRoot: root, cfg: &hostConfig{merged: &cloudconfig.Merged{}}}
	if got := h.enabledBy(serviceEntry{Name: "qemu-guest-agent"}); !strings.Contains(got, "the hypervisor (kvm; berth.hypervisor_service)") {
		t.Errorf("qemu-guest-agent on QEMU: enabled by %q", got)
	}
	if got := h.enabledBy(serviceEntry{Name: "open-vm-tools"}); got != "not in the image's default set" {
		t.Errorf("open-vm-tools on QEMU: enabled by %q", got)
	}
	bare := &host{sysRoot: t.TempDir(), cfg: &hostConfig{merged: &cloudconfig.Merged{}}}
	if got := bare.enabledBy(serviceEntry{Name: "qemu-guest-agent"}); got != "not in the image's default set" {
		t.Errorf("qemu-guest-agent on bare metal: enabled by %q", got)
	}
	if len(h.guestAgents()) != 0 {
		t.Error("a guest agent without a system containerd to hold its image")
	}
	off := false
	h.cfg.merged.Config.Berth.HypervisorService = &off
	if got := h.enabledBy(serviceEntry{Name: "qemu-guest-agent"}); got != "not in the image's default set" {
		t.Errorf("qemu-guest-agent with berth.hypervisor_service false: enabled by %q", got)
	}
}
