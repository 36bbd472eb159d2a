package ntp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/ntptest"
	"github.com/berth-os/berth/internal/timesync"
	"github.com/google/go-cmp/cmp"
)

// fakeClock records what the service asks of the clock.
type fakeClock struct {
	mu    sync.Mutex
	calls []string
}

func (c *fakeClock) Step(d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, fmt.Sprintf("step %v", d))
	return nil
}

func (c *fakeClock) Discipline(offset, maxErr, estErr time.Duration, leap int, poll time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, fmt.Sprintf("slew %v maxerr %v esterr %v leap %d poll %v", offset, maxErr, estErr, leap, poll))
	return nil
}

func (c *fakeClock) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// fakeSyncer asks the fake answers by address; a missing address does
// not answer.
func fakeSyncer(cfg timesync.Config, answers map[string]sample) (*syncer, *fakeClock) {
	c := &fakeClock{}
	s := newSyncer(cfg, c, func(string, ...any) {})
	s.now = func() time.Time { return now }
	s.query = func(_ context.Context, addr string) (sample, error) {
		a, ok := answers[addr]
		if !ok {
			return sample{}, errors.New("no answer within 2s")
		}
		a.Addr = addr
		return a, nil
	}
	s.lookup = func(_ context.Context, host string) ([]string, error) {
		switch host {
		case "pool.example.org":
			return []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, nil
		case "time.example.org":
			return []string{"192.0.2.10", "192.0.2.11"}, nil
		}
		return nil, fmt.Errorf("lookup %s: no such host", host)
	}
	return s, c
}

func one(host string, port int) timesync.Config {
	return timesync.Config{Enabled: true, Sources: []timesync.Source{{Host: host, Port: port}}}
}

// A clock years off is stepped on the first answer; the kernel then gets
// no offset left to slew, and the status says synchronised.
func TestRoundStepsAFarOffClock(t *testing.T) {
	sixYears := 6 * 365 * 24 * time.Hour
	s, c := fakeSyncer(one("10.0.2.2", 1230), map[string]sample{"10.0.2.2:1230": {Offset: sixYears, Delay: 2 * time.Millisecond, Stratum: 2, RootDisp: time.Millisecond}})
	if wait := s.round(context.Background()); wait != 16*time.Second {
		t.Errorf("next poll in %v, want 16s", wait)
	}
	want := []string{"step 52560h0m0s", "slew 0s maxerr 2ms esterr 1ms leap 0 poll 16s"}
	if diff := cmp.Diff(want, c.Calls()); diff != "" {
		t.Errorf("clock calls (-want +got)\n%s", diff)
	}
	st := s.status
	if !st.Synchronised || st.Source != "10.0.2.2:1230" || st.Address != "10.0.2.2:1230" || st.Stratum != 2 || st.Stepped != timesync.Duration(sixYears) || st.Error != "" {
		t.Errorf("status %+v", st)
	}
}

// Past the first updates the clock is never stepped, only slewed; a small
// offset is slewed from the start.
func TestRoundSlewsAfterTheFirstUpdates(t *testing.T) {
	answers := map[string]sample{"10.0.2.2:123": {Offset: 20 * time.Millisecond, Stratum: 1}}
	s, c := fakeSyncer(one("10.0.2.2", 123), answers)
	for i := 0; i < stepUpdates; i++ {
		s.round(context.Background())
	}
	answers["10.0.2.2:123"] = sample{Offset: 2 * time.Second, Stratum: 1}
	s.round(context.Background())
	got := c.Calls()
	for _, call := range got {
		if strings.HasPrefix(call, "step") {
			t.Errorf("stepped: %q", got)
		}
	}
	if last := got[len(got)-1]; !strings.HasPrefix(last, "slew 2s ") {
		t.Errorf("last call %q, want a slew by 2s", last)
	}
}

// No answer: not synchronised, the error names the address, and the
// retries back off from 2 s.
func TestRoundNoAnswer(t *testing.T) {
	s, c := fakeSyncer(one("10.0.2.2", 1230), nil)
	var waits []time.Duration
	for i := 0; i < 7; i++ {
		waits = append(waits, s.round(context.Background()))
	}
	if diff := cmp.Diff([]time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, 64 * time.Second, 64 * time.Second}, waits); diff != "" {
		t.Errorf("retries (-want +got)\n%s", diff)
	}
	if len(c.Calls()) != 0 {
		t.Errorf("the clock was touched: %q", c.Calls())
	}
	st := s.status
	if st.Synchronised || st.Source != "" || st.Error != "10.0.2.2:1230: no answer within 2s" || !st.Enabled {
		t.Errorf("status %+v", st)
	}
}

// Every candidate is asked; the one with the least root distance wins.
// A pool gives two of its addresses, a server one; a name that does not
// resolve is reported with the answers.
func TestRoundPicksTheNearestAnswer(t *testing.T) {
	cfg := timesync.Config{Enabled: true, Sources: []timesync.Source{
		{Host: "time.example.org", Port: 123}, {Pool: true, Host: "pool.example.org", Port: 123}, {Host: "gone.example.org", Port: 123}}}
	s, c := fakeSyncer(cfg, map[string]sample{
		"192.0.2.10:123": {Offset: 30 * time.Millisecond, Delay: 40 * time.Millisecond, Stratum: 2},
		"192.0.2.2:123":  {Offset: 10 * time.Millisecond, Delay: 4 * time.Millisecond, Stratum: 3},
		"192.0.2.3:123":  {Offset: 0, Delay: 0, Stratum: 1}, // a pool's third address is not asked
	})
	var asked []string
	var mu sync.Mutex
	q := s.query
	s.query = func(ctx context.Context, addr string) (sample, error) {
		mu.Lock()
		asked = append(asked, addr)
		mu.Unlock()
		return q(ctx, addr)
	}
	s.round(context.Background())
	st := s.status
	if st.Source != "pool.example.org" || st.Address != "192.0.2.2:123" || st.Stratum != 3 {
		t.Errorf("followed %s (%s), stratum %d; want pool.example.org (192.0.2.2:123)", st.Source, st.Address, st.Stratum)
	}
	if want := "look up gone.example.org: lookup gone.example.org: no such host\n192.0.2.1:123: no answer within 2s"; st.Error != want {
		t.Errorf("error %q, want %q", st.Error, want)
	}
	if len(asked) != 3 {
		t.Errorf("asked %q, want time.example.org's first address and two of the pool's", asked)
	}
	if got := c.Calls(); len(got) != 1 || !strings.HasPrefix(got[0], "slew 10ms maxerr 2ms") {
		t.Errorf("clock calls %q", got)
	}
}

func TestLeapDue(t *testing.T) {
	for _, tc := range []struct {
		leap int
		now  time.Time
		want int
	}{
		{leapInsert, time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC), leapInsert},
		{leapInsert, time.Date(2026, 6, 29, 23, 0, 0, 0, time.UTC), leapNone},
		{leapDelete, time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), leapDelete},
		{leapNone, time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), leapNone},
		{leapAlarm, time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), leapNone},
	} {
		if got := leapDue(tc.leap, tc.now); got != tc.want {
			t.Errorf("leapDue(%d, %v) = %d, want %d", tc.leap, tc.now, got, tc.want)
		}
	}
}

func TestTimeConstant(t *testing.T) {
	for poll, want := range map[time.Duration]int64{16 * time.Second: 0, 64 * time.Second: 2, 1024 * time.Second: 6, time.Second: 0} {
		if got := timeConstant(poll); got != want {
			t.Errorf("timeConstant(%v) = %d, want %d", poll, got, want)
		}
	}
}

// The service end to end with a real SNTP server on loopback and a fake
// clock: it reads the config PID 1 renders, steps the clock by the
// server's offset, writes a status hostctl reads, and on SIGHUP reads a
// config that turns it off.
func TestServiceFollowsAServer(t *testing.T) {
	srv := ntptest.Start(t, "127.0.0.1:0", func(s *ntptest.Server) { s.Offset = time.Hour })
	dir := t.TempDir()
	conf := filepath.Join(dir, "ntp.conf")
	status := filepath.Join(dir, "run", "status.json")
	os.WriteFile(conf, []byte(one("127.0.0.1", srv.Port()).Render()), 0o644)
	c := &fakeClock{}
	svc := &service{configPath: conf, statusPath: status, clock: c, logf: t.Logf}
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- svc.loop(ctx, hup) }()
	defer func() { cancel(); <-done }()

	st := waitStatus(t, status, func(s timesync.Status) bool { return s.Synchronised })
	if want := fmt.Sprintf("127.0.0.1:%d", srv.Port()); st.Source != want || st.Address != want || st.Stratum != 1 || !st.Enabled {
		t.Errorf("status %+v, want synchronised to %s", st, want)
	}
	calls := c.Calls()
	var stepped time.Duration
	if len(calls) < 2 || !strings.HasPrefix(calls[0], "step ") {
		t.Fatalf("clock calls %q, want a step first", calls)
	}
	stepped, _ = time.ParseDuration(strings.TrimPrefix(calls[0], "step "))
	if d := stepped - time.Hour; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("stepped by %v, want 1h", stepped)
	}

	os.WriteFile(conf, []byte("off\n"), 0o644)
	hup <- os.Interrupt
	waitStatus(t, status, func(s timesync.Status) bool { return !s.Enabled })
	// And on again: it starts over, so a far-off clock is stepped again.
	srv.Set(func(s *ntptest.Server) { s.Offset = -time.Hour })
	os.WriteFile(conf, []byte(one("127.0.0.1", srv.Port()).Render()), 0o644)
	hup <- os.Interrupt
	st = waitStatus(t, status, func(s timesync.Status) bool { return s.Enabled && s.Synchronised })
	if st.Stepped > -3599 || st.Stepped < -3601 {
		t.Errorf("after SIGHUP: stepped %vs, want -3600s", st.Stepped)
	}
}

// A config it cannot read stops it with the file and line, and the status
// file says so too.
func TestServiceBadConfig(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "ntp.conf")
	status := filepath.Join(dir, "status.json")
	os.WriteFile(conf, []byte("server a\nsever b\n"), 0o644)
	svc := &service{configPath: conf, statusPath: status, clock: &fakeClock{}, logf: t.Logf}
	err := svc.loop(context.Background(), nil)
	want := conf + `:2: expected "server HOST [port N]", "pool HOST [port N]" or "off", got "sever b"`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	if st, _ := timesync.ReadStatus(status); st.Error != want {
		t.Errorf("status error %q", st.Error)
	}
}

func waitStatus(t *testing.T, path string, ok func(timesync.Status) bool) timesync.Status {
	t.Helper()
	var st timesync.Status
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st, err = timesync.ReadStatus(path); err == nil && ok(st) {
			return st
		}
	}
	t.Fatalf("status never came: %+v, %v", st, err)
	return st
}
