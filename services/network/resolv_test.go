package network

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-os/berth/internal/netconfig"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func TestRenderResolv(t *testing.T) {
	tests := []struct {
		name   string
		leases map[string]linkConfig
		dns    netconfig.Resolver
	}{
		{name: "none"},
		{
			name: "one",
			leases: map[string]linkConfig{
				"eth0": {DNS: []netip.Addr{ipa("192.168.77.53")}, Search: []string{"example.test"}},
			},
		},
		{
			// Ordered by link name, without repeats.
			name: "two",
			leases: map[string]linkConfig{
				"eth1": {DNS: []netip.Addr{ipa("10.1.0.53"), ipa("192.168.77.53")}, Search: []string{"lab.test", "example.test"}},
				"eth0": {DNS: []netip.Addr{ipa("192.168.77.53"), ipa("9.9.9.9")}, Search: []string{"example.test"}},
			},
		},
		{
			name: "search only",
			leases: map[string]linkConfig{
				"eth0": {Search: []string{"example.test"}},
			},
		},
		{
			// The configuration's name servers and search domains
			// replace the leases'.
			name: "static",
			leases: map[string]linkConfig{
				"eth0": {DNS: []netip.Addr{ipa("192.168.77.53")}, Search: []string{"example.test"}},
			},
			dns: netconfig.Resolver{Nameservers: []netip.Addr{ipa("1.1.1.1"), ipa("2606:4700:4700::1111")}, Search: []string{"example.com", "lab.example.com"}},
		},
		{
			// Name servers only: the search domains are the leases'.
			name: "static nameservers",
			leases: map[string]linkConfig{
				"eth0": {DNS: []netip.Addr{ipa("192.168.77.53")}, Search: []string{"example.test"}},
			},
			dns: netconfig.Resolver{Nameservers: []netip.Addr{ipa("9.9.9.9")}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := renderResolv(tc.leases, tc.dns)
			golden := filepath.Join("testdata", "resolv-"+strings.ReplaceAll(tc.name, " ", "-")+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("renderResolv (-want +got):\n%s", diff)
			}
		})
	}
}
