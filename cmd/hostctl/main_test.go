package hostctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/cmd/internal/clitest"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/internal/strictyaml"
)

type host struct {
	shut      []bool
	restarted []string
	verbs     []string // "VERB NAME now=.. force=.. dry=.."
}

func (h *host) Version(context.Context) api.Version {
	return api.Version{Berth: "0.1.0", Kernel: "6.12.117-berth", Containerd: "v2.4.2", Runc: "1.5.2", Crun: "1.8.1"}
}
func (h *host) Services() []api.Service {
	t := time.Now().Add(-90 * time.Second)
	next := time.Now().Add(41 * time.Second)
	return []api.Service{
		{Name: "udev", State: api.StateRunning, PID: 120, Started: &t, Source: "built-in", Image: "built-in", Enabled: true, EnabledBy: "image default", Health: "healthy"},
		{Name: "network", State: api.StateBackoff, Restarts: 3, NextRetry: &next, Source: "built-in", Image: "built-in", Enabled: true},
		{Name: "extra", State: api.StateStopped, Source: "built-in", Image: "built-in", EnabledBy: "local config (berth.services.disable)"},
	}
}

func (h *host) ServiceStatus(n string) (api.ServiceStatus, error) {
	if n != "udev" {
		return api.ServiceStatus{}, errkind.Mark(errkind.ErrNotFound, fmt.Errorf("no service %q (known: udev, network, extra)", n))
	}
	code, at := 143, time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	return api.ServiceStatus{Service: h.Services()[0], LastExit: &code, LastExitAt: &at}, nil
}
func (h *host) verb(v, n string, c api.ServiceControl) (api.ServiceResult, error) {
	h.verbs = append(h.verbs, fmt.Sprintf("%s %s now=%v force=%v dry=%v", v, n, c.Now, c.Force, c.DryRun))
	if n == "nosuch" {
		return api.ServiceResult{}, errkind.Mark(errkind.ErrNotFound, fmt.Errorf("no service %q (known: udev, network, extra)", n))
	}
	if n == "console" && !c.Force && (v == "stop" || v == "disable") {
		return api.ServiceResult{}, errkind.Mark(errkind.ErrInvalidConfig, fmt.Errorf("the console holds every login; add --force to %s it anyway", v))
	}
	res := api.ServiceResult{Name: n}
	switch v {
	case "start":
		res.Started, res.State = true, api.StateRunning
	case "stop":
		res.Stopped, res.State = !c.DryRun, api.StateStopped
	case "enable", "disable":
		key := "berth.services." + v
		res.Config = &api.ConfigChangeResult{DryRun: c.DryRun, Changes: []api.ConfigChange{{Key: key, After: []any{n}, Effect: map[bool]string{true: "now and from the next boot", false: "from the next boot"}[c.Now]}}}
		if v == "disable" {
			res.Warnings = []string{"network needs " + n + ", which is now disabled"}
		}
		if c.Now {
			res.Started, res.Stopped, res.State = v == "enable", v == "disable", map[string]string{"enable": api.StateRunning, "disable": api.StateStopped}[v]
		}
	}
	return res, nil
}
func (h *host) StartService(_ context.Context, n string) (api.ServiceResult, error) {
	return h.verb("start", n, api.ServiceControl{})
}
func (h *host) StopService(_ context.Context, n string, c api.ServiceControl) (api.ServiceResult, error) {
	return h.verb("stop", n, c)
}
func (h *host) EnableService(_ context.Context, n string, enable bool, c api.ServiceControl) (api.ServiceResult, error) {
	return h.verb(map[bool]string{true: "enable", false: "disable"}[enable], n, c)
}
func (h *host) RestartService(n string) error {
	if n != "udev" {
		return errkind.Mark(errkind.ErrNotFound, fmt.Errorf("no service %q", n))
	}
	h.restarted = append(h.restarted, n)
	return nil
}
func (h *host) HasService(n string) bool                 { return n == "udev" }
func (h *host) LogTail(string, int) []string             { return []string{"coldplug settled"} }
func (h *host) LogFollow(string) (<-chan string, func()) { return make(chan string), func() {} }
func (h *host) Shutdown(reboot bool)                     { h.shut = append(h.shut, reboot) }

// start serves the host API for h on a socket, until the test ends.
func start(t *testing.T, h api.Host) string {
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := api.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go api.Serve(ctx, l, h)
	return sock
}

func TestServiceList(t *testing.T) {
	sock := start(t, &host{})
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--socket", sock, "service", "list"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^NAME +SOURCE +ENABLED +STATE +HEALTH +PID +UPTIME +RESTARTS +NEXT +IMAGE\n` +
		`udev +built-in +yes +running +healthy +120 +1m3\ds +0 +- +built-in\n` +
		`network +built-in +yes +backoff +- +- +- +3 +in 4\ds +built-in\n` +
		`extra +built-in +no +stopped +- +- +- +0 +- +built-in\n$`)
	if !re.MatchString(out.String()) {
		t.Errorf("table:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"--socket", sock, "service", "list", "-o", "json"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var got []api.Service
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got) != 3 || got[1].Restarts != 3 || got[1].NextRetry == nil ||
		got[2].Enabled || got[2].EnabledBy != "local config (berth.services.disable)" || got[0].Health != "healthy" || got[0].Image != "built-in" {
		t.Errorf("json %q: %v", out.String(), err)
	}
}

// hostctl service restart asks PID 1 to start a service again now.
func TestServiceRestart(t *testing.T) {
	h := &host{}
	sock := start(t, h)
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--socket", sock, "service", "restart", "udev"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if out.String() != "udev: restarting\n" || len(h.restarted) != 1 || h.restarted[0] != "udev" {
		t.Errorf("output %q, host restarted %v; want udev", out.String(), h.restarted)
	}
}

func TestMain(m *testing.M) { clitest.Main(m, Main) }

// TestExitStatus runs each case through run and through the real main (in
// a child process), against a host API server with a fake host: the
// error's kind and its exit status, and what the user reads.
func TestExitStatus(t *testing.T) {
	sock := start(t, &configHost{local: map[string]any{}})

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("#cloud-config\nhostnme: m\n"), 0o644)
	missing := filepath.Join(dir, "missing.yaml")
	// A socket file nobody listens on, as PID 1 leaves it when it stops
	// answering.
	stale := filepath.Join(dir, "stale.sock")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()

	for _, tc := range []struct {
		name   string
		socket string // sock when empty
		args   []string
		code   int
		err    string // in the error, and after "hostctl: " on stderr
		out    string // on stdout
		help   string // on stderr, before the error
	}{
		{name: "ok", args: []string{"logs", "udev"}, code: 0, out: "coldplug settled\n"},
		{name: "help", args: []string{"--help"}, code: 0, out: "Exit status:\n  0  success\n  1  any other error\n  2  usage"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, err: `unknown command "frobnicate" for "hostctl"`},
		{name: "unknown subcommand", args: []string{"service", "frob", "console-ubuntu"}, code: 2, err: `unknown command "frob" for "hostctl service"`},
		{name: "service logs", args: []string{"service", "logs", "udev", "--since", "1h"}, code: 0, out: "coldplug settled\n"},
		{name: "service logs with a bad since", args: []string{"service", "logs", "udev", "--since", "yesterday"}, code: 2, err: `--since: expected a duration (10m, 1h30m) or a time (2006-01-02T15:04:05Z), got "yesterday"`},
		{name: "pull of a built-in", args: []string{"service", "pull", "udev"}, code: 3, err: "pull service udev: a built-in: its root filesystem is in the host's image"},
		{name: "enable of no such service (404)", args: []string{"service", "enable", "nosuch"}, code: 4, err: `enable service nosuch: no service "nosuch" (known: udev, network, extra)`},
		{name: "status of no such service (404)", args: []string{"service", "status", "nosuch"}, code: 4, err: `service status nosuch: no service "nosuch"`},
		{name: "stop of the console refused (422)", args: []string{"service", "stop", "console"}, code: 3, err: "stop service console: the console holds every login; add --force to stop it anyway"},
		{name: "disable of the console refused (422)", args: []string{"service", "disable", "console", "--now"}, code: 3, err: "add --force to disable it anyway"},
		{name: "start takes one service", args: []string{"service", "start"}, code: 2, err: "accepts 1 arg(s), received 0"},
		{name: "stop has no --now", args: []string{"service", "stop", "udev", "--now"}, code: 2, err: "unknown flag: --now"},
		{name: "unknown subcommand, a suggestion", args: []string{"config", "unsett", "hostname"}, code: 2, err: `unknown command "unsett" for "hostctl config"` + "\n\nDid you mean this?\n\tunset"},
		{name: "bare group", args: []string{"service"}, code: 2, err: `missing command for "hostctl service"`, help: "Usage:\n  hostctl service [command]"},
		{name: "bare config", args: []string{"config"}, code: 2, err: `missing command for "hostctl config"`, help: "Available Commands:"},
		{name: "extra argument", args: []string{"version", "extra"}, code: 2, err: `unknown command "extra" for "hostctl version"`},
		{name: "missing argument", args: []string{"logs"}, code: 2, err: "accepts 1 arg(s), received 0"},
		{name: "unknown flag", args: []string{"service", "list", "--frob"}, code: 2, err: "unknown flag: --frob"},
		{name: "bad flag value", args: []string{"service", "list", "-o", "yaml"}, code: 2, err: `-o: expected table or json, got "yaml"`},
		{name: "bad export format", args: []string{"config", "export", "-o", "toml"}, code: 2, err: `-o: expected yaml or json, got "toml"`},
		{name: "host rejects a value (422)", args: []string{"config", "set", "berth.ssh.port", "70000"}, code: 3, err: "local config: berth.ssh.port: expected 1 to 65535, got 70000"},
		{name: "host rejects a key (BadRequest)", args: []string{"config", "set", "bad", "x"}, code: 3, err: "bad: unknown key"},
		{name: "invalid user-data offline", args: []string{"config", "validate", "-i", bad}, code: 3, err: bad + ":2: hostnme: unknown key (did you mean hostname?)"},
		{name: "no such service (404)", args: []string{"logs", "nosuchservice"}, code: 4, err: `no service "nosuchservice"`},
		{name: "restart of no such service (404)", args: []string{"service", "restart", "nosuchservice"}, code: 4, err: `restart service nosuchservice: no service "nosuchservice"`},
		{name: "restart without a service", args: []string{"service", "restart"}, code: 2, err: "accepts 1 arg(s), received 0"},
		{name: "key not set (404)", args: []string{"config", "get", "timezone"}, code: 4, err: "timezone: not set"},
		{name: "missing file", args: []string{"config", "merge", "-i", missing}, code: 4, err: "open " + missing + ": no such file or directory"},
		{name: "host not ready (503)", args: []string{"config", "get", "pending"}, code: 5, err: "no configuration yet"},
		{name: "no socket, version", socket: filepath.Join(dir, "none.sock"), args: []string{"version"}, code: 5, out: "hostctl     ", err: "host version: host API at "},
		{name: "no socket", socket: filepath.Join(dir, "none.sock"), args: []string{"service", "list"}, code: 5, err: "list services: host API at " + filepath.Join(dir, "none.sock")},
		{name: "nobody listens", socket: stale, args: []string{"reboot"}, code: 5, err: "connection refused"},
		{name: "host fails (500)", args: []string{"config", "set", "boom", "x"}, code: 1, err: "write local config: disk full"},
		{name: "change applied in part", args: []string{"config", "set", "late", "x"}, code: 1, err: "applying it failed:\nlate: apply: timeout"},
		{name: "configuration with errors", args: []string{"config", "status"}, code: 1, err: "the host's configuration has errors", out: "error: user-data (nocloud):3: berth.netwrok"},
	} {
		socket := tc.socket
		if socket == "" {
			socket = sock
		}
		clitest.Check(t, tc.name, "hostctl", run, append([]string{"--socket", socket}, tc.args...),
			clitest.Want{Code: tc.code, Err: tc.err, Stdout: tc.out, Stderr: tc.help})
	}
}

func TestVersionAndLogs(t *testing.T) {
	sock := start(t, &host{})
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--socket", sock, "version"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kernel      6.12.117-berth", "containerd  v2.4.2", "runc        1.5.2", "crun        1.8.1 (system services)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("version output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"--socket", sock, "logs", "udev"}, &out, &errb); err != nil || out.String() != "coldplug settled\n" {
		t.Errorf("logs %q %v", out.String(), err)
	}
}

// configHost is a host with a configuration API backed by a real merge.
type configHost struct {
	host
	local   map[string]any
	changes []api.ConfigChangeRequest
}

func (c *configHost) ConfigTree(merged bool) map[string]any {
	if merged {
		return map[string]any{"hostname": "from-ds", "berth": map[string]any{"ssh": map[string]any{"port": 22}}}
	}
	return c.local
}
func (c *configHost) ConfigValue(key string) (api.ConfigValue, error) {
	switch key {
	case "hostname":
		return api.ConfigValue{Key: key, Value: "from-ds", Source: "datasource"}, nil
	case "pending":
		return api.ConfigValue{}, errkind.Mark(errkind.ErrUnavailable, errors.New("no configuration yet"))
	}
	return api.ConfigValue{}, errkind.Mark(errkind.ErrNotFound, fmt.Errorf("%s: not set", key))
}
func (c *configHost) ConfigStatus() cloudconfig.Status {
	return cloudconfig.Status{Sources: []cloudconfig.SourceStatus{
		{Layer: "datasource", Name: "nocloud", Used: true, Note: "invalid; the last valid user-data of this datasource is used", Errors: []string{"user-data (nocloud):3: berth.netwrok: unknown key (did you mean berth.network?)"}},
	}, Stored: []string{"ntp"}, Warnings: []string{"datasource url: http://10.0.2.2/ud: plain http and no sha256 pin"}}
}
func (c *configHost) ConfigChange(req api.ConfigChangeRequest) (api.ConfigChangeResult, error) {
	c.changes = append(c.changes, req)
	switch req.Key {
	case "bad":
		return api.ConfigChangeResult{}, api.BadRequest(errors.New("bad: unknown key"))
	case "berth.ssh.port": // validation's own error, as cloudconfig returns it
		return api.ConfigChangeResult{}, strictyaml.Errors{{Source: "local config", Path: req.Key, Msg: "expected 1 to 65535, got " + req.Value}}
	case "boom":
		return api.ConfigChangeResult{}, errors.New("write local config: disk full")
	case "late":
		return api.ConfigChangeResult{Changes: []api.ConfigChange{{Key: "late", After: "x", Effect: "applies live"}}, Errors: []string{"late: apply: timeout"}}, nil
	}
	return api.ConfigChangeResult{DryRun: req.DryRun, Changes: []api.ConfigChange{{Key: "hostname", Before: "a", After: "b", Effect: "applies live"}}}, nil
}

func TestConfigVerbs(t *testing.T) {
	h := &configHost{local: map[string]any{"hostname": "b"}}
	sock := start(t, h)
	hc := func(args ...string) (string, string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"--socket", sock}, args...), &out, &errb)
		return out.String(), errb.String(), err
	}
	out, _, err := hc("config", "get", "hostname", "--source")
	if err != nil || out != "from-ds (from datasource)\n" {
		t.Errorf("get --source: %q %v", out, err)
	}
	out, _, err = hc("config", "set", "hostname", "b", "--dry-run")
	if err != nil || out != "would change hostname: \"a\" → \"b\" (applies live)\n" || !h.changes[0].DryRun || h.changes[0].Value != "b" {
		t.Errorf("set --dry-run: %q %v %+v", out, err, h.changes)
	}
	if _, _, err := hc("config", "set", "bad", "x"); err == nil || !strings.Contains(err.Error(), "bad: unknown key") {
		t.Errorf("bad set: %v", err)
	}
	out, _, _ = hc("config", "export")
	if out != "#cloud-config\nhostname: b\n" {
		t.Errorf("export: %q", out)
	}
	out, _, _ = hc("config", "export", "--merged", "-o", "json")
	if !strings.Contains(out, `"hostname": "from-ds"`) {
		t.Errorf("export --merged -o json: %q", out)
	}
	out, _, _ = hc("config", "status")
	if !strings.Contains(out, "error: user-data (nocloud):3: berth.netwrok") || !strings.Contains(out, "stored, not applied yet: ntp") ||
		!strings.HasPrefix(out, "warning: datasource url: http://10.0.2.2/ud: plain http and no sha256 pin\n") {
		t.Errorf("status:\n%s", out)
	}
	f := filepath.Join(t.TempDir(), "m.yaml")
	os.WriteFile(f, []byte("hostname: m\n"), 0o644)
	if _, _, err := hc("config", "merge", "-i", f); err != nil || h.changes[len(h.changes)-1].YAML != "hostname: m\n" {
		t.Errorf("merge: %v %+v", err, h.changes)
	}
}

// hostctl service start|stop|enable|disable send the verb and its flags to
// the host and say what it did; status prints the last exit and what
// enables the service.
func TestServiceVerbs(t *testing.T) {
	h := &host{}
	sock := start(t, h)
	hc := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if err := run(context.Background(), append([]string{"--socket", sock, "service"}, args...), &out, &errb); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	for _, tc := range []struct {
		args      []string
		out, verb string
	}{
		{[]string{"start", "udev"}, "udev: started (running)\n", "start udev now=false force=false dry=false"},
		{[]string{"stop", "udev"}, "udev: stopped\n", "stop udev now=false force=false dry=false"},
		{[]string{"stop", "console", "--force"}, "console: stopped\n", "stop console now=false force=true dry=false"},
		{[]string{"enable", "extra"}, "changed berth.services.enable: (unset) → [\"extra\"] (from the next boot)\n", "enable extra now=false force=false dry=false"},
		{[]string{"enable", "extra", "--now"}, "changed berth.services.enable: (unset) → [\"extra\"] (now and from the next boot)\nextra: started (running)\n", "enable extra now=true force=false dry=false"},
		{[]string{"disable", "udev", "--dry-run"}, "warning: network needs udev, which is now disabled\nwould change berth.services.disable: (unset) → [\"udev\"] (from the next boot)\n", "disable udev now=false force=false dry=true"},
		{[]string{"disable", "udev", "--now"}, "warning: network needs udev, which is now disabled\nchanged berth.services.disable: (unset) → [\"udev\"] (now and from the next boot)\nudev: stopped\n", "disable udev now=true force=false dry=false"},
	} {
		before := len(h.verbs)
		if out := hc(tc.args...); out != tc.out {
			t.Errorf("%v: output\n%s\nwant\n%s", tc.args, out, tc.out)
		}
		if len(h.verbs) != before+1 || h.verbs[before] != tc.verb {
			t.Errorf("%v: the host heard %q, want %q", tc.args, h.verbs[before:], tc.verb)
		}
	}
	out := hc("status", "udev")
	for _, want := range []string{"state:      running\n", "pid:        120\n", "last exit:  status 143 at 2026-12-01T15:00:00Z\n", "enabled:    yes, by image default\n", "health:     healthy\n", "next retry: -\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	var st api.ServiceStatus
	if err := json.Unmarshal([]byte(hc("status", "udev", "-o", "json")), &st); err != nil || st.LastExit == nil || *st.LastExit != 143 || st.PID != 120 || st.EnabledBy != "image default" {
		t.Errorf("status -o json: %+v %v", st, err)
	}
}

// TestStatusShowsHealthAndWait: status says why a service is unhealthy
// and what a waiting one waits for.
func TestStatusShowsHealthAndWait(t *testing.T) {
	var b bytes.Buffer
	printStatusOf(&b, api.ServiceStatus{Service: api.Service{Name: "web", State: "blocked", Health: "unhealthy",
		HealthError: "exit status 1\n", WaitingOn: "db (healthy)"}}, time.Now())
	for _, want := range []string{"health:     unhealthy (last check: exit status 1)\n", "waiting on: db (healthy)\n", "state:      blocked\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}
