//go:build qemu

package test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	cloudconfig "github.com/berth-os/berth/cloud-config"
)

// configMigration is the config schema's both directions on a host (issue
// 8): a fork of the saved ready machine is given the state an upgrade
// meets and reboots once.
//   - Upgrade: local.yaml as a release of config schema 1 wrote it, with
//     berth.datasources (now berth.cloud_init.datasources). The boot
//     migrates it into local.v2.yaml, renaming the key, which then takes
//     effect; local.yaml stays byte for byte, for a rollback to that
//     release; this release's writes go to its own file.
//   - Rollback: local.v3.yaml, as a newer schema would leave it, with a
//     key this release does not know. It is not read: this release boots
//     with the file in its own names.
func configMigration(t *testing.T) {
	m := fork(t, nil)
	const dir = "/var/lib/berth/config"
	m.sh("rm -f " + dir + "/local.v2.yaml* && " +
		`printf 'hostname: schema-one\nberth:\n  datasources: [fwcfg, state]\n' > ` + dir + "/local.yaml && " +
		`printf 'hostname: schema-three\nberth:\n  from_the_future: 1\n' > ` + dir + "/local.v3.yaml")
	sums := func() string { return m.sh("cd " + dir + " && md5sum local.yaml local.v3.yaml") }
	before := sums()
	m.Send("hostctl reboot\n")
	re := regexp.MustCompile(`berth: config: migrated local\.yaml to local\.v2\.yaml \(config schema 2\): berth\.datasources → berth\.cloud_init\.datasources; local\.yaml is kept as it was`)
	if _, _, err := m.WaitFor(re, 3*time.Minute); err != nil {
		t.Fatalf("no %q on the console: %v", re, err)
	}
	m.waitReady()
	m.check("migrated", func(m *machine) {
		if got := strings.TrimSpace(m.sh("hostname")); got != "schema-one" {
			m.t.Errorf("hostname %q, want schema-one from the migrated local layer (not schema-three, a newer schema's)", got)
		}
		if out := m.sh("hostctl config get berth.cloud_init.datasources --source"); !strings.Contains(out, "fwcfg") || !strings.Contains(out, "local") {
			m.t.Errorf("hostctl config get berth.cloud_init.datasources --source:\n%s\nwant the order from the local layer", out)
		}
		// The renamed key took effect: the order for the next boot.
		if got := strings.Fields(m.sh("cat " + dir + "/datasources")); strings.Join(got, ",") != "fwcfg,state" {
			m.t.Errorf("the saved datasource order is %v, want fwcfg,state", got)
		}
		if out := m.sh("cat " + dir + "/local.v2.yaml"); !regexp.MustCompile(`cloud_init:\s+datasources:`).MatchString(out) || strings.Contains(out, "from_the_future") {
			m.t.Errorf("local.v2.yaml:\n%s", out)
		}
	})
	m.check("older-names", func(m *machine) {
		out, code := m.shCode("hostctl config set berth.datasources '[state]'")
		if code != 3 || !strings.Contains(out, "berth.datasources: renamed berth.cloud_init.datasources in config schema 2") {
			m.t.Errorf("hostctl config set of the old name: exit %d, want 3 naming the new one:\n%s", code, out)
		}
	})
	m.check("older-file-kept", func(m *machine) {
		m.sh("hostctl config set hostname schema-two")
		if after := sums(); after != before {
			m.t.Errorf("local.yaml or local.v3.yaml changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if out := m.sh("cat " + dir + "/local.v2.yaml"); !strings.Contains(out, "hostname: schema-two") {
			m.t.Errorf("hostctl config set did not write local.v2.yaml:\n%s", out)
		}
	})
}

// localConfig is the local layer's file of this release's config schema.
var localConfig = cloudconfig.StoreDir + "/" + cloudconfig.LocalFile(cloudconfig.Schema)
