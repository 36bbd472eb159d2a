package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/google/go-cmp/cmp"
)

func TestChangeTreeAndDiff(t *testing.T) {
	before := map[string]any{"hostname": "a", "berth": map[string]any{"ssh": map[string]any{"port": 22}}}
	tree := deepCopyTree(before)
	for _, req := range []api.ConfigChangeRequest{
		{Op: "set", Key: "hostname", Value: "b"},
		{Op: "set", Key: `berth.sysctl."net.ipv4.ip_forward"`, Value: `"1"`},
		{Op: "set", Key: "berth.ssh.port", Value: "2222"},
		{Op: "merge", YAML: "ntp: {servers: [pool.ntp.org]}\n"},
	} {
		if err := changeTree(tree, req); err != nil {
			t.Fatalf("%+v: %v", req, err)
		}
	}
	if _, err := cloudconfig.FromTree("t", tree); err != nil {
		t.Fatal(err)
	}
	got := diffTrees(before, tree)
	want := []api.ConfigChange{
		{Key: "berth.ssh.port", Before: 22, After: 2222, Effect: "restarts service console"},
		{Key: `berth.sysctl."net.ipv4.ip_forward"`, After: "1", Effect: "applies live"},
		{Key: "hostname", Before: "a", After: "b", Effect: "applies live"},
		{Key: "ntp.servers", After: []any{"pool.ntp.org"}, Effect: "restarts service ntp"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if before["hostname"] != "a" {
		t.Error("the original tree changed")
	}
	for _, tc := range []struct {
		req  api.ConfigChangeRequest
		want string
	}{
		{api.ConfigChangeRequest{Op: "set", Key: "berth.netwrok.dns", Value: "x"}, "berth.netwrok: unknown key (did you mean berth.network?)"},
		{api.ConfigChangeRequest{Op: "unset", Key: "timezone"}, "timezone: not set in the local config"},
		{api.ConfigChangeRequest{Op: "frob"}, `unknown operation "frob"`},
		{api.ConfigChangeRequest{Op: "merge", YAML: "hostnme: x\n"}, "hostnme: unknown key (did you mean hostname?)"},
		// Config cannot open a root console: hostctl says where autologin is set.
		{api.ConfigChangeRequest{Op: "set", Key: "berth.autologin", Value: "true"}, "berth.autologin: console autologin comes from the kernel command line or QEMU's fw_cfg only (berth.autologin), never from cloud-config; set it there"},
		{api.ConfigChangeRequest{Op: "merge", YAML: "berth: {autologin: ttyS0}\n"}, "berth.autologin: console autologin comes from the kernel command line"},
	} {
		err := changeTree(deepCopyTree(before), tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.req, err, tc.want)
		}
	}
}

// TestConfigErrorKinds checks the kind of each error the configuration API
// answers with, which the host API turns into its HTTP status.
func TestConfigErrorKinds(t *testing.T) {
	booted := bootedHost(t)
	get := func(h *host, key string) func() error {
		return func() error { _, err := h.ConfigValue(key); return err }
	}
	set := func(h *host, key, value string) func() error {
		return func() error {
			_, err := h.ConfigChange(api.ConfigChangeRequest{Op: "set", Key: key, Value: value, DryRun: true})
			return err
		}
	}
	for _, tc := range []struct {
		name string
		call func() error
		kind error
		msg  string
	}{
		{"get before the config phase", get(&host{}, "hostname"), errkind.ErrUnavailable, "no configuration yet"},
		{"set before the config phase", set(&host{}, "hostname", "b"), errkind.ErrUnavailable, "no configuration yet"},
		{"get of a key not set", get(booted, "timezone"), errkind.ErrNotFound, "timezone: not set"},
		{"get of an unknown key", get(booted, "berth.netwrok"), errkind.ErrInvalidConfig, "berth.netwrok: unknown key (did you mean berth.network?)"},
		{"get of a bad key", get(booted, "users[x]"), errkind.ErrInvalidConfig, `key "users[x]": [x] is not a list index`},
		{"set of an invalid value", set(booted, "berth.ssh.port", "70000"), errkind.ErrInvalidConfig, "berth.ssh.port: expected 1 to 65535, got 70000"},
		{"set of a sysctl to a non-number", set(booted, "berth.sysctl.vm.swappiness", "banana"), errkind.ErrInvalidConfig, `berth.sysctl."vm.swappiness": expected a number, got "banana"`},
		{"set of a sysctl the kernel lacks", set(booted, "berth.sysctl.vm.swapiness", "10"), errkind.ErrInvalidConfig, `berth.sysctl."vm.swapiness": unknown sysctl: Berth's kernel has no vm.swapiness (did you mean vm.swappiness?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.kind) || !strings.Contains(fmt.Sprint(err), tc.msg) {
				t.Errorf("err = %v, want %q of kind %v", err, tc.msg, tc.kind)
			}
		})
	}
}

// A change that would apply live refuses to touch the machine the test runs
// on: only PID 1 changes /etc and the hostname.
func TestLiveChangeOnlyAsPID1(t *testing.T) {
	h := bootedHost(t)
	res := api.ConfigChangeResult{Changes: []api.ConfigChange{{Key: "hostname", Before: "a", After: "b"}}}
	h.applyChanges(&res)
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "not PID 1") {
		t.Errorf("errors %q, want the PID 1 guard's", res.Errors)
	}
	if name, _ := os.Hostname(); name == "b" {
		t.Error("the test changed this machine's hostname")
	}
	if err := h.phaseApply(context.Background()); err == nil || !strings.Contains(err.Error(), "not PID 1") {
		t.Errorf("phaseApply: %v, want the PID 1 guard's error", err)
	}
}

// bootedHost is a host past its config phase, whose image names it "a".
func bootedHost(t *testing.T) *host {
	t.Helper()
	layers := []cloudconfig.Layer{{Name: cloudconfig.LayerImage, Source: "image", Tree: map[string]any{"hostname": "a"}}}
	merged, err := cloudconfig.Merge(layers...)
	if err != nil {
		t.Fatal(err)
	}
	return &host{cfg: &hostConfig{layers: layers, merged: merged}}
}

// berth.cloud_init.datasources takes effect at the next boot: the kernel
// command line (berth.datasources=) wins, then the local layer, then what
// the last boot's merged configuration had (a datasource's user-data may
// set it).
func TestDatasourceOrder(t *testing.T) {
	store := cloudconfig.Store{Dir: t.TempDir()}
	if got := datasourceOrder("", store); got != nil {
		t.Errorf("nothing set: %v, want the default order", got)
	}
	if err := store.SaveDatasources([]string{"url:http://10.0.2.2/ud", "nocloud"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"url:http://10.0.2.2/ud", "nocloud"}, datasourceOrder("", store)); diff != "" {
		t.Errorf("the last boot's order (-want +got)\n%s", diff)
	}
	if err := store.WriteLocal(map[string]any{"berth": map[string]any{"cloud_init": map[string]any{"datasources": []any{"state", "file:/var/lib/ud"}}}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"state", "file:/var/lib/ud"}, datasourceOrder("", store)); diff != "" {
		t.Errorf("the local layer's order (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]string{"gce", "nocloud"}, datasourceOrder("gce,nocloud", store)); diff != "" {
		t.Errorf("the command line's order (-want +got)\n%s", diff)
	}
	if err := store.SaveDatasources(nil); err != nil || store.Datasources() != nil {
		t.Errorf("an empty order removes the saved one: %v %v", err, store.Datasources())
	}
}

// A refused change writes nothing: hostctl config set
// berth.sysctl.vm.swappiness banana leaves local.yaml as it was.
func TestConfigChangeRefusedWritesNothing(t *testing.T) {
	dir := t.TempDir()
	store := cloudconfig.Store{Dir: dir}
	if err := store.WriteLocal(map[string]any{"hostname": "a"}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile((cloudconfig.Store{Dir: dir}).LocalPath())
	local, _ := store.Local()
	layers := []cloudconfig.Layer{{Name: cloudconfig.LayerLocal, Source: "local config", Tree: local}}
	merged, err := cloudconfig.Merge(layers...)
	if err != nil {
		t.Fatal(err)
	}
	h := &host{cfg: &hostConfig{store: store, layers: layers, merged: merged}}
	_, err = h.ConfigChange(api.ConfigChangeRequest{Op: "set", Key: "berth.sysctl.vm.swappiness", Value: "banana"})
	if !errors.Is(err, errkind.ErrInvalidConfig) || errkind.ExitCode(err) != 3 {
		t.Errorf("err = %v (exit %d), want invalid config (exit 3)", err, errkind.ExitCode(err))
	}
	after, _ := os.ReadFile((cloudconfig.Store{Dir: dir}).LocalPath())
	if string(after) != string(before) {
		t.Errorf("local.yaml changed:\n%s", after)
	}
	if _, err := os.Stat((cloudconfig.Store{Dir: dir}).LocalPath() + ".prev"); err == nil {
		t.Error("a refused change made local.yaml.prev")
	}
	if v := h.cfg.merged.Config.Berth.Sysctl; len(v) != 0 {
		t.Errorf("the merged config took the refused value: %v", v)
	}
}
