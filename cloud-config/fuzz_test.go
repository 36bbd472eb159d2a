package cloudconfig

import (
	"os"
	"testing"
)

// The parsers never panic, and whatever Parse accepts survives a merge.
// CI runs the seed corpus (go test); `go test -fuzz FuzzParse` explores.
func FuzzParse(f *testing.F) {
	full, _ := os.ReadFile("testdata/full.yaml")
	for _, s := range []string{
		string(full),
		"#cloud-config\nhostname: a\n",
		"#!/bin/sh\necho hi\n",
		"#cloud-config\nusers: [default, {name: a, groups: 'x, y'}]\n",
		"#cloud-config\nwrite_files: [{path: /etc/a, encoding: gz+b64, content: H4sI}]\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/cloud-config\n\n#cloud-config\nhostname: m\n--b--\n",
		"#cloud-config\nberth: {network: {interfaces: {eth0: {addresses: [10.0.0.2/24], gateway: 10.0.0.1}}}}\n",
		"#cloud-config\nusers: {a: {shell: /bin/bash, homedir: /x}, b: null}\nchpasswd: {list: 'root:$6$x$y', users: [{name: a, password: '$6$x$y'}]}\n",
		"#cloud-config\npower_state: {mode: reboot, condition: [test, -e, /x], delay: 5}\nruncmd: [null, [], a]\nca-certs: {remove-defaults: true}\n",
		"#cloud-config-archive\n- {type: text/cloud-config, content: '#cloud-config\\nhostname: a'}\n- text\n",
		"\x1f\x8b\x08\x00",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		if _, err := Merge(Layer{Name: LayerDatasource, Tree: doc.Tree}); err != nil {
			t.Errorf("accepted user-data does not merge: %v", err)
		}
	})
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"hostname", `berth.sysctl."net.ipv4.ip_forward"`, "users[0].name", "a..b", `"x"`, "[", `a."b\"c"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		segs, err := ParseKey(s)
		if err != nil {
			return
		}
		again, err := ParseKey(FormatKey(segs))
		if err != nil || len(again) != len(segs) {
			t.Errorf("%q formats as %q, which does not parse back: %v", s, FormatKey(segs), err)
		}
	})
}

// network-config of any shape never panics the conversion, and what it
// gives is a tree the schema decodes or rejects with an error.
func FuzzNetworkConfig(f *testing.F) {
	for _, s := range []string{
		"version: 2\nethernets: {eth0: {dhcp4: true}}\n",
		"network: {version: 2, ethernets: {a: {match: {macaddress: '52:54:00:00:00:01'}, addresses: [10.0.0.2/24]}}, vlans: {v: {id: 5, link: a}}}\n",
		"version: 2\nbonds: {bond0: {interfaces: [x, y], parameters: {mode: 1}}}\nbridges: {br0: {interfaces: [z]}}\n",
		"version: 1\nconfig: [{type: physical, name: eth0, subnets: [{type: static, address: 10.0.0.2, netmask: 255.255.255.0}]}, {type: vlan, vlan_link: eth0, vlan_id: 7}]\n",
		"version: 1\nconfig: [{type: bond, name: b, bond_interfaces: [e1], params: {bond-mode: 4}}, {type: nameserver, address: 1.1.1.1}]\n",
		"version: 2\nethernets: {e: {routes: [{to: default}], nameservers: {addresses: 5}}}\n",
		"{}", "", "version: 9", "- a",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tree, _, err := FromNetworkConfig(data)
		if err != nil || tree == nil {
			return
		}
		FromTree("fuzz", map[string]any{"berth": map[string]any{"network": tree}})
	})
}
