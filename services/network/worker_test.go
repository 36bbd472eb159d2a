package network

import (
	"bytes"
	"context"
	"errors"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

func TestBackoff(t *testing.T) {
	b := backoff{min: 2 * time.Second, max: time.Minute}
	tests := []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{0, 0, 2 * time.Second},
		{1, 0, 4 * time.Second},
		{2, 0, 8 * time.Second},
		{4, 0, 32 * time.Second},
		{5, 0, time.Minute},
		{0, 0.5, 2250 * time.Millisecond},
		{4, 0.999999, 39999992 * time.Microsecond},
		// Capped, and no overflow however long it goes on.
		{5, 0.999999, time.Minute},
		{1000, 0.5, time.Minute},
		{1 << 30, 0.999999, time.Minute},
	}
	for _, tc := range tests {
		got := b.delay(tc.attempt, tc.r)
		if got.Round(time.Microsecond) != tc.want {
			t.Errorf("delay(%d, %v) = %s, want %s", tc.attempt, tc.r, got, tc.want)
		}
	}
	// Never a hot loop, never more than the cap.
	for n := 0; n < 100; n++ {
		for _, r := range []float64{0, 0.5, 0.999999} {
			if d := b.delay(n, r); d < b.min || d > b.max {
				t.Errorf("delay(%d, %v) = %s, out of [%s, %s]", n, r, d, b.min, b.max)
			}
		}
	}
}

// step is one scripted answer of a scriptLeaser.
type step struct {
	call  string // "discover", "renew" or "rebind"
	lease *nclient4.Lease
	err   error
	took  time.Duration // how long the exchange lasted
}

// scriptLeaser answers from its script and cancels the worker's context
// when the script is over.
type scriptLeaser struct {
	t      *testing.T
	j      *journal
	clock  *fakeClock
	steps  []step
	cancel context.CancelFunc
}

func (s *scriptLeaser) next(call string) (*nclient4.Lease, error) {
	s.j.add("%s", call)
	if len(s.steps) == 0 {
		s.t.Errorf("unscripted %s", call)
		s.cancel()
		return nil, context.Canceled
	}
	st := s.steps[0]
	s.steps = s.steps[1:]
	if st.call != call {
		s.t.Errorf("%s, want %s", call, st.call)
	}
	if len(s.steps) == 0 {
		s.cancel()
	}
	s.clock.After(st.took)
	return st.lease, st.err
}

func (s *scriptLeaser) Discover(context.Context) (*nclient4.Lease, error) { return s.next("discover") }
func (s *scriptLeaser) Renew(context.Context, *nclient4.Lease) (*nclient4.Lease, error) {
	return s.next("renew")
}
func (s *scriptLeaser) Rebind(context.Context, *nclient4.Lease) (*nclient4.Lease, error) {
	return s.next("rebind")
}

func TestWorker(t *testing.T) {
	noAnswer := errors.New("no answer")
	nak := &nclient4.ErrNak{Nak: &dhcpv4.DHCPv4{}}
	const (
		up       = "set eth0 up mtu 0"
		addr100  = "replace eth0 addr 192.168.77.50/24 for 1m40s"
		route    = "replace eth0 route 0.0.0.0/0 via 192.168.77.1 src 192.168.77.50 metric 1026"
		delRoute = "delete eth0 route 0.0.0.0/0 via 192.168.77.1 src 192.168.77.50 metric 1026"
		delAddr  = "delete eth0 addr 192.168.77.50/24 for 1m40s"
	)
	tests := []struct {
		name    string
		steps   func(t *testing.T) []step
		stalled bool // the clock never fires: only a kick ends a wait
		kick    bool
		// noCarrier starts the worker on a link without carrier.
		noCarrier bool
		want      []string
		wantLog   []string
	}{
		{
			name: "no server: discover with growing backoff",
			steps: func(t *testing.T) []step {
				return []step{{"discover", nil, noAnswer, 0}, {"discover", nil, noAnswer, 0}, {"discover", nil, noAnswer, 0}, {"discover", nil, noAnswer, 0}}
			},
			want: []string{"0s " + up, "0s discover", "2s discover", "6s discover", "14s discover"},
		},
		{
			name:    "carrier up cuts the backoff short",
			stalled: true,
			kick:    true,
			steps: func(t *testing.T) []step {
				return []step{{"discover", nil, noAnswer, 0}, {"discover", nil, noAnswer, 0}}
			},
			want:    []string{"0s " + up, "0s discover", "0s discover"},
			wantLog: []string{"eth0: carrier up, discover now"},
		},
		{
			name:      "no carrier: first discover waits for it",
			noCarrier: true,
			steps: func(t *testing.T) []step {
				return []step{{"discover", nil, noAnswer, 0}}
			},
			want:    []string{"0s " + up, "5s discover"},
			wantLog: []string{"eth0: no carrier after 5s, discover anyway"},
		},
		{
			name:      "no carrier: until it comes",
			noCarrier: true,
			stalled:   true,
			kick:      true,
			steps: func(t *testing.T) []step {
				return []step{{"discover", nil, noAnswer, 0}}
			},
			want: []string{"0s " + up, "0s discover"},
		},
		{
			name: "lease kept by renewals",
			steps: func(t *testing.T) []step {
				l := newLease(t, lan(100*time.Second)...)
				return []step{{"discover", l, nil, 0}, {"renew", l, nil, 0}, {"renew", nil, noAnswer, 0}, {"rebind", l, nil, 0}, {"renew", l, nil, 0}}
			},
			want: []string{
				"0s " + up, "0s discover", "0s " + addr100, "0s " + route, "0s report 192.168.77.50/24",
				// T1 is half the lease.
				"50s renew", "50s " + addr100, "50s " + route, "50s report 192.168.77.50/24",
				"1m40s renew",
				// No answer: the next try waits for T2 (50s+87.5s), since a
				// minute is more than the time left, and so it rebinds.
				"2m17.5s rebind", "2m17.5s " + addr100, "2m17.5s " + route, "2m17.5s report 192.168.77.50/24",
				"3m7.5s renew",
			},
			wantLog: []string{
				"eth0: lease 192.168.77.50/24 gw 192.168.77.1 dns 192.168.77.53 search example.test for 1m40s",
				"eth0: renewed 192.168.77.50/24 gw 192.168.77.1 dns 192.168.77.53 search example.test for 1m40s",
			},
		},
		{
			name: "no answer: renew, rebind, expire, discover again",
			steps: func(t *testing.T) []step {
				l := newLease(t, lan(100*time.Second)...)
				return []step{{"discover", l, nil, 0}, {"renew", nil, noAnswer, 0}, {"rebind", nil, noAnswer, 0}, {"discover", nil, noAnswer, 0}}
			},
			want: []string{
				"0s " + up, "0s discover", "0s " + addr100, "0s " + route, "0s report 192.168.77.50/24",
				"50s renew",
				"1m27.5s rebind",
				"1m40s " + delRoute, "1m40s " + delAddr, "1m40s report none",
				"1m40s discover",
			},
			wantLog: []string{"eth0: lease 192.168.77.50/24 expired, removed"},
		},
		{
			name: "renewal that lasts past T2: rebind at once",
			steps: func(t *testing.T) []step {
				l := newLease(t, lan(100*time.Second)...)
				return []step{{"discover", l, nil, 0}, {"renew", nil, noAnswer, 40 * time.Second}, {"rebind", l, nil, 0}, {"renew", l, nil, 0}}
			},
			want: []string{
				"0s " + up, "0s discover", "0s " + addr100, "0s " + route, "0s report 192.168.77.50/24",
				"50s renew",
				"1m30s rebind", "1m30s " + addr100, "1m30s " + route, "1m30s report 192.168.77.50/24",
				"2m20s renew",
			},
			wantLog: []string{"eth0: no answer; rebinding now", "eth0: rebound 192.168.77.50/24 gw 192.168.77.1 dns 192.168.77.53 search example.test for 1m40s"},
		},
		{
			name: "rebound by another server",
			steps: func(t *testing.T) []step {
				l := newLease(t, lan(100*time.Second)...)
				other := newLease(t, append(lan(200*time.Second),
					dhcpv4.WithOption(dhcpv4.OptServerIdentifier(ipa("192.168.77.2").AsSlice())),
					dhcpv4.WithRouter(ipa("192.168.77.2").AsSlice()))...)
				return []step{{"discover", l, nil, 0}, {"renew", nil, noAnswer, 0}, {"rebind", other, nil, 0}, {"renew", other, nil, 0}}
			},
			want: []string{
				"0s " + up, "0s discover", "0s " + addr100, "0s " + route, "0s report 192.168.77.50/24",
				"50s renew",
				"1m27.5s rebind",
				"1m27.5s replace eth0 addr 192.168.77.50/24 for 3m20s",
				"1m27.5s replace eth0 route 0.0.0.0/0 via 192.168.77.2 src 192.168.77.50 metric 1026",
				"1m27.5s delete eth0 route 0.0.0.0/0 via 192.168.77.1 src 192.168.77.50 metric 1026",
				"1m27.5s report 192.168.77.50/24",
				// T1 of the new lease, counted from the rebinding.
				"3m7.5s renew",
			},
			wantLog: []string{
				"eth0: no answer; again in 38s",
				"eth0: rebound 192.168.77.50/24 gw 192.168.77.2 dns 192.168.77.53 search example.test for 3m20s",
			},
		},
		{
			name: "refused renewal: remove and discover",
			steps: func(t *testing.T) []step {
				l := newLease(t, lan(100*time.Second)...)
				return []step{{"discover", l, nil, 0}, {"renew", nil, nak, 0}, {"discover", nil, noAnswer, 0}}
			},
			want: []string{
				"0s " + up, "0s discover", "0s " + addr100, "0s " + route, "0s report 192.168.77.50/24",
				"50s renew",
				"50s " + delRoute, "50s " + delAddr, "50s report none",
				"50s discover",
			},
			wantLog: []string{"eth0: lease 192.168.77.50/24 refused by the server, removed"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			clk := newFakeClock()
			clk.stalled = tc.stalled
			j := &journal{clock: clk}
			var logs bytes.Buffer
			kick := make(chan struct{}, 1)
			if tc.kick {
				kick <- struct{}{}
			}
			w := &worker{
				link:    "eth0",
				metric:  1026,
				dhcp:    &scriptLeaser{t: t, j: j, clock: clk, steps: tc.steps(t), cancel: cancel},
				conf:    &recorder{j: j},
				log:     log.New(&logs, "", 0),
				clock:   clk,
				random:  func() float64 { return 0 },
				kick:    kick,
				carrier: !tc.noCarrier,
				report: func(_ context.Context, cfg *linkConfig) {
					if cfg == nil {
						j.add("report none")
					} else {
						j.add("report %s", cfg.Addr)
					}
				},
			}
			done := make(chan struct{})
			go func() {
				w.run(ctx)
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("worker still running; journal so far:\n%s", strings.Join(j.get(), "\n"))
			}
			if diff := cmp.Diff(tc.want, j.get()); diff != "" {
				t.Errorf("journal (-want +got):\n%s", diff)
			}
			lines := strings.Split(logs.String(), "\n")
			for _, want := range tc.wantLog {
				found := false
				for _, l := range lines {
					found = found || l == want
				}
				if !found {
					t.Errorf("log lacks %q; log:\n%s", want, logs.String())
				}
			}
		})
	}
}
