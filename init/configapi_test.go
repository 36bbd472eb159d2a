package main

import (
	"strings"
	"testing"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/api"
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
		{Key: "ntp.servers", After: []any{"pool.ntp.org"}, Effect: "stored, not applied yet"},
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
	} {
		err := changeTree(deepCopyTree(before), tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.req, err, tc.want)
		}
	}
}
