package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/cmdline"
	"github.com/berth-os/berth/init/console"
	"github.com/berth-os/berth/init/logbuf"
)

// testHost is a host whose console is a file, and whose store is in a
// temporary folder.
func testHost(t *testing.T, cmdlineText string) (*host, func() string) {
	t.Helper()
	cons := filepath.Join(t.TempDir(), "console")
	if err := os.WriteFile(cons, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h := &host{flags: cmdline.Parse(cmdlineText), cons: console.Open([]string{cons}), logs: logbuf.New(100, nil)}
	h.initLog = h.logs.Writer("init", "stdout")
	h.cfg = &hostConfig{store: cloudconfig.Store{Dir: t.TempDir()}}
	return h, func() string {
		b, _ := os.ReadFile(cons)
		return string(b)
	}
}

// user-data over plain http without a pin is named on the console and in
// hostctl config status; https or a pin is not.
func TestPlainHTTPDatasourceWarned(t *testing.T) {
	const warning = "datasource url: http://10.0.2.2/ud: plain http and no sha256 pin: anyone on the network path can change this user-data"
	for _, tc := range []struct{ name, cmdline, want string }{
		{"cloud_config_url over http", "berth.cloud_config_url=http://10.0.2.2/ud", warning},
		{"a seed over http", "ds=nocloud;s=http://10.0.2.2/seed/", "datasource nocloud-net: http://10.0.2.2/seed/: plain http and no sha256 pin"},
		{"pinned", "berth.cloud_config_url=http://10.0.2.2/ud#sha256=" + strings.Repeat("0", 64), ""},
		{"https", "berth.cloud_config_url=https://10.0.2.2/ud", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, console := testHost(t, tc.cmdline)
			h.datasources()
			st := h.cfg.status.Warnings
			if tc.want == "" {
				if len(st) != 0 || strings.Contains(console(), "warning") {
					t.Errorf("warned: status %q, console %q", st, console())
				}
				return
			}
			if len(st) != 1 || !strings.HasPrefix(st[0], tc.want) {
				t.Errorf("status warnings %q, want %q", st, tc.want)
			}
			if !strings.Contains(console(), "berth: config: warning: "+tc.want) {
				t.Errorf("console:\n%s", console())
			}
		})
	}
}
