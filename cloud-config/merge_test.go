package cloudconfig

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func tree(t *testing.T, src string) map[string]any {
	t.Helper()
	doc, err := Parse("t", []byte("#cloud-config\n"+src))
	if err != nil {
		t.Fatal(err)
	}
	return doc.Tree
}

func TestMergeAndSource(t *testing.T) {
	image := tree(t, "hostname: berth\nberth:\n  sysctl: {vm.swappiness: \"10\"}\n  ssh: {port: 22}\n")
	ds := tree(t, "hostname: from-ds\nssh_authorized_keys: [\""+edKey+"\"]\nberth:\n  sysctl: {net.ipv4.ip_forward: \"1\"}\n  network: {dns: {nameservers: [1.1.1.1]}}\n")
	local := tree(t, "berth:\n  ssh: {port: 2222}\n  network: {dns: {nameservers: [9.9.9.9]}}\n")
	cmdline := tree(t, "berth:\n  sysctl: {vm.swappiness: \"1\"}\n")
	m, err := Merge(
		Layer{Name: LayerImage, Tree: image},
		Layer{Name: LayerDatasource, Tree: ds},
		Layer{Name: LayerLocal, Tree: local},
		Layer{Name: LayerCmdline, Tree: cmdline},
	)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.Hostname != "from-ds" || c.Berth.SSH.Port != 2222 || c.Berth.Sysctl["vm.swappiness"] != "1" || c.Berth.Sysctl["net.ipv4.ip_forward"] != "1" {
		t.Errorf("merged: %+v", c)
	}
	if diff := cmp.Diff([]string{"9.9.9.9"}, c.Berth.Network.DNS.Nameservers); diff != "" {
		t.Errorf("lists replace, not append (-want +got)\n%s", diff)
	}
	for key, want := range map[string]string{
		"hostname":                           LayerDatasource,
		"berth.ssh.port":                     LayerLocal,
		"berth.ssh":                          LayerLocal,
		`berth.sysctl."vm.swappiness"`:       LayerCmdline,
		`berth.sysctl."net.ipv4.ip_forward"`: LayerDatasource,
		"berth.sysctl":                       "datasource, cmdline",
		"berth":                              "datasource, local, cmdline",
		"berth.network.dns.nameservers[0]":   LayerLocal,
		"ssh_authorized_keys":                LayerDatasource,
	} {
		got, err := m.Source(key)
		if err != nil || got != want {
			t.Errorf("Source(%s) = %q, %v; want %q", key, got, err, want)
		}
	}
	if _, err := m.Source("timezone"); err == nil || !strings.Contains(err.Error(), "timezone: not set") {
		t.Errorf("unset key: %v", err)
	}
	// A layer that is valid alone but breaks the whole is refused.
	bad := map[string]any{"berth": map[string]any{"ssh": map[string]any{"port": "many"}}}
	if _, err := Merge(Layer{Name: LayerImage, Tree: image}, Layer{Name: LayerLocal, Tree: bad}); err == nil || !strings.Contains(err.Error(), "berth.ssh.port") {
		t.Errorf("bad merge: %v", err)
	}
}

func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Seg
		err  string
	}{
		{"hostname", []Seg{{Key: "hostname", Index: -1}}, ""},
		{`berth.sysctl."net.ipv4.ip_forward"`, []Seg{{Key: "berth", Index: -1}, {Key: "sysctl", Index: -1}, {Key: "net.ipv4.ip_forward", Index: -1}}, ""},
		{"users[0].name", []Seg{{Key: "users", Index: -1}, {Index: 0}, {Key: "name", Index: -1}}, ""},
		{"a..b", nil, "empty element"},
		{"a.", nil, "empty"},
		{`a."b`, nil, "unclosed quote"},
		{"a[x]", nil, "not a list index"},
		{"[0]", nil, "needs a key before it"},
	} {
		got, err := ParseKey(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseKey(%q) err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseKey(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseKey(%q) (-want +got)\n%s", tc.in, diff)
		}
		if FormatKey(got) != tc.in {
			t.Errorf("FormatKey round trip: %q → %q", tc.in, FormatKey(got))
		}
	}
}

func TestSetGetUnset(t *testing.T) {
	tr := map[string]any{}
	must := func(k string) []Seg {
		s, err := ParseKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	v, _ := ParseValue("[1.1.1.1, 8.8.8.8]")
	if err := Set(tr, must("berth.network.dns.nameservers"), v); err != nil {
		t.Fatal(err)
	}
	one, _ := ParseValue("1")
	if err := Set(tr, must(`berth.sysctl."net.ipv4.ip_forward"`), one); err != nil {
		t.Fatal(err)
	}
	if got, ok := Get(tr, must("berth.network.dns.nameservers[1]")); !ok || got != "8.8.8.8" {
		t.Errorf("get list element: %v %v", got, ok)
	}
	if err := Set(tr, must("berth.network.dns.nameservers[5]"), "x"); err == nil || err.Error() != "berth.network.dns.nameservers[5]: the list has 2 entries" {
		t.Errorf("set past the end of a list: %v", err)
	}
	if err := Set(tr, must("berth.network.dns.nameservers.x"), "x"); err == nil || !strings.Contains(err.Error(), "is a list, not a map") {
		t.Errorf("map key on a list: %v", err)
	}
	if !Unset(tr, must(`berth.sysctl."net.ipv4.ip_forward"`)) {
		t.Error("unset said absent")
	}
	if _, ok := Get(tr, must("berth.sysctl")); ok {
		t.Error("empty map left behind")
	}
	if Unset(tr, must("timezone")) {
		t.Error("unset of an absent key said present")
	}
}

func TestParseValue(t *testing.T) {
	for in, want := range map[string]any{
		"8080": 8080, "true": true, "[a, b]": []any{"a", "b"}, "{k: v}": map[string]any{"k": "v"},
		"node-1": "node-1", "1.1.1.1": "1.1.1.1", `"0644"`: "0644",
	} {
		got, err := ParseValue(in)
		if err != nil {
			t.Errorf("ParseValue(%q): %v", in, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ParseValue(%q) (-want +got)\n%s", in, diff)
		}
	}
	if _, err := ParseValue("[unclosed"); err == nil || !strings.HasPrefix(err.Error(), `value "[unclosed": not valid YAML: `) {
		t.Errorf("bad YAML: %v", err)
	}
	// A value (hostctl config set, the host API) has user-data's caps.
	bomb := "[&a [x, x, x, x, x, x, x, x, x, x], &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a], &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b], &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c], &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d], [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]]"
	if _, err := ParseValue(bomb); err == nil || !strings.Contains(err.Error(), "not valid YAML: too many nodes: with its aliases expanded the document has more than 100000") {
		t.Errorf("an alias bomb: %v", err)
	}
}

// A #cloud-config-archive has user-data's caps, as a #cloud-config does.
func TestArchiveCaps(t *testing.T) {
	_, err := Parse("u", []byte("#cloud-config-archive\n"+strings.Repeat("- x\n", 100_001)))
	if err == nil || !strings.Contains(err.Error(), "#cloud-config-archive: expected a list of parts: too many nodes: the document has more than 200000 line breaks") {
		t.Errorf("an archive of 100,001 parts: %v", err)
	}
}

// The effect of each key is declared once, in the schema.
func TestEffects(t *testing.T) {
	for key, want := range map[string]string{
		"hostname":                           "applies live",
		`berth.sysctl."net.ipv4.ip_forward"`: "applies live",
		"berth.network.interfaces.eth0.mtu":  "applies live",
		"users[0].ssh_authorized_keys":       "applies live",
		"berth.ssh.port":                     "restarts service console",
		"ssh_pwauth":                         "restarts service console",
		"runcmd":                             "needs a reboot",
		"berth.state.dev":                    "needs a reboot",
		"ntp.servers":                        "restarts service ntp",
		"berth.services.enable":              "starts or stops services",
		"berth.registry_mirrors":             "applies live",
		`berth.registry_auths."docker.io"`:   "applies live",
		"berth.proxy.https_proxy":            "applies live",
		"berth.console":                      "needs a reboot",
		"berth.containerd.on_demand":         "needs a reboot",
	} {
		e, err := EffectOf(key)
		if err != nil || e.String() != want {
			t.Errorf("EffectOf(%s) = %q, %v; want %q", key, e, err, want)
		}
	}
	if _, err := EffectOf("berth.netwrok.dns"); err == nil || !strings.Contains(err.Error(), "berth.netwrok: unknown key (did you mean berth.network?)") {
		t.Errorf("unknown key: %v", err)
	}
}

// A map key with dots may go unquoted where the schema leaves one reading.
func TestParseKeyJoinsMapKeys(t *testing.T) {
	for in, want := range map[string]string{
		`berth.sysctl.net.ipv4.ip_forward`:             `berth.sysctl."net.ipv4.ip_forward"`,
		`berth.sysctl."net.ipv4.ip_forward"`:           `berth.sysctl."net.ipv4.ip_forward"`,
		`berth.network.interfaces.eth0.100.mtu`:        `berth.network.interfaces."eth0.100".mtu`,
		`berth.network.interfaces.eth0.mtu`:            `berth.network.interfaces.eth0.mtu`,
		`berth.network.interfaces.eth0.100`:            `berth.network.interfaces."eth0.100"`,
		`berth.registry_mirrors.docker.io[1]`:          `berth.registry_mirrors."docker.io"[1]`,
		`berth.environment.A.B`:                        `berth.environment."A.B"`,
		`berth.network.interfaces.bond0.bond_opts.x.y`: `berth.network.interfaces.bond0.bond_opts."x.y"`,
		`users[0].name`:                                `users[0].name`,
		`nosuch.a.b`:                                   `nosuch.a.b`,
		`hostname.x`:                                   `hostname.x`,
	} {
		segs, err := ParseKey(in)
		if err != nil {
			t.Errorf("ParseKey(%s): %v", in, err)
			continue
		}
		if got := FormatKey(segs); got != want {
			t.Errorf("ParseKey(%s) = %s, want %s", in, got, want)
		}
	}
}
