package datasource

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func names(ss []Source) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name())
	}
	return out
}

// dmi makes a DMI folder with the given files.
func dmi(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for f, v := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSelect(t *testing.T) {
	for _, tc := range []struct {
		name             string
		sel              Selection
		local, network   []string
		problemsContains []string
	}{
		{name: "default", sel: Selection{},
			local: []string{"fwcfg", "nocloud", "configdrive", "state"}},
		{name: "url and seed from the command line", sel: Selection{URL: "http://10.0.2.2/ud", NoCloudSeed: "nocloud;s=http://10.0.2.2/seed/"},
			local: []string{"fwcfg", "nocloud", "configdrive", "state"}, network: []string{"url", "nocloud-net"}},
		{name: "the cloud the DMI tables name", sel: Selection{DMI: dmi(t, map[string]string{"sys_vendor": "Amazon EC2"})},
			local: []string{"fwcfg", "nocloud", "configdrive", "state"}, network: []string{"ec2"}},
		{name: "berth.datasources replaces the order", sel: Selection{Order: []string{"gce", " state", "nocloud"}, DMI: dmi(t, map[string]string{"sys_vendor": "Amazon EC2"})},
			local: []string{"state", "nocloud"}, network: []string{"gce"}},
		{name: "unknown names are reported with the known ones", sel: Selection{Order: []string{"state", "vultr"}},
			local: []string{"state"}, problemsContains: []string{`unknown datasource "vultr" (known: azure, configdrive, ec2, fwcfg, gce, nocloud, nocloud-net, openstack, state, url, vmware)`}},
		{name: "url: and file: entries", sel: Selection{Order: []string{"file:/var/lib/rancher/conf/cloud-config.yml", "nocloud", "url:https://example.org/ud"}},
			local: []string{"file", "nocloud"}, network: []string{"url"}},
		{name: "bad url: and file: entries", sel: Selection{Order: []string{"url:ftp://x/ud", "file:etc/ud", "state"}},
			local: []string{"state"}, problemsContains: []string{`"url:ftp://x/ud": expected url: and an http:// or https:// URL`, `"file:etc/ud": expected file: and an absolute, clean path`}},
		{name: "url without a URL", sel: Selection{Order: []string{"url", "nocloud-net"}},
			problemsContains: []string{"url needs berth.cloud_config_url=URL", "nocloud-net needs ds=nocloud;s=URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local, network, problems := tc.sel.Select()
			if diff := cmp.Diff(tc.local, names(local)); diff != "" {
				t.Errorf("local (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff(tc.network, names(network)); diff != "" {
				t.Errorf("network (-want +got)\n%s", diff)
			}
			if len(problems) != len(tc.problemsContains) {
				t.Fatalf("problems = %q, want %d", problems, len(tc.problemsContains))
			}
			for i, want := range tc.problemsContains {
				if !strings.Contains(problems[i], want) {
					t.Errorf("problem %q lacks %q", problems[i], want)
				}
			}
		})
	}
}

// The names berth.datasources takes are those of the table, and each
// selects a source of that name.
func TestNamesComeFromTheTable(t *testing.T) {
	sel := Selection{URL: "http://x/", NoCloudSeed: "nocloud;s=http://x/"}
	for _, n := range Names() {
		local, network, problems := Selection{Order: []string{n}, URL: sel.URL, NoCloudSeed: sel.NoCloudSeed}.Select()
		if got := names(append(local, network...)); len(problems) > 0 || len(got) != 1 || got[0] != n {
			t.Errorf("%s selects %v (%v)", n, got, problems)
		}
	}
}

func TestCloudFromDMI(t *testing.T) {
	for _, tc := range []struct {
		files map[string]string
		want  string
	}{
		{map[string]string{"sys_vendor": "Amazon EC2", "product_name": "t3.micro"}, "ec2"},
		{map[string]string{"bios_vendor": "Amazon EC2"}, "ec2"},
		{map[string]string{"sys_vendor": "Google", "product_name": "Google Compute Engine"}, "gce"},
		{map[string]string{"product_name": "Google Compute Engine"}, "gce"},
		{map[string]string{"sys_vendor": "OpenStack Foundation", "product_name": "OpenStack Nova"}, "openstack"},
		{map[string]string{"chassis_asset_tag": "OpenTelekomCloud"}, "openstack"},
		{map[string]string{"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)"}, ""},
		{nil, ""},
	} {
		if got := CloudFromDMI(dmi(t, tc.files)); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.files, got, tc.want)
		}
	}
	if got := CloudFromDMI(""); got != "" {
		t.Errorf("no DMI folder: %q", got)
	}
}

// The url: and file: entries of berth.datasources read where they say.
func TestSelectEntries(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ud")
	os.WriteFile(p, []byte("#cloud-config\nhostname: f\n"), 0o644)
	local, network, problems := Selection{Order: []string{"file:" + p, "url:http://192.0.2.1:8/x"}}.Select()
	if len(problems) != 0 || len(local) != 1 || len(network) != 1 {
		t.Fatalf("%v %v %v", names(local), names(network), problems)
	}
	d, err := local[0].Fetch(context.Background())
	if err != nil || string(d.UserData) != "#cloud-config\nhostname: f\n" {
		t.Errorf("file: entry: %v %+v", err, d)
	}
	if u, ok := network[0].(*URL); !ok || u.Location != "http://192.0.2.1:8/x" || u.Seed {
		t.Errorf("url: entry: %+v", network[0])
	}
	for e, want := range map[string]string{
		"nocloud":         "",
		"url:https://x/y": "",
		"file:/a/b":       "",
		"vultr":           `unknown datasource "vultr" (expected one of azure, configdrive, ec2, fwcfg, gce, nocloud, nocloud-net, openstack, state, url, vmware, url:URL or file:PATH)`,
		"url:x":           `"url:x": expected url: and an http:// or https:// URL`,
		"file:/a/../b":    `"file:/a/../b": expected file: and an absolute, clean path`,
	} {
		err := CheckEntry(e)
		if got := fmt.Sprint(err); (want == "" && err != nil) || (want != "" && got != want) {
			t.Errorf("CheckEntry(%q) = %v, want %q", e, err, want)
		}
	}
}
