package main

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func TestRenderResolv(t *testing.T) {
	tests := []struct {
		name   string
		leases map[string]linkConfig
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := renderResolv(tc.leases)
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
