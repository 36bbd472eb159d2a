package network

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestApply(t *testing.T) {
	src := ipa("192.168.77.50")
	dflt := route{Dst: pfx("0.0.0.0/0"), Gw: ipa("192.168.77.1"), Src: src, Metric: 1026}
	net10 := route{Dst: pfx("10.0.0.0/8"), Gw: ipa("192.168.77.2"), Src: src, Metric: 1026}
	lease := linkConfig{
		Addr:   pfx("192.168.77.50/24"),
		Routes: []route{dflt},
		DNS:    []netip.Addr{ipa("192.168.77.53")},
		Lease:  30 * time.Second,
	}
	withMTU := lease
	withMTU.MTU = 1400
	moreRoutes := lease
	moreRoutes.Routes = []route{net10, dflt}
	moved := lease
	moved.Addr = pfx("192.168.77.51/24")
	moved.Routes = []route{{Dst: pfx("0.0.0.0/0"), Gw: ipa("192.168.77.1"), Src: ipa("192.168.77.51"), Metric: 1026}}
	forever := lease
	forever.Lease = infiniteLease

	tests := []struct {
		name string
		old  *linkConfig
		new  linkConfig
		fail map[string]error
		want []string
	}{
		{
			name: "first lease",
			new:  withMTU,
			want: []string{
				"set eth0 up mtu 1400",
				"replace eth0 addr 192.168.77.50/24 for 30s",
				"replace eth0 route 0.0.0.0/0 via 192.168.77.1 src 192.168.77.50 metric 1026",
			},
		},
		{
			name: "infinite lease: address forever",
			new:  forever,
			want: []string{
				"replace eth0 addr 192.168.77.50/24 forever",
				"replace eth0 route 0.0.0.0/0 via 192.168.77.1 src 192.168.77.50 metric 1026",
			},
		},
		{
			name: "renewal that changed nothing refreshes",
			old:  &withMTU,
			new:  withMTU,
			want: []string{
				"replace eth0 addr 192.168.77.50/24 for 30s",
				"replace eth0 route 0.0.0.0/0 via 192.168.77.1 src 192.168.77.50 metric 1026",
			},
		},
		{
			name: "renewal dropped a route",
			old:  &moreRoutes,
			new:  lease,
			want: []string{
				"replace eth0 addr 192.168.77.50/24 for 30s",
				"replace eth0 route 0.0.0.0/0 via 192.168.77.1 src 192.168.77.50 metric 1026",
				"delete eth0 route 10.0.0.0/8 via 192.168.77.2 src 192.168.77.50 metric 1026",
			},
		},
		{
			name: "renewal with another address",
			old:  &moreRoutes,
			new:  moved,
			want: []string{
				"delete eth0 route 0.0.0.0/0 via 192.168.77.1 src 192.168.77.50 metric 1026",
				"delete eth0 route 10.0.0.0/8 via 192.168.77.2 src 192.168.77.50 metric 1026",
				"delete eth0 addr 192.168.77.50/24 for 30s",
				"replace eth0 addr 192.168.77.51/24 for 30s",
				"replace eth0 route 0.0.0.0/0 via 192.168.77.1 src 192.168.77.51 metric 1026",
			},
		},
		{
			name: "no routes without the address",
			new:  lease,
			fail: map[string]error{"replace eth0 addr 192.168.77.50/24 for 30s": errors.New("boom")},
			want: []string{
				"replace eth0 addr 192.168.77.50/24 for 30s",
			},
		},
		{
			name: "a failed route does not stop the next",
			new:  moreRoutes,
			fail: map[string]error{"replace eth0 route 10.0.0.0/8 via 192.168.77.2 src 192.168.77.50 metric 1026": errors.New("boom")},
			want: []string{
				"replace eth0 addr 192.168.77.50/24 for 30s",
				"replace eth0 route 10.0.0.0/8 via 192.168.77.2 src 192.168.77.50 metric 1026",
				"replace eth0 route 0.0.0.0/0 via 192.168.77.1 src 192.168.77.50 metric 1026",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := &journal{}
			err := apply(&recorder{j: j, fail: tc.fail}, "eth0", tc.old, tc.new)
			// apply returns every failure it met, and nothing else.
			if len(tc.fail) == 0 && err != nil {
				t.Errorf("apply error %v, want none", err)
			}
			for call, want := range tc.fail {
				if !errors.Is(err, want) {
					t.Errorf("apply error %v, want it to hold the failure of %q", err, call)
				}
			}
			if diff := cmp.Diff(tc.want, j.get()); diff != "" {
				t.Errorf("apply calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	src := ipa("192.168.77.50")
	cfg := linkConfig{
		Addr: pfx("192.168.77.50/32"),
		Routes: []route{
			{Dst: pfx("10.128.0.1/32"), Src: src, Metric: 1026},
			{Dst: pfx("0.0.0.0/0"), Gw: ipa("10.128.0.1"), Src: src, Metric: 1026},
		},
		Lease: time.Hour,
	}
	j := &journal{}
	if err := remove(&recorder{j: j}, "eth0", cfg); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"delete eth0 route 0.0.0.0/0 via 10.128.0.1 src 192.168.77.50 metric 1026",
		"delete eth0 route 10.128.0.1/32 src 192.168.77.50 metric 1026",
		"delete eth0 addr 192.168.77.50/32 for 1h0m0s",
	}
	if diff := cmp.Diff(want, j.get()); diff != "" {
		t.Errorf("remove calls (-want +got):\n%s", diff)
	}
}
