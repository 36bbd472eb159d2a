package main

import (
	"fmt"
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

// sshd offers the types of ssh_genkeytypes and of the keys ssh_keys
// gives, in its order of preference; without ssh_genkeytypes, the default.
func TestHostKeyTypes(t *testing.T) {
	if got := hostKeyTypes([]string{"rsa", "ed25519"}, cloudconfig.SSHKeys{"ecdsa_private": "A", "ecdsa_public": "B"}); !cmp.Equal(got, []string{"ed25519", "ecdsa", "rsa"}) {
		t.Errorf("rsa, ed25519 and a given ecdsa key: %q", got)
	}
	if got := hostKeyTypes([]string{"ecdsa"}, nil); !cmp.Equal(got, []string{"ecdsa"}) {
		t.Errorf("ecdsa alone: %q", got)
	}
	if got := hostKeyTypes(nil, cloudconfig.SSHKeys{"rsa_private": "A"}); got != nil {
		t.Errorf("no ssh_genkeytypes: %q, want the default (none given)", got)
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

// The ntp service's config comes from cloud-config's ntp: servers and
// pools (with ports), the Debian pools when none is given, off when
// ntp.enabled is false.
func TestNTPConfig(t *testing.T) {
	no := false
	header := "# Rendered by Berth from cloud-config's ntp; the ntp service reads it.\n"
	debian := "pool 0.debian.pool.ntp.org port 123\npool 1.debian.pool.ntp.org port 123\npool 2.debian.pool.ntp.org port 123\npool 3.debian.pool.ntp.org port 123\n"
	for _, tc := range []struct {
		name string
		ntp  *cloudconfig.NTP
		want string
	}{
		{"no ntp key", nil, header + debian},
		{"ntp without servers or pools", &cloudconfig.NTP{}, header + debian},
		{"servers", &cloudconfig.NTP{Servers: []string{"10.0.2.2:1230", "time.example.org", "[fd00::1]:4123", "fd00::2"}},
			header + "server 10.0.2.2 port 1230\nserver time.example.org port 123\nserver fd00::1 port 4123\nserver fd00::2 port 123\n"},
		{"pools", &cloudconfig.NTP{Pools: []string{"pool.example.org"}}, header + "pool pool.example.org port 123\n"},
		{"servers and pools", &cloudconfig.NTP{Servers: []string{"a.example"}, Pools: []string{"b.example:1234"}},
			header + "server a.example port 123\npool b.example port 1234\n"},
		{"disabled", &cloudconfig.NTP{Enabled: &no, Servers: []string{"a.example"}},
			header + "# ntp.enabled is false: the clock is left alone.\noff\nserver a.example port 123\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged []string
			got := ntpConfig(tc.ntp, func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }).Render()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			if logged != nil {
				t.Errorf("logged %q", logged)
			}
		})
	}
	// An entry that slipped past validation is logged with its field path
	// and left out; the rest is kept.
	var logged []string
	got := ntpConfig(&cloudconfig.NTP{Servers: []string{"a.example", "b.example:99999"}}, func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }).Render()
	if want := header + "server a.example port 123\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if want := []string{`ntp: ntp.servers[1]: "b.example:99999": expected a port from 1 to 65535, got "99999"`}; !cmp.Equal(want, logged) {
		t.Errorf("logged %q, want %q", logged, want)
	}
}
