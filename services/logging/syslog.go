package logging

import (
	"errors"
	"net"
	"os"
	"strings"
	"time"
)

// syslogFile is the file syslog messages go to.
const syslogFile = "messages"

// syslogMsg is one parsed syslog datagram.
type syslogMsg struct {
	Facility int
	Severity int
	Tag      string // program name; "" if the message had none
	PID      string
	Msg      string
}

// facilityNames and severityNames are the names rsyslog uses.
var facilityNames = [...]string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

var severityNames = [...]string{
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
}

// defaultPRI is user.notice, what RFC 3164 says a message without a valid
// PRI is.
const defaultPRI = 1<<3 | 5

// parseSyslog parses a datagram as glibc's syslog(3), busybox and
// util-linux logger send it to /dev/log:
//
//	<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG
//
// The timestamp, the PID and the TAG are optional, and an RFC 5424 message
// (<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG) is read loosely for its
// APP, PROCID and MSG. The time in the message is ignored: the receive time is
// logged. Nothing is rejected: a datagram without a valid PRI is, as RFC
// 3164 says, all message, at user.notice.
func parseSyslog(b []byte) syslogMsg {
	s := strings.TrimRight(string(b), "\r\n\x00")
	pri, rest, ok := cutPRI(s)
	if !ok {
		return syslogMsg{Facility: defaultPRI >> 3, Severity: defaultPRI & 7, Msg: s}
	}
	m := syslogMsg{Facility: pri >> 3, Severity: pri & 7}
	if r, ok := strings.CutPrefix(rest, "1 "); ok {
		return parse5424(m, r)
	}
	rest = skipTimestamp(rest)
	m.Tag, m.PID, m.Msg = cutTag(rest)
	return m
}

// cutPRI splits "<PRI>rest" with PRI a number from 0 to 191.
func cutPRI(s string) (int, string, bool) {
	if !strings.HasPrefix(s, "<") {
		return 0, s, false
	}
	end := strings.IndexByte(s, '>')
	if end < 2 || end > 4 {
		return 0, s, false
	}
	pri := 0
	for _, c := range s[1:end] {
		if c < '0' || c > '9' {
			return 0, s, false
		}
		pri = pri*10 + int(c-'0')
	}
	if pri > 191 {
		return 0, s, false
	}
	return pri, s[end+1:], true
}

// skipTimestamp drops a leading "Mmm dd hh:mm:ss " or RFC 3339 timestamp.
func skipTimestamp(s string) string {
	if len(s) > len(time.Stamp) && s[len(time.Stamp)] == ' ' {
		if _, err := time.Parse(time.Stamp, s[:len(time.Stamp)]); err == nil {
			return s[len(time.Stamp)+1:]
		}
	}
	if first, rest, ok := strings.Cut(s, " "); ok && len(first) >= len("2006-01-02T15:04:05Z") {
		if _, err := time.Parse(time.RFC3339Nano, first); err == nil {
			return rest
		}
	}
	return s
}

// cutTag splits "TAG[PID]: MSG" or "TAG: MSG". Text without such a tag is
// all message.
func cutTag(s string) (tag, pid, msg string) {
	i := strings.IndexAny(s, ":[ ")
	if i <= 0 {
		return "", "", s
	}
	tag, rest := s[:i], s[i:]
	if rest[0] == '[' {
		end := strings.IndexByte(rest, ']')
		if end < 0 || strings.ContainsRune(rest[1:end], ' ') {
			return "", "", s
		}
		pid, rest = rest[1:end], rest[end+1:]
	}
	rest, ok := strings.CutPrefix(rest, ":")
	if !ok {
		if pid == "" {
			return "", "", s
		}
		// "TAG[PID] MSG": busybox syslogd accepts it, so do we.
	}
	return tag, pid, strings.TrimPrefix(rest, " ")
}

// parse5424 reads "TIMESTAMP HOST APP PROCID MSGID SD MSG" after the version.
func parse5424(m syslogMsg, s string) syslogMsg {
	fields := make([]string, 0, 5)
	for len(fields) < 5 {
		f, rest, ok := strings.Cut(s, " ")
		fields = append(fields, f)
		s = rest
		if !ok {
			break
		}
	}
	nilDash := func(i int) string {
		if i >= len(fields) || fields[i] == "-" {
			return ""
		}
		return fields[i]
	}
	m.Tag, m.PID = nilDash(2), nilDash(3)
	m.Msg = strings.TrimPrefix(skipSD(s), "\ufeff")
	return m
}

// skipSD drops the structured data ("-" or "[id k="v"]...") and the space after it.
func skipSD(s string) string {
	if r, ok := strings.CutPrefix(s, "-"); ok {
		return strings.TrimPrefix(r, " ")
	}
	for strings.HasPrefix(s, "[") {
		inQuote := false
		end := -1
		for i := 1; i < len(s) && end < 0; i++ {
			switch {
			case s[i] == '\\' && inQuote:
				i++ // escaped ", \ or ]
			case s[i] == '"':
				inQuote = !inQuote
			case s[i] == ']' && !inQuote:
				end = i
			}
		}
		if end < 0 {
			return s // not structured data after all
		}
		s = s[end+1:]
	}
	return strings.TrimPrefix(s, " ")
}

// format is the line written to the messages file.
func (m syslogMsg) format(received time.Time, host string) string {
	var b strings.Builder
	b.WriteString(stamp(received))
	b.WriteByte(' ')
	b.WriteString(host)
	b.WriteByte(' ')
	b.WriteString(facilityNames[m.Facility])
	b.WriteByte('.')
	b.WriteString(severityNames[m.Severity])
	b.WriteByte(' ')
	if m.Tag != "" {
		b.WriteString(clean(m.Tag))
		if m.PID != "" {
			b.WriteString("[" + clean(m.PID) + "]")
		}
		b.WriteString(": ")
	}
	b.WriteString(clean(m.Msg))
	b.WriteByte('\n')
	return b.String()
}

// maxDatagram bounds one syslog message; longer ones are cut.
const maxDatagram = 64 << 10

// serveSyslog writes every datagram on c to the messages file until stop is
// closed, then reads for drainGrace what was already sent.
func (s *service) serveSyslog(c *net.UnixConn, stop <-chan struct{}) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-stop:
			c.SetReadDeadline(time.Now().Add(drainGrace))
		case <-done:
		}
	}()
	buf := make([]byte, maxDatagram)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			line := parseSyslog(buf[:n]).format(time.Now(), s.hostname())
			s.files.Append(syslogFile, line) // Append logs its failures
		}
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
				s.log.Printf("syslog: read: %v", err)
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
					continue
				}
			}
			return
		}
	}
}
