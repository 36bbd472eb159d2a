package cloudconfig

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/strictyaml"
	"github.com/google/go-cmp/cmp"
)

const edKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x@y"

func TestParseFull(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse("user-data (nocloud)", data)
	if err != nil {
		t.Fatal(err)
	}
	c := doc.Config
	if c.Hostname != "node1" || c.Users[0].Name != "ops" || len(c.Users) != 1 {
		t.Errorf("hostname/users: %+v", c)
	}
	if diff := cmp.Diff(List{"docker", "wheel"}, c.Users[0].Groups); diff != "" {
		t.Errorf("groups (-want +got)\n%s", diff)
	}
	if c.WriteFiles[0].Permissions != 0o640 {
		t.Errorf("permissions = %o", c.WriteFiles[0].Permissions)
	}
	if c.Runcmd[0].Argv[2] != "echo hi > /var/log/hi" || c.Runcmd[1].Shell != "touch /var/lib/ran" {
		t.Errorf("runcmd = %+v", c.Runcmd)
	}
	if c.Berth.Network.Interfaces["mac=52:54:00:12:34:56"].MTU != 9000 || c.Berth.Sysctl["net.ipv4.ip_forward"] != "1" {
		t.Errorf("berth = %+v", c.Berth)
	}
	if a := c.Berth.RegistryAuths; a["docker.io"].Password != "s3cret" || a["registry.lan:5000"].Auth != "b3BzOnMzY3JldA==" || c.Berth.Proxy.NoProxy != "localhost,10.0.0.0/8" {
		t.Errorf("registry_auths %+v proxy %+v", a, c.Berth.Proxy)
	}
	// berth.autologin is read and checked, but user-data cannot set it.
	if c.Berth.Autologin != "" || c.Swap.Size.Bytes() != 512<<20 {
		t.Errorf("autologin %q swap %v; want no autologin from user-data", c.Berth.Autologin, c.Swap.Size)
	}
	if b, _ := doc.Tree["berth"].(map[string]any); b["autologin"] != nil {
		t.Errorf("berth.autologin stayed in the tree: %v", b["autologin"])
	}
	var w []string
	for _, x := range doc.Warnings {
		w = append(w, x.Error())
	}
	want := []string{
		"user-data (nocloud):5: users[0]: default is root on Berth, which has no distribution user: top-level ssh_authorized_keys are root's; log in as root",
		"user-data (nocloud):10: users[0].sudo: ignored: there is no sudo on Berth; the console logs in as root",
		"user-data (nocloud):16: packages: ignored: a container host installs no packages; run software in containers, or build an image variant",
		"user-data (nocloud):63: berth.autologin: ignored: console autologin comes from the kernel command line or QEMU's fw_cfg only (berth.autologin), never from cloud-config",
	}
	if diff := cmp.Diff(want, w); diff != "" {
		t.Errorf("warnings (-want +got)\n%s", diff)
	}
	if _, ok := doc.Tree["packages"]; ok {
		t.Error("an ignored key stayed in the tree")
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"did you mean", "#cloud-config\nberth:\n  netwrok: {}\n", []string{"u (x):3: berth.netwrok: unknown key (did you mean berth.network?)"}},
		{"bad key", "#cloud-config\nssh_authorized_keys:\n  - " + edKey + "\n  - ssh-rsa no!pe\n", []string{"u (x):4: ssh_authorized_keys[1]: not an SSH public key: the key is not base64"}},
		{"user key", "#cloud-config\nusers:\n  - name: a\n    ssh_authorized_keys: [\"ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ== c\"]\n", []string{"u (x):4: users[0].ssh_authorized_keys[0]: not an SSH public key: the key data is not a ssh-ed25519 key"}},
		{"wrong type", "#cloud-config\nhostname: [a]\n", []string{"u (x):2: hostname: expected a string, got a list"}},
		{"all at once", "#cloud-config\nhostname: -bad-\nberth:\n  network:\n    interfaces:\n      eth0: {addresses: [10.0.0.1], gateway: fe80::1, mtu: 10}\n    dns: {nameservers: [dns.google]}\n  sysctl: {\"net..x\": \"1\"}\n  ssh: {port: 70000}\n", []string{
			`u (x):2: hostname: "-bad-" is not a host name (letters, digits and dashes, 63 at most)`,
			`u (x):6: berth.network.interfaces.eth0.addresses[0]: "10.0.0.1" is not an address with a prefix length such as 192.168.1.10/24`,
			`u (x):6: berth.network.interfaces.eth0.gateway: "fe80::1" is not an IPv4 address`,
			`u (x):6: berth.network.interfaces.eth0.mtu: expected 68 to 65535, got 10`,
			`u (x):7: berth.network.dns.nameservers[0]: "dns.google" is not an IP address`,
			`u (x):8: berth.sysctl."net..x": "net..x" is not a sysctl name such as net.ipv4.ip_forward`,
			`u (x):9: berth.ssh.port: expected 1 to 65535, got 70000`,
		}},
		{"swap and growpart on the read-only root", "#cloud-config\nswap: {filename: /swap.img, size: 1G}\ngrowpart: {devices: [/usr]}\n", []string{
			`u (x):2: swap.filename: /swap.img is not on the state partition; Berth's root is read-only: use a path under /var, such as /var/swap.img`,
			`u (x):3: growpart.devices[0]: expected / or /var (both are the state partition, the one that grows), got "/usr"`,
		}},
		{"sysctls checked against the kernel's", "#cloud-config\nberth:\n  sysctl:\n    vm.swappiness: not-a-number\n    vm.no_such_sysctl: 1\n    net.ipv4.ip_local_port_range: 1024-65000\n    net.ipv4.conf.eth0.rp_filtr: 1\n    net.ipv4.conf.eth1.rp_filter: 1\n", []string{
			`u (x):7: berth.sysctl."net.ipv4.conf.eth0.rp_filtr": unknown sysctl: Berth's kernel has no net.ipv4.conf.eth0.rp_filtr (did you mean net.ipv4.conf.eth0.rp_filter?)`,
			`u (x):6: berth.sysctl."net.ipv4.ip_local_port_range": expected up to 2 numbers separated by spaces, such as "1 2", got "1024-65000"`,
			`u (x):5: berth.sysctl."vm.no_such_sysctl": unknown sysctl: Berth's kernel has no vm.no_such_sysctl`,
			`u (x):4: berth.sysctl."vm.swappiness": expected a number, got "not-a-number"`,
		}},
		{"datasources", "#cloud-config\nberth:\n  cloud_init:\n    datasources: [nocloud, vultr, \"url:ftp://x\"]\n", []string{
			`u (x):4: berth.cloud_init.datasources[1]: unknown datasource "vultr" (expected one of azure, configdrive, ec2, fwcfg, gce, nocloud, nocloud-net, openstack, state, url, vmware, url:URL or file:PATH)`,
			`u (x):4: berth.cloud_init.datasources[2]: "url:ftp://x": expected url: and an http:// or https:// URL`,
		}},
		// Under the name of config schema 1, the problem is said at the
		// key as written.
		{"datasources, renamed", "#cloud-config\nberth:\n  datasources: [nocloud, vultr]\n", []string{
			`u (x):3: berth.datasources (berth.cloud_init.datasources[1]): unknown datasource "vultr" (expected one of azure, configdrive, ec2, fwcfg, gce, nocloud, nocloud-net, openstack, state, url, vmware, url:URL or file:PATH)`,
		}},
		{"containerd.on_demand not a bool", "#cloud-config\nberth:\n  containerd:\n    on_demand: later\n    on_demnad: false\n", []string{
			`u (x):4: berth.containerd.on_demand: expected a boolean (true or false), got the string "later"`,
			`u (x):5: berth.containerd.on_demnad: unknown key (did you mean berth.containerd.on_demand?)`,
		}},
		{"sysctl value not a scalar", "#cloud-config\nberth:\n  sysctl:\n    vm.swappiness: [1]\n", []string{
			`u (x):4: berth.sysctl."vm.swappiness": expected a string or a number, got a list`,
		}},
		{"links that cannot go together", "#cloud-config\nberth:\n  network:\n    interfaces:\n      eth0: {bond: x0}\n      eth1:\n        bridge: x0\n      bond0:\n        bond_opts: {mode: fastest}\n", []string{
			`u (x):9: berth.network.interfaces.bond0.bond_opts.mode: "fastest" is not a valid mode`,
			`u (x):7: berth.network.interfaces.eth1.bridge: x0 is a bond (interfaces.eth0.bond)`,
		}},
		{"berth.network decoded strictly", "#cloud-config\nberth:\n  network:\n    interfaces:\n      eth0:\n        adresses: [10.0.0.2/24]\n        mtu: jumbo\n        vlans: [\"7\"]\n        bond_opts: {mode: [1]}\n      eth1: {dhcp: yes}\n    dns: {search: example.org}\n", []string{
			`u (x):6: berth.network.interfaces.eth0.adresses: unknown key (did you mean berth.network.interfaces.eth0.addresses?)`,
			`u (x):7: berth.network.interfaces.eth0.mtu: expected an integer, got the string "jumbo"`,
			`u (x):8: berth.network.interfaces.eth0.vlans[0]: expected an integer, got the string "7"`,
			`u (x):9: berth.network.interfaces.eth0.bond_opts.mode: expected a string or a number, got a list`,
			`u (x):10: berth.network.interfaces.eth1.dhcp: expected a boolean (true or false), got the string "yes"`,
			`u (x):11: berth.network.dns.search: expected a list, got the string "example.org"`,
		}},
		{"decode and validation errors together", "#cloud-config\nwrite_files:\n  - path: usr/x\n  - {path: /etc/z, permissions: '0999'}\nusers:\n  - name: [a]\n", []string{
			`u (x):4: write_files[1].permissions: expected a file mode in octal such as '0644', got "0999"`,
			`u (x):6: users[0].name: expected a string, got a list`,
			`u (x):3: write_files[0].path: expected an absolute path, got "usr/x"`,
		}},
		{"write_files validation", "#cloud-config\nwrite_files:\n  - path: usr/x\n  - path: /usr/bin/x\n  - {path: /etc/x, encoding: b64, content: '!!!'}\n  - {path: /etc/y, encoding: rot13}\n", []string{
			`u (x):3: write_files[0].path: expected an absolute path, got "usr/x"`,
			`u (x):4: write_files[1].path: /usr/bin/x is on Berth's read-only root; write under /etc, /var, /opt, /home or /root`,
			`u (x):5: write_files[2].content: not valid base64: illegal base64 data at input byte 0`,
			`u (x):6: write_files[3].encoding: encoding "rot13": expected b64, gzip or gz+b64`,
		}},
		{"mount devices Berth cannot find", "#cloud-config\nmounts:\n  - [PARTUUID=0a1b, /mnt/a]\n  - [LABEL=, /mnt/b]\n  - [UUID=3f1c9a52-7e0b-4d8e-9b1a-2c5d7e9f0a1b, /mnt/c]\n  - [tmpfs, /mnt/d, tmpfs]\n", []string{
			`u (x):3: mounts[0][0]: not a device name: "PARTUUID=0a1b" (expected LABEL=, UUID=, PARTLABEL=, a path under /dev or a kernel name such as vdb1)`,
			`u (x):4: mounts[1][0]: not a device name: LABEL= needs a value`,
		}},
		{"ntp servers and pools, each checked where it is", "#cloud-config\nntp:\n  servers: [time.example.org, \"10.0.2.2:1230\", \"[fd00::1]:123\", \"-bad-\", \"a.example:0\"]\n  pools: [pool.example.org, \"b.example:x\", \":123\"]\n", []string{
			`u (x):3: ntp.servers[3]: "-bad-" is neither a host name nor an IP address (expected HOST or HOST:PORT)`,
			`u (x):3: ntp.servers[4]: "a.example:0": expected a port from 1 to 65535, got "0"`,
			`u (x):4: ntp.pools[1]: "b.example:x": expected a port from 1 to 65535, got "x"`,
			`u (x):4: ntp.pools[2]: ":123": no host before the port`,
		}},
		{"passwd", "#cloud-config\nusers: [{name: a, passwd: hunter2}]\n", []string{"u (x):2: users[0].passwd: expected a crypt(3) hash such as $6$..., not a plain password"}},
		{"passwd fields that would inject lines", "#cloud-config\nusers:\n  - name: a\n    gecos: \"x\\nevil::0:0::/:/bin/sh\"\n    homedir: /home/a:0\n    shell: \"/bin/sh\\r\"\n", []string{
			`u (x):4: users[0].gecos: "x\nevil::0:0::/:/bin/sh" holds a colon or a control character, which /etc/passwd cannot hold`,
			`u (x):5: users[0].homedir: "/home/a:0" holds a colon or a control character, which /etc/passwd cannot hold`,
		}},
		{"a hash that would inject fields (a shell Berth lacks is /bin/sh by now)", "#cloud-config\nusers:\n  - name: a\n    shell: \"/bin/sh\\nevil::0:0::/:/bin/sh\"\n  - name: b\n    passwd: \"$6$salt$hash:0:99999\"\n", []string{
			`u (x):6: users[1].passwd: holds a colon, which /etc/shadow cannot hold (expected a crypt(3) hash such as $6$...)`,
		}},
		{"uids that clash", "#cloud-config\nusers:\n  - {name: a, uid: 1005}\n  - {name: b}\n  - {name: c, uid: 1005}\n  - {name: root, uid: 7}\n", []string{
			`u (x):5: users[2].uid: uid 1005 is users[0]'s (a) too: expected a uid of its own`,
			`u (x):6: users[3].uid: root's uid is 0, got 7`,
		}},
		{"alias bomb", "#cloud-config\nx0: &x0 [l, l, l, l, l, l, l, l, l, l]\nx1: &x1 [*x0, *x0, *x0, *x0, *x0, *x0, *x0, *x0, *x0, *x0]\nx2: &x2 [*x1, *x1, *x1, *x1, *x1, *x1, *x1, *x1, *x1, *x1]\nx3: &x3 [*x2, *x2, *x2, *x2, *x2, *x2, *x2, *x2, *x2, *x2]\nx4: &x4 [*x3, *x3, *x3, *x3, *x3, *x3, *x3, *x3, *x3, *x3]\nx5: &x5 [*x4, *x4, *x4, *x4, *x4, *x4, *x4, *x4, *x4, *x4]\nx6: &x6 [*x5, *x5, *x5, *x5, *x5, *x5, *x5, *x5, *x5, *x5]\nx7: &x7 [*x6, *x6, *x6, *x6, *x6, *x6, *x6, *x6, *x6, *x6]\nx8: &x8 [*x7, *x7, *x7, *x7, *x7, *x7, *x7, *x7, *x7, *x7]\nx9: &x9 [*x8, *x8, *x8, *x8, *x8, *x8, *x8, *x8, *x8, *x8]\n", []string{"u (x): not accepted: too many nodes: with its aliases expanded the document has more than 100000 (an alias bomb?)"}},
		{"registries, their credentials and the proxy", "#cloud-config\nberth:\n  registry_mirrors:\n    docker.io: [\"http://\", \"ftp://m\", \"http://10.0.2.2:5000\"]\n    \"bad host:99999\": [\"https://m\"]\n  registry_auths:\n    docker.io: {username: u}\n    quay.io: {password: p}\n    ghcr.io: {auth: bm9jb2xvbg==}\n    r.lan:5000: {username: u, password: p, auth: dTpw}\n    gcr.io: {}\n    10.0.2.2:5000: {auth: dTpw}\n  proxy: {http_proxy: \"proxy:3128\", https_proxy: \"http://proxy:3128\", no_proxy: \"a\\nb\"}\n", []string{
			`u (x):5: berth.registry_mirrors."bad host:99999": "bad host:99999" is not a registry host such as docker.io or registry.lan:5000`,
			`u (x):4: berth.registry_mirrors."docker.io"[0]: expected an http:// or https:// URL with a host, got "http://"`,
			`u (x):4: berth.registry_mirrors."docker.io"[1]: expected an http:// or https:// URL with a host, got "ftp://m"`,
			`u (x):7: berth.registry_auths."docker.io".password: missing (username is set)`,
			`u (x):11: berth.registry_auths."gcr.io": expected username and password, or auth`,
			`u (x):9: berth.registry_auths."ghcr.io".auth: expected base64 of user:password`,
			`u (x):8: berth.registry_auths."quay.io".username: missing (password is set)`,
			`u (x):10: berth.registry_auths."r.lan:5000": give username and password, or auth, not both`,
			`u (x):13: berth.proxy.http_proxy: expected an http://, https:// or socks5:// URL with a host, got "proxy:3128"`,
			`u (x):13: berth.proxy.no_proxy: expected a comma-separated list of hosts, domains and CIDRs, got "a\nb"`,
		}},
		{"k3s", "#cloud-config\nberth:\n  k3s: {url: \"http://server:6443\"}\n", []string{
			`u (x):3: berth.k3s.url: expected the k3s server's https:// URL with a host (https://server:6443), got "http://server:6443"`,
			`u (x):3: berth.k3s.token: missing: an agent joins its server with the cluster's token (berth.k3s.url is set)`,
		}},
		{"install", "#cloud-config\nberth:\n  install: {device: vda, append: \"a\\\"b\", then: halt}\n", []string{
			`u (x):3: berth.install.device: expected the disk to install onto, as /dev/NAME or a /dev/disk/by-* link, got "vda"`,
			`u (x):3: berth.install.append: "a\"b": kernel arguments are printable ASCII without ", $, \ or ` + "`",
			`u (x):3: berth.install.then: expected poweroff, reboot or none, got "halt"`,
		}},
		{"upgrade", "#cloud-config\nberth:\n  upgrade: {health_timeout: 5s, health_check: [/bin/true]}\n", []string{
			`u (x):3: berth.upgrade.health_timeout: expected a duration from 10s to 1h, such as 5m, got "5s"`,
		}},
		{"upgrade repository with a tag", "#cloud-config\nberth:\n  upgrade: {repository: \"registry.lan/berth/os:1.0\"}\n", []string{
			`u (x):3: berth.upgrade.repository: expected a registry repository without a tag, such as registry.lan/berth/os, got "registry.lan/berth/os:1.0"`,
		}},
		{"upgrade repository without a path", "#cloud-config\nberth:\n  upgrade: {repository: \"https://registry.lan\"}\n", []string{
			`u (x):3: berth.upgrade.repository: expected a registry repository without a tag, such as registry.lan/berth/os, got "https://registry.lan"`,
		}},
		{"not yaml", "#cloud-config\nhostname: [\n", []string{"u (x):2: not valid YAML: did not find expected node content"}},
		{"unknown format", "hello\n", []string{`u (x): user-data: not user-data Berth knows (expected a first line of #cloud-config or #!, got "hello")`}},
		{"include", "#include http://x\n", []string{"u (x): user-data: #include user-data is not supported on Berth (Berth fetches no user-data from URLs at boot; give the documents themselves, as MIME multipart if there are several)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("u (x)", []byte(tc.src))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error kind: %v", err)
			}
			var es strictyaml.Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T", err)
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

func TestUserDataFormats(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("#cloud-config\nhostname: zipped\n"))
	zw.Close()
	doc, err := Parse("u", gz.Bytes())
	if err != nil || doc.Config.Hostname != "zipped" {
		t.Fatalf("gzip: %v %+v", err, doc)
	}
	mime := "Content-Type: multipart/mixed; boundary=\"XX\"\nMIME-Version: 1.0\n\n" +
		"--XX\nContent-Type: text/cloud-config; charset=\"us-ascii\"\nContent-Disposition: attachment; filename=\"a.yaml\"\n\n#cloud-config\nhostname: one\nberth: {sysctl: {vm.swappiness: \"1\"}}\n" +
		"--XX\nContent-Type: text/x-shellscript\nContent-Disposition: attachment; filename=\"s.sh\"\n\n#!/bin/sh\necho hi\n" +
		"--XX\nContent-Type: text/cloud-config\nContent-Transfer-Encoding: base64\n\n" + "I2Nsb3VkLWNvbmZpZwpob3N0bmFtZTogdHdvCmJlcnRoOiB7c3lzY3RsOiB7dm0ub3ZlcmNvbW1pdF9tZW1vcnk6ICIyIn19Cg==\n" +
		"--XX--\n"
	doc, err = Parse("u", []byte(mime))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Config.Hostname != "two" || doc.Config.Berth.Sysctl["vm.swappiness"] != "1" || doc.Config.Berth.Sysctl["vm.overcommit_memory"] != "2" {
		t.Errorf("multipart merge: %+v", doc.Config)
	}
	if len(doc.Scripts) != 1 || doc.Scripts[0].Name != "s.sh" || !strings.HasPrefix(string(doc.Scripts[0].Data), "#!/bin/sh") {
		t.Errorf("scripts: %+v", doc.Scripts)
	}
	doc, err = Parse("u", []byte("#!/bin/sh\necho only\n"))
	if err != nil || len(doc.Scripts) != 1 {
		t.Errorf("script: %v", err)
	}
	doc, err = Parse("u", []byte("  \n"))
	if err != nil || len(doc.Tree) != 0 {
		t.Errorf("empty: %v", err)
	}
	// A part's error names the part.
	_, err = Parse("u", []byte(strings.Replace(mime, "hostname: one", "hostnme: one", 1)))
	if err == nil || !strings.Contains(err.Error(), "u a.yaml:2: hostnme: unknown key (did you mean hostname?)") {
		t.Errorf("err = %v", err)
	}
}

func TestDecodeContent(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("zipped"))
	zw.Close()
	b64 := "emlwcGVk"
	for _, tc := range []struct{ content, enc, want string }{
		{"plain", "", "plain"},
		{b64, "b64", "zipped"},
		{gz.String(), "gzip", "zipped"},
	} {
		got, err := DecodeContent(tc.content, tc.enc)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %q %v", tc.enc, got, err)
		}
	}
}

// Sysctl values, bond options and environment values take numbers as
// users write them, kept as written.
func TestScalarsTakeNumbers(t *testing.T) {
	d, err := Parse("u (x)", []byte("#cloud-config\nberth:\n  sysctl: {vm.swappiness: 10, net.ipv4.ip_forward: \"1\"}\n  environment: {N: 3, B: true}\n  network:\n    interfaces:\n      bond0: {bond_opts: {miimon: 100, mode: active-backup}}\n      eth0: {bond: bond0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromTree("u (x)", d.Tree)
	if err != nil {
		t.Fatal(err)
	}
	if got := Strings(c.Berth.Sysctl); got["vm.swappiness"] != "10" || got["net.ipv4.ip_forward"] != "1" {
		t.Errorf("sysctl %v", got)
	}
	if c.Berth.Environment["N"] != "3" || c.Berth.Environment["B"] != "true" {
		t.Errorf("environment %v", c.Berth.Environment)
	}
	if c.Berth.Network.Interfaces["bond0"].BondOpts["miimon"] != "100" {
		t.Errorf("bond_opts %v", c.Berth.Network.Interfaces["bond0"].BondOpts)
	}
}

// berth.autologin (and RancherOS's autologin) in user-data is decoded and
// checked, then left out with a warning naming the key: only the kernel
// command line or fw_cfg opens a console without a password.
func TestAutologinIsFlagOnly(t *testing.T) {
	const why = "ignored: console autologin comes from the kernel command line or QEMU's fw_cfg only (berth.autologin), never from cloud-config"
	for _, tc := range []struct{ name, src, want string }{
		{"on", "#cloud-config\nhostname: a\nberth:\n  autologin: true\n", "u (x):4: berth.autologin: " + why},
		{"off too", "#cloud-config\nberth:\n  autologin: false\n", "u (x):3: berth.autologin: " + why},
		{"consoles", "#cloud-config\nberth:\n  autologin: [ttyS0, tty1]\n  sysctl: {vm.swappiness: 10}\n", "u (x):3: berth.autologin: " + why},
		{"rancher", "#cloud-config\nrancher:\n  autologin: ttyS0\n", "u (x):3: rancher.autologin (berth.autologin): " + why},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Parse("u (x)", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range doc.Warnings {
				got = append(got, w.Error())
			}
			if diff := cmp.Diff([]string{tc.want}, got); diff != "" {
				t.Errorf("warnings (-want +got)\n%s", diff)
			}
			if doc.Config.Berth.Autologin != "" {
				t.Errorf("autologin %q from user-data, want none", doc.Config.Berth.Autologin)
			}
			if v, ok := Get(doc.Tree, []Seg{{Key: "berth", Index: -1}, {Key: "autologin", Index: -1}}); ok {
				t.Errorf("berth.autologin stayed in the tree: %v", v)
			}
		})
	}
	// The rest of berth: stays.
	doc, _ := Parse("u (x)", []byte("#cloud-config\nberth:\n  autologin: true\n  sysctl: {vm.swappiness: 10}\n"))
	if doc.Config.Berth.Sysctl["vm.swappiness"] != "10" {
		t.Errorf("berth.sysctl lost with berth.autologin: %+v", doc.Config.Berth)
	}
	// Still decoded and checked: a bad value is an error.
	_, err := Parse("u (x)", []byte("#cloud-config\nberth:\n  autologin: [\"ttyS0\", \"no such\"]\n"))
	if err == nil || !strings.Contains(err.Error(), `u (x):3: berth.autologin: "no such" is not a console name`) {
		t.Errorf("bad autologin value: %v", err)
	}
	if why, ok := FlagOnly(`berth."autologin"`); !ok || !strings.Contains(why, "kernel command line") {
		t.Errorf("FlagOnly(berth.autologin) = %q, %v", why, ok)
	}
	if _, ok := FlagOnly("berth.sysctl"); ok {
		t.Error("FlagOnly(berth.sysctl) is true")
	}
}
