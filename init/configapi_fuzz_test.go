package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/fuzzmem"
)

// dryRunHost is a booted host whose configuration changes are all dry
// runs: the fuzz target parses, validates and merges every change, and
// writes nothing and applies nothing. It never shuts down.
type dryRunHost struct{ *host }

func (d dryRunHost) ConfigChange(req api.ConfigChangeRequest) (api.ConfigChangeResult, error) {
	req.DryRun = true
	return d.host.ConfigChange(req)
}

func (d dryRunHost) Shutdown(bool) { panic("fuzz: the host API asked for a shutdown") }

// changeBound: a change request is at most api.MaxRequest (1 MiB) of
// JSON whose merge operation carries a YAML document that is parsed as
// user-data is. The seeds need under 100 KiB (the schema's decode and the
// merge with the other layers); dense YAML within strictyaml.MaxSigns
// needs about 230 bytes a byte.
var changeBound = fuzzmem.Bound{Base: 64 * fuzzmem.MiB, PerByte: 256}

// The body of POST /v1/config/change, whatever it holds, never panics the
// handler (api.Handler, behind Serve's body cap) or ConfigChange, is
// handled within changeBound, gets a JSON answer that is 200 or a client
// error, and leaves the host's configuration as it was (dry runs).
func FuzzConfigChange(f *testing.F) {
	for _, req := range []api.ConfigChangeRequest{
		{Op: "set", Key: "hostname", Value: "b"},
		{Op: "set", Key: `berth.sysctl."net.ipv4.ip_forward"`, Value: `"1"`},
		{Op: "set", Key: "berth.ssh.port", Value: "2222"},
		{Op: "set", Key: "users[0].name", Value: "{a: [1, 2]}"},
		{Op: "unset", Key: "timezone"},
		{Op: "unset", Key: `berth.sysctl."vm.swappiness"`},
		{Op: "merge", YAML: "ntp: {servers: [pool.ntp.org]}\n"},
		{Op: "merge", YAML: "#cloud-config\nwrite_files: [{path: /etc/motd, content: hi}]\nruncmd: [a]\n"},
		{Op: "merge", YAML: "#!/bin/sh\necho hi\n"},
		{Op: "frob"},
	} {
		b, err := json.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"op": "set", "key": "hostname", "value": "x"} trailing`))
	f.Add([]byte(`{"op": 5}`))
	f.Add([]byte(``))
	h := fuzzHost(f)
	before := deepCopyTree(h.cfg.merged.Tree)
	handler := http.MaxBytesHandler(api.Handler(dryRunHost{h}), api.MaxRequest)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		fuzzmem.Check(t, changeBound, len(body), func() {
			handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/config/change", bytes.NewReader(body)))
		})
		if rec.Code != http.StatusOK && (rec.Code < 400 || rec.Code >= 500) {
			t.Errorf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Errorf("answer is not JSON: %q", rec.Body)
		}
		if !reflect.DeepEqual(before, h.cfg.merged.Tree) {
			t.Fatalf("a dry run changed the merged configuration: %q", body)
		}
	})
}

// fuzzHost is a booted host with an image and a local layer.
func fuzzHost(f *testing.F) *host {
	layers := []cloudconfig.Layer{
		{Name: cloudconfig.LayerImage, Source: "image", Tree: map[string]any{"hostname": "a", "berth": map[string]any{"ssh": map[string]any{"port": 22}}}},
		{Name: cloudconfig.LayerLocal, Source: "local config", Tree: map[string]any{"timezone": "UTC", "berth": map[string]any{"sysctl": map[string]any{"vm.swappiness": "10"}}}},
	}
	merged, err := cloudconfig.Merge(layers...)
	if err != nil {
		f.Fatal(err)
	}
	return &host{cfg: &hostConfig{layers: layers, merged: merged}}
}
