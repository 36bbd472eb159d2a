package cloudconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/fuzzmem"
)

// corpusSeeds adds the conformance corpus's files whose names have (or,
// with !netcfg, lack) the netcfg__ prefix, and the given files, as seeds.
// Without the corpus (a clone with no ../shared) it says so and fuzzes
// from the given files; where BERTH_REQUIRE_CONFORMANCE is set, that fails.
func corpusSeeds(f *testing.F, netcfg bool, extra ...string) {
	var files []string
	if dir, err := findConformance(); err != nil {
		if os.Getenv("BERTH_REQUIRE_CONFORMANCE") != "" {
			f.Fatalf("%v; BERTH_REQUIRE_CONFORMANCE is set", err)
		}
		f.Logf("NOT RUN: the corpus's seeds: %v", err)
	} else if files, err = filepath.Glob(filepath.Join(dir, "cloud-config", "*")); err != nil || len(files) == 0 {
		f.Fatalf("conformance corpus: %v, %d files", err, len(files))
	}
	for _, name := range append(files, extra...) {
		if strings.HasSuffix(name, ".md") || strings.HasPrefix(filepath.Base(name), "netcfg__") != netcfg {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// userDataBound is what parsing one user-data may allocate. The
// conformance corpus needs at most 350 KiB for a file (about 80 KiB for
// any file, then up to 340 bytes a byte for the smallest); the densest
// YAML strictyaml.MaxSigns lets through ({a,a,...}) needs about 230 bytes
// a byte. The input is counted after gzip, which may give 16 MiB
// (maxUserData) from 16 KiB; 16 MiB of block text, the most costly that
// gets through, allocates about 130 MiB in all, under the ceiling of 256
// MiB that half of a 512 MiB host can spare while booting.
var userDataBound = fuzzmem.Bound{Base: 64 * fuzzmem.MiB, PerByte: 256, Max: 256 * fuzzmem.MiB}

// User-data never panics the parser, is parsed within userDataBound, and
// what gzip gives stays within maxUserData; whatever Parse accepts
// survives a merge. CI runs the seeds (go test); make fuzz explores.
func FuzzParse(f *testing.F) {
	corpusSeeds(f, false, "testdata/full.yaml")
	for _, s := range []string{
		"#cloud-config\nhostname: a\n",
		"#!/bin/sh\necho hi\n",
		"#cloud-config\nusers: [default, {name: a, groups: 'x, y'}]\n",
		"#cloud-config\nwrite_files: [{path: /etc/a, encoding: gz+b64, content: H4sI}]\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/cloud-config\n\n#cloud-config\nhostname: m\n--b--\n",
		"#cloud-config\nberth: {network: {interfaces: {eth0: {addresses: [10.0.0.2/24], gateway: 10.0.0.1}}}}\n",
		"#cloud-config\nusers: {a: {shell: /bin/bash, homedir: /x}, b: null}\nchpasswd: {list: 'root:$6$x$y', users: [{name: a, password: '$6$x$y'}]}\n",
		"#cloud-config\npower_state: {mode: reboot, condition: [test, -e, /x], delay: 5}\nruncmd: [null, [], a]\nca-certs: {remove-defaults: true}\n",
		"#cloud-config-archive\n- {type: text/cloud-config, content: '#cloud-config\\nhostname: a'}\n- text\n",
		"#cloud-config\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\na1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\na2: [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\n",
		"\x1f\x8b\x08\x00",
		"",
	} {
		f.Add([]byte(s))
	}
	// testdata/fuzz/FuzzParse/gzip-dense-runcmd is 5 KiB of gzip that
	// gives 5 MiB of "- a" lines: 340 MiB of heap before strictyaml
	// counted signs (16 MiB took 1 GiB).
	f.Fuzz(func(t *testing.T, data []byte) {
		// The bound counts what gzip and MIME give, not only the input.
		n := len(data)
		total := 0
		if parts, err := SplitUserData(data); err == nil {
			for _, p := range parts {
				total += len(p.Data)
			}
			if total > len(data)+maxUserData {
				t.Errorf("%d bytes of user-data gave %d bytes of parts: over the %d bytes gzip may give", len(data), total, maxUserData)
			}
		}
		var doc *Document
		var err error
		fuzzmem.Check(t, userDataBound, max(n, total), func() { doc, err = Parse("fuzz", data) })
		if err != nil {
			return
		}
		if _, err := Merge(Layer{Name: LayerDatasource, Tree: doc.Tree}); err != nil {
			t.Errorf("accepted user-data does not merge: %v", err)
		}
	})
}

// keyBound: a key is a line of text; ParseKey copies it into segments a
// few times over, and the seeds need under 2 KiB.
var keyBound = fuzzmem.Bound{Base: 1 * fuzzmem.MiB, PerByte: 64}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"hostname", `berth.sysctl."net.ipv4.ip_forward"`, "users[0].name", "a..b", `"x"`, "[", `a."b\"c"`, "write_files[99999999999999999999].path"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var segs []Seg
		var err error
		fuzzmem.Check(t, keyBound, len(s), func() { segs, err = ParseKey(s) })
		if err != nil {
			return
		}
		again, err := ParseKey(FormatKey(segs))
		if err != nil || len(again) != len(segs) {
			t.Errorf("%q formats as %q, which does not parse back: %v", s, FormatKey(segs), err)
		}
	})
}

// networkConfigBound: network-config is read from the same datasources
// as user-data, with the same 16 MiB cap but no gzip. The corpus's files
// need under 250 KiB each; dense YAML within strictyaml.MaxSigns about
// 230 bytes a byte.
var networkConfigBound = fuzzmem.Bound{Base: 64 * fuzzmem.MiB, PerByte: 256, Max: 256 * fuzzmem.MiB}

// network-config of any shape never panics the conversion, is converted
// within networkConfigBound, and what it gives is a tree the schema
// decodes or rejects with an error.
func FuzzNetworkConfig(f *testing.F) {
	corpusSeeds(f, true)
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
		fuzzmem.Check(t, networkConfigBound, len(data), func() {
			tree, _, err := FromNetworkConfig(data)
			if err != nil || tree == nil {
				return
			}
			FromTree("fuzz", map[string]any{"berth": map[string]any{"network": tree}})
		})
	})
}
