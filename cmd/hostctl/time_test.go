package hostctl

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/timesync"
	"github.com/google/go-cmp/cmp"
)

var (
	syncedKernel   = timesync.Kernel{Synchronised: true, State: "TIME_OK", Status: []string{"STA_PLL", "STA_NANO"}, MaxError: 0.0125, EstError: 0.00025, Offset: 0.000001, Freq: -3.5}
	unsyncedKernel = timesync.Kernel{Synchronised: false, State: "TIME_ERROR", Status: []string{"STA_UNSYNC"}, MaxError: 16, EstError: 16}
)

func TestPrintTime(t *testing.T) {
	now := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	synced := timesync.Status{Enabled: true, Synchronised: true, Sources: []string{"10.0.2.2:1230", "pool.example.org"},
		Source: "10.0.2.2:1230", Address: "10.0.2.2:1230", Stratum: 2, Offset: -0.000123, Delay: 0.0021,
		Stepped: 189345600.5, SteppedAt: now.Add(-70 * time.Second), LastSync: now.Add(-10 * time.Second), Poll: 16, Updated: now.Add(-10 * time.Second)}
	unanswered := timesync.Status{Enabled: true, Sources: []string{"10.0.2.2:1230"}, Poll: 8,
		Error: "10.0.2.2:1230: no answer within 2s\nlook up pool.example.org: no such host", Updated: now.Add(-3 * time.Second)}
	for _, tc := range []struct {
		name    string
		service *timesync.Status
		kernel  timesync.Kernel
		want    string
	}{
		{"synchronised", &synced, syncedKernel, `synchronised:  yes
source:        10.0.2.2:1230, stratum 2
offset:        -0.000123s, delay 0.002100s, measured 10s ago
stepped:       +189345600.500000s, 1m10s ago
servers:       10.0.2.2:1230, pool.example.org
next poll:     in 6s
kernel:        synchronised (TIME_OK), maxerror 0.012500s, esterror 0.000250s
kernel pll:    offset +0.000001s, frequency -3.500 ppm, status STA_PLL STA_NANO
`},
		{"no answer", &unanswered, unsyncedKernel, `synchronised:  no
source:        none yet
servers:       10.0.2.2:1230
next poll:     in 5s
error:         10.0.2.2:1230: no answer within 2s; look up pool.example.org: no such host
kernel:        unsynchronised (TIME_ERROR), maxerror 16.000000s, esterror 16.000000s
kernel pll:    offset +0.000000s, frequency +0.000 ppm, status STA_UNSYNC
`},
		{"the kernel disagrees", &synced, unsyncedKernel, "synchronised:  no (the time service follows 10.0.2.2:1230, but the kernel counts the clock as unsynchronised)\n"},
		{"disabled", &timesync.Status{Enabled: false}, unsyncedKernel, "synchronised:  no (ntp.enabled is false: the clock is left alone)\nkernel:        unsynchronised"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "status.json")
			b, _ := json.Marshal(tc.service)
			os.WriteFile(p, b, 0o644)
			r := readTime(p, func() (timesync.Kernel, error) { return tc.kernel, nil })
			var out bytes.Buffer
			printTime(&out, r, now)
			// Whole outputs are compared whole; the short cases are the
			// lines that matter.
			if strings.Count(tc.want, "\n") > 2 {
				if diff := cmp.Diff(tc.want, out.String()); diff != "" {
					t.Errorf("(-want +got)\n%s", diff)
				}
			} else if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out.String())
			}
		})
	}
}

// Through the command: a missing status file is named, the kernel's view
// is still shown, and -o json gives both.
func TestTimeCommand(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "status.json")
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		c := timeCmd(&out, func() (timesync.Kernel, error) { return unsyncedKernel, nil })
		c.SetArgs(args)
		c.SetOut(&out)
		c.SetErr(&out)
		err := c.ExecuteContext(context.Background())
		return out.String(), err
	}
	out, err := run("status", "--status-file", missing)
	if err != nil || !strings.Contains(out, "synchronised:  no\ntime service:  read time service status: open "+missing+": no such file or directory\nkernel:        unsynchronised (TIME_ERROR)") {
		t.Errorf("err %v, output:\n%s", err, out)
	}
	out, err = run("-o", "json", "--status-file", missing)
	var r timeReport
	if err != nil || json.Unmarshal([]byte(out), &r) != nil || r.Synchronised || r.Kernel == nil || r.Kernel.State != "TIME_ERROR" || !strings.Contains(r.ServiceError, "no such file") {
		t.Errorf("json: err %v, %+v from:\n%s", err, r, out)
	}
	if _, err := run("-o", "yaml"); err == nil || err.Error() != `-o: expected table or json, got "yaml"` {
		t.Errorf("-o yaml: %v", err)
	}
}
