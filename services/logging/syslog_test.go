package logging

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseSyslog(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want syslogMsg
	}{{
		name: "glibc with pid",
		in:   "<30>Nov 23 04:55:00 dhcpcd[42]: eth0: leased 10.0.2.15",
		want: syslogMsg{Facility: 3, Severity: 6, Tag: "dhcpcd", PID: "42", Msg: "eth0: leased 10.0.2.15"},
	}, {
		name: "glibc without pid, one-digit day",
		in:   "<86>Nov  3 04:55:00 sshd: session opened",
		want: syslogMsg{Facility: 10, Severity: 6, Tag: "sshd", Msg: "session opened"},
	}, {
		name: "busybox logger, trailing newline",
		in:   "<13>Nov 23 04:55:00 root: hello world\n",
		want: syslogMsg{Facility: 1, Severity: 5, Tag: "root", Msg: "hello world"},
	}, {
		name: "no timestamp",
		in:   "<14>myprog[7]: started",
		want: syslogMsg{Facility: 1, Severity: 6, Tag: "myprog", PID: "7", Msg: "started"},
	}, {
		name: "no timestamp, no pid",
		in:   "<0>kernel-ish: panic",
		want: syslogMsg{Facility: 0, Severity: 0, Tag: "kernel-ish", Msg: "panic"},
	}, {
		name: "pid without colon",
		in:   "<14>Nov 23 04:55:00 prog[7] text",
		want: syslogMsg{Facility: 1, Severity: 6, Tag: "prog", PID: "7", Msg: "text"},
	}, {
		name: "no tag",
		in:   "<14>Nov 23 04:55:00 just some words",
		want: syslogMsg{Facility: 1, Severity: 6, Msg: "just some words"},
	}, {
		name: "RFC 3339 timestamp",
		in:   "<191>2024-11-23T04:55:00.123+01:00 app[1]: x",
		want: syslogMsg{Facility: 23, Severity: 7, Tag: "app", PID: "1", Msg: "x"},
	}, {
		name: "RFC 5424 with nil fields",
		in:   "<165>1 2024-11-23T04:55:00Z host app 123 ID47 - message here",
		want: syslogMsg{Facility: 20, Severity: 5, Tag: "app", PID: "123", Msg: "message here"},
	}, {
		name: "RFC 5424 with structured data and BOM",
		in:   "<165>1 - - app - - [ex@32473 a=\"1\" b=\"x\\]y\"][y@1 c=\"2\"] \ufeffhi there",
		want: syslogMsg{Facility: 20, Severity: 5, Tag: "app", Msg: "hi there"},
	}, {
		name: "RFC 5424 without message",
		in:   "<13>1 2024-11-23T04:55:00Z host app - -",
		want: syslogMsg{Facility: 1, Severity: 5, Tag: "app"},
	}, {
		name: "PRI too large",
		in:   "<192>Nov 23 04:55:00 prog: x",
		want: syslogMsg{Facility: 1, Severity: 5, Msg: "<192>Nov 23 04:55:00 prog: x"},
	}, {
		name: "PRI not a number",
		in:   "<ab>prog: x",
		want: syslogMsg{Facility: 1, Severity: 5, Msg: "<ab>prog: x"},
	}, {
		name: "PRI not closed",
		in:   "<13 prog: x",
		want: syslogMsg{Facility: 1, Severity: 5, Msg: "<13 prog: x"},
	}, {
		name: "PRI empty",
		in:   "<>prog: x",
		want: syslogMsg{Facility: 1, Severity: 5, Msg: "<>prog: x"},
	}, {
		name: "no PRI",
		in:   "plain text",
		want: syslogMsg{Facility: 1, Severity: 5, Msg: "plain text"},
	}, {
		name: "empty",
		in:   "",
		want: syslogMsg{Facility: 1, Severity: 5},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, parseSyslog([]byte(tc.in))); diff != "" {
				t.Errorf("parse %q (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestSyslogFormat(t *testing.T) {
	at := time.Date(2024, 11, 23, 4, 55, 0, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		m    syslogMsg
		want string
	}{
		{"tag and pid", syslogMsg{Facility: 3, Severity: 6, Tag: "dhcpcd", PID: "42", Msg: "leased"},
			"2024-11-23T03:55:00.123456Z berth-1 daemon.info dhcpcd[42]: leased\n"},
		{"tag only", syslogMsg{Facility: 10, Severity: 3, Tag: "sshd", Msg: "denied"},
			"2024-11-23T03:55:00.123456Z berth-1 authpriv.err sshd: denied\n"},
		{"no tag", syslogMsg{Facility: 23, Severity: 7, Msg: "words"},
			"2024-11-23T03:55:00.123456Z berth-1 local7.debug words\n"},
		{"multi-line message", syslogMsg{Facility: 0, Severity: 0, Tag: "k", Msg: "a\nb"},
			"2024-11-23T03:55:00.123456Z berth-1 kern.emerg k: a#012b\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.m.format(at, "berth-1")); diff != "" {
				t.Errorf("line (-want +got):\n%s", diff)
			}
		})
	}
}
