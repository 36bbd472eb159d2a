package cloudconfig

import (
	"errors"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-os/berth/internal/strictyaml"
)

// A RancherOS user's file, with a key of each kind.
const rancherDoc = `#cloud-config
hostname: ros1
rancher:
  network:
    interfaces:
      eth*:
        dhcp: true
      eth1:
        address: 10.1.0.41/24
        gateway: 10.1.0.1
        mtu: 1500
        dhcp: false
        post_up: [ip route add 10.0.0.0/8 via 10.1.0.2]
      eth2:
        vlans: 100,200:db
      br0:
        bridge: true
        dhcp: true
      eth3:
        bridge: br0
      mac=52:54:00:12:34:59:
        addresses: [10.10.2.17/24]
    dns:
      nameservers: [8.8.4.4]
      search: [example.com]
    http_proxy: http://proxy:3128
    pre_cmds: [echo hi]
  sysctl:
    vm.swappiness: 10
  modules: [btrfs]
  environment:
    ETCD: https://discovery.etcd.io/x
  ssh:
    port: 2222
    keys:
      ed25519: "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
      ed25519-pub: ` + edKey + `
      dsa: PRIVATE
  console: debian
  services_include:
    kernel-headers: true
    zfs: false
  disable: [ntp]
  docker:
    registry_mirror: http://10.10.10.23:5555
    engine: docker-17.06.1-ce
  system_docker:
    registry_mirror: http://10.10.10.23:5555
  state:
    dev: LABEL=RANCHER_STATE
    autoformat: [/dev/vda]
    mdadm_scan: true
  upgrade:
    url: https://releases.rancher.com/os/releases.yml
  cloud_init:
    datasources: [configdrive:/media/config-2, "url:https://example.org/ud", digitalocean, azure]
  services:
    web: {image: nginx, net: host}
    old: {image: nginx, volumes_from: [web]}
  registry_auths:
    https://index.docker.io/v1/: {auth: eDp5, email: a@b.c}
  hypervisor_service: false
`

func TestRancherTranslation(t *testing.T) {
	doc, err := Parse("u", []byte(rancherDoc))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"network": map[string]any{
			"interfaces": map[string]any{
				"eth1":                  map[string]any{"addresses": []any{"10.1.0.41/24"}, "gateway": "10.1.0.1", "mtu": 1500, "dhcp": false},
				"eth2":                  map[string]any{"vlans": []any{100, 200}},
				"br0":                   map[string]any{"dhcp": true},
				"eth3":                  map[string]any{"bridge": "br0"},
				"mac=52:54:00:12:34:59": map[string]any{"addresses": []any{"10.10.2.17/24"}},
			},
			"dns": map[string]any{"nameservers": []any{"8.8.4.4"}, "search": []any{"example.com"}},
		},
		"environment": map[string]any{
			"HTTP_PROXY": "http://proxy:3128", "http_proxy": "http://proxy:3128",
			"ETCD": "https://discovery.etcd.io/x",
		},
		"sysctl":             map[string]any{"vm.swappiness": 10},
		"modules":            []any{"btrfs"},
		"ssh":                map[string]any{"port": 2222},
		"console":            "debian",
		"services":           map[string]any{"enable": []any{"kernel-headers"}, "disable": []any{"ntp"}, "define": map[string]any{"web": map[string]any{"image": "nginx", "network_mode": "host"}, "old": map[string]any{"image": "nginx", "volumes_from": []any{"web"}}}},
		"registry_mirrors":   map[string]any{"docker.io": []any{"http://10.10.10.23:5555"}},
		"registry_auths":     map[string]any{"docker.io": map[string]any{"auth": "eDp5"}},
		"proxy":              map[string]any{"http_proxy": "http://proxy:3128"},
		"state":              map[string]any{"dev": "LABEL=RANCHER_STATE", "autoformat": true},
		"cloud_init":         map[string]any{"datasources": []any{"configdrive", "url:https://example.org/ud", "azure"}},
		"hypervisor_service": false,
	}
	if diff := cmp.Diff(want, doc.Tree["berth"]); diff != "" {
		t.Errorf("berth (-want +got)\n%s", diff)
	}
	if _, ok := doc.Tree["rancher"]; ok {
		t.Error("rancher: stayed in the tree")
	}
	if doc.Config.Hostname != "ros1" || doc.Config.Berth.Network.Interfaces["eth1"].Gateway != "10.1.0.1" {
		t.Errorf("config: %+v", doc.Config)
	}
	var got []string
	for _, w := range doc.Warnings {
		got = append(got, w.Error())
	}
	wantWarnings := []string{
		`u:6: rancher.network.interfaces."eth*": ignored: Berth gives DHCP to every ethernet link that no entry names`,
		`u:13: rancher.network.interfaces.eth1.post_up: ignored: Berth runs no commands around link changes; put them in bootcmd or runcmd`,
		`u:15: rancher.network.interfaces.eth2.vlans: VLAN 200: the name db is ignored: Berth names a VLAN link <link>.<id>`,
		`u:27: rancher.network.pre_cmds: ignored: Berth runs no commands around link changes; put them in bootcmd or runcmd`,
		`u:46: rancher.docker.engine: ignored: ` + whyDocker,
		`u:51: rancher.state.autoformat: translated to berth.state.autoformat: true: Berth formats a blank state partition of its own disk, not /dev/vda`,
		`u:52: rancher.state.mdadm_scan: ignored: Berth finds its state partition by its label BERTH_STATE (ext4, no RAID, LVM or encryption yet)`,
		`u:54: rancher.upgrade.url: ignored: ` + whyUpgrade,
		`u:56: rancher.cloud_init.datasources[2]: ignored: Berth has no digitalocean datasource`,

		`u:61: rancher.registry_auths."https://index.docker.io/v1/".email: ignored: registries no longer take an email`,
		`u:38: rancher.ssh.keys.dsa: ignored: Berth's sshd takes no DSA host keys (ecdsa, ed25519 and rsa)`,
	}
	// ssh_keys is cloud-init's: what Berth does with it is not this test's.
	got = slices.DeleteFunc(got, func(w string) bool { return strings.Contains(w, "(ssh_keys") })
	// In line order, whichever order the decoder gives them in.
	byLine := func(l []string) {
		line := func(s string) int { n, _ := strconv.Atoi(strings.SplitN(s, ":", 3)[1]); return n }
		sort.SliceStable(l, func(i, j int) bool { return line(l[i]) < line(l[j]) })
	}
	byLine(wantWarnings)
	byLine(got)
	if diff := cmp.Diff(wantWarnings, got); diff != "" {
		t.Errorf("warnings (-want +got)\n%s", diff)
	}
	for berth, rancher := range map[string]string{
		"berth.network.interfaces.eth1.addresses": "rancher.network.interfaces.eth1.address",
		"berth.network.interfaces.eth1.mtu":       "rancher.network.interfaces.eth1.mtu",
		"berth.network.dns.nameservers":           "rancher.network.dns.nameservers",
		`berth.sysctl."vm.swappiness"`:            `rancher.sysctl."vm.swappiness"`,
		"berth.environment.http_proxy":            "rancher.network.http_proxy",
		"berth.services.enable":                   "rancher.services_include",
		"ssh_keys.ed25519_private":                "rancher.ssh.keys.ed25519",
		"ssh_keys.ed25519_public":                 "rancher.ssh.keys.ed25519-pub",
		`berth.registry_mirrors."docker.io"`:      "rancher.system_docker.registry_mirror",
		"berth.proxy.http_proxy":                  "rancher.network.http_proxy",
		`berth.registry_auths."docker.io".auth`:   `rancher.registry_auths."https://index.docker.io/v1/"`,
	} {
		if got := doc.Origins[berth]; got != rancher {
			t.Errorf("origin of %s = %q, want %q", berth, got, rancher)
		}
	}
	if _, ok := doc.Origins["hostname"]; ok {
		t.Error("hostname has a rancher origin")
	}
}

// The document's own berth: keys win over translated ones, and keep their
// own provenance.
func TestRancherBerthWins(t *testing.T) {
	doc, err := Parse("u", []byte("#cloud-config\nrancher:\n  sysctl: {vm.swappiness: 10, vm.overcommit_memory: 1}\n  network: {dns: {nameservers: [8.8.8.8]}}\nberth:\n  sysctl: {vm.swappiness: 60}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Config.Berth.Sysctl; got["vm.swappiness"] != "60" || got["vm.overcommit_memory"] != "1" {
		t.Errorf("sysctl = %v", got)
	}
	if len(doc.Config.Berth.Network.DNS.Nameservers) != 1 {
		t.Errorf("dns = %v", doc.Config.Berth.Network.DNS)
	}
	if o, ok := doc.Origins[`berth.sysctl."vm.swappiness"`]; ok {
		t.Errorf("berth.sysctl.vm.swappiness is the document's own, not %s", o)
	}
	if o := doc.Origins[`berth.sysctl."vm.overcommit_memory"`]; o != `rancher.sysctl."vm.overcommit_memory"` {
		t.Errorf("origin = %q", o)
	}
}

func TestRancherErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"unknown key", "rancher:\n  netwrok: {}\n", []string{"u:3: rancher.netwrok: unknown key (did you mean rancher.network?)"}},
		{"unknown interface key", "rancher:\n  network:\n    interfaces:\n      eth0: {adress: 10.0.0.2/24}\n", []string{
			"u:5: rancher.network.interfaces.eth0.adress: unknown key (did you mean rancher.network.interfaces.eth0.address?)"}},
		{"not a map", "rancher: [a]\n", []string{"u:2: rancher: expected a map, got a list"}},
		{"misspelt", "rancer: {console: debian}\n", []string{"u:2: rancer: unknown key (did you mean rancher?)"}},
		{"twice", "rancher: {console: debian}\nhostname: x\nrancher: {console: alpine}\n", []string{"u:4: rancher: duplicate key"}},
		{"translated value invalid, named as written", "rancher:\n  network:\n    interfaces:\n      eth1:\n        mtu: big\n      eth2:\n        address: 10.1.0.41\n  ssh: {port: 70000}\n", []string{
			`u:6: rancher.network.interfaces.eth1.mtu (berth.network.interfaces.eth1.mtu): expected an integer, got the string "big"`,
			`u:8: rancher.network.interfaces.eth2.address (berth.network.interfaces.eth2.addresses[0]): "10.1.0.41" is not an address with a prefix length such as 192.168.1.10/24`,
			`u:9: rancher.ssh.port (berth.ssh.port): expected 1 to 65535, got 70000`,
		}},
		{"vlans", "rancher:\n  network:\n    interfaces:\n      eth1: {vlans: \"100,x\"}\n", []string{`u:5: rancher.network.interfaces.eth1.vlans: "x" is not a VLAN id such as 100`}},
		{"datasources", "rancher:\n  cloud_init:\n    datasources: [\"url:ftp://x/ud\"]\n", []string{
			`u:4: rancher.cloud_init.datasources (berth.cloud_init.datasources[0]): "url:ftp://x/ud": expected url: and an http:// or https:// URL`}},
		{"services_include", "rancher:\n  services_include: {zfs: maybe}\n", []string{`u:3: rancher.services_include.zfs: expected true or false, got the string "maybe"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("u", []byte("#cloud-config\n"+tc.src))
			var es strictyaml.Errors
			if !errors.As(err, &es) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v", err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestRancherWriteFilesContainer(t *testing.T) {
	doc, err := Parse("u", []byte("#cloud-config\nwrite_files:\n- {path: /etc/a, content: a, container: console}\n- {path: /var/b, content: b, container: ntp}\n- {path: /etc/c, content: c}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range doc.Config.WriteFiles {
		paths = append(paths, f.Path)
	}
	if diff := cmp.Diff([]string{"/etc/a", "/etc/c"}, paths); diff != "" {
		t.Errorf("files (-want +got)\n%s", diff)
	}
	if len(doc.Warnings) != 2 || !strings.Contains(doc.Warnings[1].Error(), "u:4: write_files[1].container: ignored with its entry") {
		t.Errorf("warnings: %v", doc.Warnings)
	}
	// Indexes of problems stay those of the document.
	_, err = Parse("u", []byte("#cloud-config\nwrite_files:\n- {path: /etc/a, container: ntp}\n- {path: etc/b}\n"))
	if err == nil || !strings.Contains(err.Error(), "write_files[1].path: expected an absolute path") {
		t.Errorf("err = %v", err)
	}
}

// Every Berth key of the table is a key of Berth's schema (or a cloud-init
// key Berth knows), and every translated key has a translation that works.
func TestRancherKeysTable(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range RancherKeys {
		if seen[k.Key] {
			t.Errorf("%s: listed twice", k.Key)
		}
		seen[k.Key] = true
		if !k.Translated() {
			if k.Note == "" {
				t.Errorf("rancher.%s: ignored without a reason", k.Key)
			}
			continue
		}
		key := strings.ReplaceAll(k.Berth, "*", "eth0")
		top, _, _ := strings.Cut(key, ".")
		if _, err := EffectOf(key); err != nil && ignore("", top) == "" {
			t.Errorf("rancher.%s: translated to %s: %v", k.Key, k.Berth, err)
		}
	}
}

// hostctl config get --source names the rancher key a value came from,
// until a higher layer replaces it.
func TestRancherSource(t *testing.T) {
	doc, err := Parse("u", []byte("#cloud-config\nhostname: ros\nrancher:\n  network:\n    interfaces:\n      eth1: {address: 10.1.0.41/24}\n    dns: {nameservers: [8.8.8.8]}\n  sysctl: {vm.swappiness: 10}\n"))
	if err != nil {
		t.Fatal(err)
	}
	local := tree(t, "berth:\n  sysctl: {vm.swappiness: 60}\n")
	m, err := Merge(
		Layer{Name: LayerImage, Tree: map[string]any{"hostname": "berth"}},
		Layer{Name: LayerDatasource, Tree: doc.Tree, Origins: doc.Origins},
		Layer{Name: LayerLocal, Tree: local},
	)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"hostname": LayerDatasource,
		"berth.network.interfaces.eth1.addresses":    "datasource, as rancher.network.interfaces.eth1.address",
		"berth.network.interfaces.eth1.addresses[0]": "datasource, as rancher.network.interfaces.eth1.address",
		"berth.network.dns.nameservers":              "datasource, as rancher.network.dns.nameservers",
		"berth.sysctl.vm.swappiness":                 LayerLocal,
		"berth.network":                              LayerDatasource,
	} {
		got, err := m.Source(key)
		if err != nil || got != want {
			t.Errorf("Source(%s) = %q, %v; want %q", key, got, err, want)
		}
	}
}

// The README's table of rancher.* keys is RancherTable: the README cannot
// drift from what the code translates.
func TestRancherREADME(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- rancher keys: begin -->\n", "<!-- rancher keys: end -->\n"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q section", strings.TrimSpace(begin), strings.TrimSpace(end))
	}
	if diff := cmp.Diff(RancherTable(), s[i+len(begin):j]); diff != "" {
		t.Errorf("README.md's rancher keys differ from RancherKeys (-want +got); put RancherTable() between the markers:\n%s", diff)
	}
}

// hostctl config takes Berth's keys; given a RancherOS key, it says which.
func TestRancherHint(t *testing.T) {
	for key, want := range map[string]string{
		"rancher.network.dns.nameservers":         "rancher.network.dns.nameservers: a RancherOS key; on Berth it is berth.network.dns.nameservers",
		"rancher.network.interfaces.eth1.address": "rancher.network.interfaces.eth1.address: a RancherOS key; on Berth it is berth.network.interfaces.eth1.addresses",
		"rancher.sysctl.vm.swappiness":            "rancher.sysctl.vm.swappiness: a RancherOS key; on Berth it is berth.sysctl.vm.swappiness",
		"rancher.docker.engine":                   "rancher.docker.engine: a RancherOS key Berth has no equivalent of: " + whyDocker,
		"rancher.nope":                            "rancher.nope: a RancherOS key; Berth reads rancher: in user-data, but its own keys are under berth:",
	} {
		_, err := EffectOf(key)
		if err == nil || err.Error() != want {
			t.Errorf("EffectOf(%s) = %v, want %s", key, err, want)
		}
	}
}
