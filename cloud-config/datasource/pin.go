package datasource

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Pins are sha256 digests a datasource URL carries in its fragment, which
// is never sent to the server: URL#sha256=<hex> pins the user-data, and a
// NoCloud seed's meta-data is pinned by meta-sha256=<hex> (URL/#sha256=<hex>&meta-sha256=<hex>).
// A pinned body is used only when it has that digest, so plain http is safe
// for what is pinned: whoever is on the network path can only make boot
// refuse it.
type Pins struct {
	UserData string // lowercase hex, "" for none
	MetaData string
}

// ErrPinMismatch means a fetched body does not have its URL's pinned digest.
var ErrPinMismatch = errors.New("refused: not the pinned sha256")

var errNotHTTP = errors.New("expected an http:// or https:// URL")

// ParseLocation splits a datasource URL into the URL to fetch (without
// the fragment) and the pins in its fragment. Any other fragment, and a pin
// that is not 64 hex digits, is an error: a URL that looks pinned is never
// fetched unpinned.
func ParseLocation(raw string) (string, Pins, error) {
	var pins Pins
	base, frag, hasFrag := strings.Cut(raw, "#")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", pins, fmt.Errorf("%w, got %q", errNotHTTP, raw)
	}
	if !hasFrag {
		return base, pins, nil
	}
	for _, kv := range strings.Split(frag, "&") {
		k, v, _ := strings.Cut(kv, "=")
		var dst *string
		switch k {
		case "sha256":
			dst = &pins.UserData
		case "meta-sha256":
			dst = &pins.MetaData
		default:
			return "", pins, fmt.Errorf("%s: fragment %q: expected #sha256=<64 hex digits> (and &meta-sha256=<64 hex digits> for a seed)", base, frag)
		}
		if b, err := hex.DecodeString(v); err != nil || len(b) != sha256.Size {
			return "", pins, fmt.Errorf("%s: %s=%q: expected 64 hex digits (a sha256)", base, k, v)
		}
		*dst = strings.ToLower(v)
	}
	if pins.UserData == "" {
		return "", pins, fmt.Errorf("%s: fragment %q: meta-sha256 needs sha256 too", base, frag)
	}
	return base, pins, nil
}

// checkPin refuses body unless it has the pinned digest (none pinned:
// anything goes).
func checkPin(url, pin string, body []byte) error {
	if pin == "" {
		return nil
	}
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); got != pin {
		return fmt.Errorf("%s: %w: its sha256 is %s, the URL pins %s", url, ErrPinMismatch, got, pin)
	}
	return nil
}

// plainHTTP says whether a URL is fetched over http, without TLS.
func plainHTTP(u string) bool {
	return strings.HasPrefix(strings.ToLower(u), "http:")
}

// Warning says why what the source serves can be changed on its way to
// the host: plain http without a pin. "" for https, or when all it reads
// is pinned.
func (u *URL) Warning() string {
	loc, pins, err := ParseLocation(u.Location)
	if err != nil || !plainHTTP(loc) {
		return ""
	}
	switch {
	case pins.UserData == "":
		return fmt.Sprintf("%s: plain http and no sha256 pin: anyone on the network path can change this user-data, and so run code as root; use https, or pin it: %s#sha256=<sha256 of the user-data>", loc, loc)
	case u.Seed && pins.MetaData == "":
		return fmt.Sprintf("%s: meta-data not read: plain http, and the URL pins only the user-data (add &meta-sha256=<sha256 of the meta-data> to use it)", loc)
	}
	return ""
}

// Warnings are the warnings of those sources that have one (see
// URL.Warning), each with its source's name.
func Warnings(sources ...Source) []string {
	var out []string
	for _, s := range sources {
		if w, ok := s.(interface{ Warning() string }); ok {
			if msg := w.Warning(); msg != "" {
				out = append(out, "datasource "+s.Name()+": "+msg)
			}
		}
	}
	return out
}
