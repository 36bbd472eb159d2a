//go:build qemu

package test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bombScript writes a YAML alias bomb to a file in the guest: ten levels of
// nine aliases to the level below, about 700 bytes that expand to 9^10
// (3.5 billion) nodes. Unchecked, it takes all the memory PID 1 can get.
const bombScript = `awk 'BEGIN { print "#cloud-config"; print "hostname: bombed"; ` +
	`print "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"; ` +
	`for (i = 1; i < 10; i++) { printf "a%d: &a%d [", i, i; ` +
	`for (j = 0; j < 9; j++) printf "%s*a%d", (j ? ", " : ""), i - 1; print "]" } }'`

// An alias bomb in user-data, on a machine of 512 MiB: boot reaches ready
// with the last valid user-data of that datasource, the error shows in
// hostctl config status, and PID 1's peak memory stays small. A fork of the
// saved ready machine, rebooted twice: once with good user-data on the
// state partition (which makes it the last valid one), once with the bomb.
func aliasBomb(t *testing.T) {
	m := fork(t, nil)
	const ud = "/var/lib/berth/config/user-data"
	m.sh("mkdir -p /var/lib/berth/config && printf '#cloud-config\\nhostname: cc-last-good\\n' > " + ud)
	m.Send("hostctl reboot\n")
	m.waitReady()
	if got := strings.TrimSpace(m.sh("hostname")); got != "cc-last-good" {
		t.Fatalf("hostname %q after good user-data, want cc-last-good", got)
	}
	m.sh(bombScript + " > " + ud + "; wc -c < " + ud)
	m.Send("hostctl reboot\n")
	m.waitReady()
	m.check("last-good", func(m *machine) {
		if got := strings.TrimSpace(m.sh("hostname")); got != "cc-last-good" {
			m.t.Errorf("hostname %q after the alias bomb, want the last good cc-last-good", got)
		}
	})
	m.check("error-shown", func(m *machine) {
		out, code := m.shCode("hostctl config status")
		if code == 0 || !strings.Contains(out, "too many nodes") || !strings.Contains(out, "user-data (state)") {
			m.t.Errorf("hostctl config status: exit %d, want non-zero naming user-data (state) and too many nodes:\n%s", code, out)
		}
	})
	// PID 1's peak resident memory this boot (VmHWM), well under the
	// machine's 512 MiB: the bomb was refused before it was expanded.
	m.check("pid1-memory", func(m *machine) {
		out := m.sh("awk '/^VmHWM/ {print $2}' /proc/1/status")
		kb, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			m.t.Fatalf("VmHWM %q: %v", out, err)
		}
		if kb > 96<<10 {
			m.t.Errorf("PID 1 peaked at %d KiB, want under 96 MiB", kb)
		}
		m.t.Logf("PID 1 peak RSS: %d KiB", kb)
	})
	// The consoles were told (init's alerts go to its log too).
	m.eventually("grep 'booting with the last good config' -A2 /var/log/init.log", regexp.MustCompile(`too many nodes`), time.Minute)
}
