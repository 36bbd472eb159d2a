package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/cmdline"
	"github.com/berth-os/berth/init/console"
	"github.com/berth-os/berth/init/logbuf"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/verity"
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
		h.cons.Flush(5 * time.Second) // the console writes from a queue of its own
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

// A host is installed, for datasource precedence, when it booted from its
// disk and its state partition holds an earlier boot's configuration.
func TestInstalled(t *testing.T) {
	earlier := cloudconfig.Store{Dir: t.TempDir()}
	if err := earlier.SaveStatus(cloudconfig.Status{}); err != nil {
		t.Fatal(err)
	}
	none := cloudconfig.Store{Dir: t.TempDir()}
	disk, iso := layout.Boot{Medium: layout.MediumDisk}, layout.Boot{Medium: layout.MediumISO}
	state := stateInfo{Persistent: true, FSType: "ext4"}
	for _, tc := range []struct {
		name  string
		boot  layout.Boot
		st    stateInfo
		store cloudconfig.Store
		want  bool
	}{
		{"from its disk, after an earlier boot", disk, state, earlier, true},
		{"first boot: no earlier configuration", disk, state, none, false},
		{"first boot: state formatted now", disk, stateInfo{Persistent: true, Formatted: true}, earlier, false},
		{"live ISO with a state disk", iso, state, earlier, false},
		{"/var on tmpfs", disk, stateInfo{FSType: "tmpfs"}, earlier, false},
		{"no record from stage 1", layout.Boot{}, state, earlier, false},
	} {
		if got := installed(tc.boot, tc.st, tc.store); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The flags that steer boot (the image's boot entries, the PXE script's)
// are not configuration keys: with them the command line is still a valid
// layer.
func TestReservedFlagsAreNotConfig(t *testing.T) {
	flags := cmdline.Parse("berth.slot=b berth.boot=iso berth.debug berth.break=config berth.autologin " +
		layout.FlagRoot + "=http://10.0.2.2/rootfs.squashfs " + layout.FlagRootSHA256 + "=" + strings.Repeat("0", 64) + " " +
		layout.FlagBootPart + "=0FC63DAF-8483-4772-8E79-3D69D8477DE4 " + verity.Flag + "=300:" + strings.Repeat("ab", 32) + " berth.ssh.port=2222")
	tree, err := cloudconfig.CmdlineLayer(flags, reservedFlags)
	if err != nil {
		t.Fatalf("the command line is refused: %v", err)
	}
	if len(tree) != 1 {
		t.Errorf("layer %v, want berth.ssh.port alone", tree)
	}
}
