package logging

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/fuzzmem"
)

// syslogBound: a datagram on /dev/log, which any process of the host or
// a container with the socket bound in may send, is at most maxDatagram
// (64 KiB). Parsing it and formatting the line copies it a few times, and
// clean writes a control byte as four (#ooo); the seeds need under 1 KiB.
var syslogBound = fuzzmem.Bound{Base: 1 * fuzzmem.MiB, PerByte: 32}

// A datagram of any shape never panics parseSyslog or format, is handled
// within syslogBound, and gives exactly one line of the messages file,
// whose facility and severity have names.
func FuzzSyslog(f *testing.F) {
	for _, s := range []string{
		"<30>Nov 23 04:55:00 dhcpcd[42]: eth0: leased 10.0.2.15",
		"<86>Nov  3 04:55:00 sshd: session opened",
		"<13>Nov 23 04:55:00 root: hello world\n",
		"<14>myprog[7]: started",
		"<14>Nov 23 04:55:00 prog[7] text",
		"<191>2024-11-23T04:55:00.123+01:00 app[1]: x",
		"<165>1 2024-11-23T04:55:00Z host app 123 ID47 - message here",
		"<165>1 - - app - - [ex@32473 a=\"1\" b=\"x\\]y\"][y@1 c=\"2\"] \ufeffhi there",
		"<13>1 2024-11-23T04:55:00Z host app - -",
		"<192>Nov 23 04:55:00 prog: x", "<ab>prog: x", "<13 prog: x", "<>prog: x",
		"<13>tag[1 2]: a\r\nb\x00\x1b[31m\x7f", "plain text", "",
	} {
		f.Add([]byte(s))
	}
	received := time.Date(2024, 11, 23, 4, 55, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m syslogMsg
		var line string
		fuzzmem.Check(t, syslogBound, len(data), func() {
			m = parseSyslog(data)
			line = m.format(received, "host")
		})
		if m.Facility < 0 || m.Facility >= len(facilityNames) || m.Severity < 0 || m.Severity >= len(severityNames) {
			t.Errorf("facility %d, severity %d", m.Facility, m.Severity)
		}
		if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 || strings.ContainsAny(line, "\r\x00") {
			t.Errorf("%q gives not one line: %q", data, line)
		}
		if !strings.HasPrefix(line, "2024-11-23T04:55:00.000000Z host ") {
			t.Errorf("%q gives a line without its time and host: %q", data, line)
		}
	})
}
