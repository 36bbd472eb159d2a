package strictyaml

import (
	"strconv"
	"strings"
)

// Join appends a key to a field path. Keys that are not plain identifiers
// (a sysctl name such as net.ipv4.ip_forward) are quoted: sysctl."net.ipv4.ip_forward".
func Join(path, key string) string {
	k := key
	if !plainKey(key) {
		k = strconv.Quote(key)
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// parent strips the last element of a field path: a.b[2] → a.b, a.b → a.
func parent(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndex(p, "["); i >= 0 {
			return p[:i]
		}
	}
	if strings.HasSuffix(p, "\"") {
		if i := strings.LastIndex(p[:len(p)-1], ".\""); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}
