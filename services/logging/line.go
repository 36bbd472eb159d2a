package logging

import (
	"fmt"
	"strings"
	"time"
)

// stampLayout starts every line of every log file: RFC 3339 in UTC with
// microseconds.
const stampLayout = "2006-01-02T15:04:05.000000Z"

func stamp(t time.Time) string {
	return t.UTC().Format(stampLayout)
}

// clean makes s fit on one line of a log file. Trailing line ends and NULs
// are dropped; other control characters except tab are written as #ooo
// (octal), the way rsyslog escapes them.
func clean(s string) string {
	s = strings.TrimRight(s, "\r\n\x00")
	i := strings.IndexFunc(s, isControl)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for j := i; j < len(s); j++ {
		c := s[j] // bytes below 0x80 never occur inside a UTF-8 sequence
		if isControl(rune(c)) {
			fmt.Fprintf(&b, "#%03o", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isControl(r rune) bool {
	return (r < 0x20 && r != '\t') || r == 0x7f
}
