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
