package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/api"
)

type host struct{ shut []bool }

func (h *host) Version(context.Context) api.Version {
	return api.Version{Berth: "0.1.0", Kernel: "6.12.117-berth", Containerd: "v2.4.2", Runc: "1.5.2"}
}
func (h *host) Services() []api.Service {
	t := time.Now().Add(-90 * time.Second)
	return []api.Service{
		{Name: "udev", State: api.StateRunning, PID: 120, Started: &t},
		{Name: "network", State: api.StateRestarting, Restarts: 3},
	}
}
func (h *host) HasService(n string) bool                 { return n == "udev" }
func (h *host) LogTail(string, int) []string             { return []string{"coldplug settled"} }
func (h *host) LogFollow(string) (<-chan string, func()) { return make(chan string), func() {} }
func (h *host) Shutdown(reboot bool)                     { h.shut = append(h.shut, reboot) }

func start(t *testing.T) string {
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := api.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go api.Serve(ctx, l, &host{})
	return sock
}

func TestServiceList(t *testing.T) {
	sock := start(t)
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--socket", sock, "service", "list"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^NAME\s+STATE\s+PID\s+UPTIME\s+RESTARTS\nudev\s+running\s+120\s+1m3\ds\s+0\nnetwork\s+restarting\s+-\s+-\s+3\n$`)
	if !re.MatchString(out.String()) {
		t.Errorf("table:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"--socket", sock, "service", "list", "-o", "json"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var got []api.Service
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got) != 2 || got[1].Restarts != 3 {
		t.Errorf("json %q: %v", out.String(), err)
	}
}

func TestErrors(t *testing.T) {
	sock := start(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"service", "list", "-o", "yaml"}, `-o: expected table or json, got "yaml"`},
		{[]string{"logs", "nope"}, `no service "nope"`},
		{[]string{"logs"}, "accepts 1 arg(s), received 0"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"--socket", sock}, tc.args...), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"--socket", filepath.Join(t.TempDir(), "none.sock"), "version"}, &out, &errb)
	if err == nil || !strings.Contains(out.String(), "hostctl") {
		t.Errorf("no host: err=%v out=%q", err, out.String())
	}
}

func TestVersionAndLogs(t *testing.T) {
	sock := start(t)
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--socket", sock, "version"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kernel      6.12.117-berth", "containerd  v2.4.2", "runc        1.5.2"} {
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
	if key == "hostname" {
		return api.ConfigValue{Key: key, Value: "from-ds", Source: "datasource"}, nil
	}
	return api.ConfigValue{}, fmt.Errorf("%s: not set", key)
}
func (c *configHost) ConfigStatus() cloudconfig.Status {
	return cloudconfig.Status{Sources: []cloudconfig.SourceStatus{
		{Layer: "datasource", Name: "nocloud", Used: true, Note: "invalid; the last valid user-data of this datasource is used", Errors: []string{"user-data (nocloud):3: berth.netwrok: unknown key (did you mean berth.network?)"}},
	}, Stored: []string{"ntp"}}
}
func (c *configHost) ConfigChange(req api.ConfigChangeRequest) (api.ConfigChangeResult, error) {
	c.changes = append(c.changes, req)
	if req.Key == "bad" {
		return api.ConfigChangeResult{}, api.BadRequest(errors.New("bad: unknown key"))
	}
	return api.ConfigChangeResult{DryRun: req.DryRun, Changes: []api.ConfigChange{{Key: "hostname", Before: "a", After: "b", Effect: "applies live"}}}, nil
}

func TestConfigVerbs(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := api.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &configHost{local: map[string]any{"hostname": "b"}}
	go api.Serve(ctx, l, h)
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
	out, _, err = hc("config", "status")
	if !errors.Is(err, errFailed) || !strings.Contains(out, "error: user-data (nocloud):3: berth.netwrok") || !strings.Contains(out, "stored, not applied yet: ntp") {
		t.Errorf("status: %v\n%s", err, out)
	}
	f := filepath.Join(t.TempDir(), "m.yaml")
	os.WriteFile(f, []byte("hostname: m\n"), 0o644)
	if _, _, err := hc("config", "merge", "-i", f); err != nil || h.changes[len(h.changes)-1].YAML != "hostname: m\n" {
		t.Errorf("merge: %v %+v", err, h.changes)
	}
	os.WriteFile(f, []byte("#cloud-config\nhostnme: m\n"), 0o644)
	_, errOut, err := hc("config", "validate", "-i", f)
	if !errors.Is(err, errFailed) || !strings.Contains(errOut, f+":2: hostnme: unknown key (did you mean hostname?)") {
		t.Errorf("validate: %v %q", err, errOut)
	}
}
