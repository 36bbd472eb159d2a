package main

import (
	"testing"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/google/go-cmp/cmp"
)

func TestHostKeyFiles(t *testing.T) {
	got := hostKeyFiles(cloudconfig.SSHKeys{"ed25519_private": "A", "ed25519_public": "B", "rsa_private": "C"})
	want := map[string]string{"ssh_host_ed25519_key": "A", "ssh_host_ed25519_key.pub": "B", "ssh_host_rsa_key": "C"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if hostKeyFiles(nil) != nil {
		t.Error("no keys, yet files")
	}
}

func TestHostNames(t *testing.T) {
	for _, tc := range []struct{ fallback, hostname, fqdn, wantHost, wantFQDN string }{
		{"meta", "", "", "meta", ""},
		{"meta", "", "dev.local", "dev", "dev.local"},
		{"meta", "web", "web.example.com.", "web", "web.example.com"},
		{"meta", "web", "", "web", ""},
	} {
		h, f := hostNames(tc.fallback, tc.hostname, tc.fqdn)
		if h != tc.wantHost || f != tc.wantFQDN {
			t.Errorf("hostNames(%q, %q, %q) = %q, %q; want %q, %q", tc.fallback, tc.hostname, tc.fqdn, h, f, tc.wantHost, tc.wantFQDN)
		}
	}
}
