package console

import (
	"bytes"
	"strings"
)

// MergeUsers merges one of the host's user files (passwd, group, shadow,
// gshadow: colon-separated, the name first) into a distribution's own:
// the host's entries, rendered from cloud-config, win over the
// distribution's of the same name, and the distribution's other entries
// (its system users: _apt, messagebus...) are kept, first, in their order.
// Blank lines and comments are dropped.
func MergeUsers(distro, host []byte) []byte {
	hostLines := entries(host)
	have := map[string]bool{}
	for _, l := range hostLines {
		have[entryName(l)] = true
	}
	var out bytes.Buffer
	for _, l := range entries(distro) {
		if !have[entryName(l)] {
			out.WriteString(l + "\n")
		}
	}
	for _, l := range hostLines {
		out.WriteString(l + "\n")
	}
	return out.Bytes()
}

func entries(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

func entryName(l string) string {
	name, _, _ := strings.Cut(l, ":")
	return name
}
