//go:build qemu

package test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/ntptest"
)

// timeBoot boots with the guest's clock at 2020-01-01 (the RTC QEMU
// gives it) and cloud-config's ntp.servers naming a server on the host:
// QEMU's user network takes the guest's UDP to 10.0.2.2:N to the host's
// 127.0.0.1:N.
func timeBoot(t *testing.T, port int) *machine {
	cfg := directBoot(t, "berth.autologin")
	cfg.Extra = append(cfg.Extra, "-rtc", "base=2020-01-01T00:00:00")
	cfg.FwCfg["opt/berth/user-data"] = fmt.Sprintf("#cloud-config\nntp:\n  servers: [\"10.0.2.2:%d\"]\n", port)
	return boot(t, cfg)
}

// guestOffset is the guest's clock less the host's, in seconds, to within
// the console's round trip (which it also returns).
func guestOffset(m *machine) (offset, slack float64) {
	m.t.Helper()
	before := time.Now()
	out := m.sh("date +%s")
	after := time.Now()
	secs, err := strconv.ParseInt(lastLines(strings.TrimSpace(out), 1), 10, 64)
	if err != nil {
		m.t.Fatalf("date +%%s printed %q", out)
	}
	mid := before.Add(after.Sub(before) / 2)
	return float64(secs) - float64(mid.UnixNano())/1e9, after.Sub(before).Seconds()/2 + 1
}

// hostctlTime is hostctl time -o json.
type hostctlTime struct {
	Synchronised bool `json:"synchronised"`
	Service      *struct {
		Enabled      bool    `json:"enabled"`
		Synchronised bool    `json:"synchronised"`
		Source       string  `json:"source"`
		Stepped      float64 `json:"stepped"`
		Error        string  `json:"error"`
	} `json:"service"`
	Kernel *struct {
		Synchronised bool     `json:"synchronised"`
		Status       []string `json:"status"`
	} `json:"kernel"`
}

func (m *machine) hostctlTime() hostctlTime {
	m.t.Helper()
	out := m.sh("hostctl time -o json")
	var r hostctlTime
	if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &r) != nil {
		m.t.Fatalf("hostctl time -o json printed:\n%s", out)
	}
	return r
}

// TimeSync: a guest whose clock starts years off follows the NTP server
// cloud-config names: the ntp service steps the clock, hostctl time says
// synchronised with that source, and the kernel agrees. A live change to
// a server that answers nothing (the ntp service restarts) leaves it not
// synchronised, and hostctl says why; ntp.enabled: false turns it off.
func timeSync(t *testing.T) {
	srv := ntptest.Start(t, "127.0.0.1:0", nil)
	silent := ntptest.Start(t, "127.0.0.1:0", func(s *ntptest.Server) { s.Silent = true })
	m := timeBoot(t, srv.Port())
	source := fmt.Sprintf("10.0.2.2:%d", srv.Port())

	m.eventually("hostctl time", regexp.MustCompile(`synchronised:\s+yes`), 2*time.Minute)
	out := m.sh("hostctl time")
	if !regexp.MustCompile(`(?m)^source:\s+` + regexp.QuoteMeta(source) + `, stratum 1$`).MatchString(out) {
		t.Errorf("hostctl time does not name %s as the source:\n%s", source, out)
	}
	if !regexp.MustCompile(`(?m)^kernel:\s+synchronised \(TIME_OK\)`).MatchString(out) {
		t.Errorf("hostctl time: the kernel does not count the clock as synchronised:\n%s", out)
	}
	if off, slack := guestOffset(m); math.Abs(off) > 3+slack {
		t.Errorf("the guest's clock is %+.1fs off the host's after sync (allowed %.1fs)", off, 3+slack)
	}
	r := m.hostctlTime()
	// The clock started in 2020: the step was years.
	if !r.Synchronised || r.Service == nil || r.Service.Source != source || r.Service.Stepped < 5*365*86400 || r.Kernel == nil || !r.Kernel.Synchronised {
		t.Errorf("hostctl time -o json: %+v (service %+v, kernel %+v); want synchronised to %s after a step of years", r, r.Service, r.Kernel, source)
	}
	if srv.Requests.Load() == 0 {
		t.Error("the host's NTP server got no request")
	}
	// The service runs with CAP_SYS_TIME only, as the shipped golden says.
	if want, err := os.ReadFile(filepath.Join(moduleRoot, "test", "testdata", "service-privileges.golden")); err != nil {
		t.Error(err)
	} else if got := servicePrivileges(m.runScript(privilegesScript)); lineOf(got, "ntp ") != lineOf(string(want), "ntp ") || lineOf(got, "ntp ") == "" {
		t.Errorf("ntp's privileges %q, want %q", lineOf(got, "ntp "), lineOf(string(want), "ntp "))
	}

	// Live: a server that answers nothing. The ntp service restarts on
	// the change and stays unsynchronised.
	m.sh(fmt.Sprintf(`hostctl config set ntp.servers '["10.0.2.2:%d"]'`, silent.Port()))
	out = m.eventually("hostctl time", regexp.MustCompile(`error:\s+10\.0\.2\.2:`+strconv.Itoa(silent.Port())+`: no answer within 2s`), 2*time.Minute)
	if !regexp.MustCompile(`(?m)^synchronised:\s+no$`).MatchString(out) || !strings.Contains(out, "source:        none yet") {
		t.Errorf("with a server that answers nothing, hostctl time says:\n%s", out)
	}
	if silent.Requests.Load() == 0 {
		t.Error("the silent server got no request: the change did not reach the service")
	}
	if r := m.hostctlTime(); r.Synchronised || r.Service == nil || r.Service.Synchronised {
		t.Errorf("hostctl time -o json with no answer: %+v", r)
	}

	m.sh("hostctl config set ntp.enabled false")
	m.eventually("hostctl time", regexp.MustCompile(`synchronised:\s+no \(ntp.enabled is false`), time.Minute)
}

// TimeNoAnswer: when the only server answers nothing, the clock stays
// where the RTC put it, the kernel counts it as unsynchronised, and
// hostctl time says not synchronised and why.
func timeNoAnswer(t *testing.T) {
	silent := ntptest.Start(t, "127.0.0.1:0", func(s *ntptest.Server) { s.Silent = true })
	m := timeBoot(t, silent.Port())
	out := m.eventually("hostctl time", regexp.MustCompile(`error:\s+10\.0\.2\.2:`+strconv.Itoa(silent.Port())+`: no answer within 2s`), 2*time.Minute)
	if !regexp.MustCompile(`(?m)^synchronised:\s+no$`).MatchString(out) || !regexp.MustCompile(`(?m)^kernel:\s+unsynchronised`).MatchString(out) {
		t.Errorf("hostctl time:\n%s", out)
	}
	if y := lastLines(strings.TrimSpace(m.sh("date -u +%Y")), 1); y != "2020" {
		t.Errorf("the guest's year is %s, want 2020: nothing answered, so nothing may set the clock", y)
	}
	if r := m.hostctlTime(); r.Synchronised || r.Kernel == nil || r.Kernel.Synchronised {
		t.Errorf("hostctl time -o json: %+v", r)
	}
	if silent.Requests.Load() == 0 {
		t.Error("the server got no request")
	}
}

// lineOf is the first line of s that starts with prefix.
func lineOf(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
