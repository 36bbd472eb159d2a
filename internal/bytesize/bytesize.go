// Package bytesize reads sizes as Berth's files and flags write them: a
// whole number of bytes with an optional binary unit, such as 512MiB, 2G
// or 1048576. Image specs (disk sizes), cloud-config (swap sizes) and the
// logging service (-max-size) all read them here.
package bytesize

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/berth-os/berth/internal/pattern"
	units "github.com/docker/go-units"
)

var (
	// ErrSyntax is the kind of a size that is not written as one.
	ErrSyntax = errors.New("not a size")
	// ErrRange is the kind of a size larger than Max.
	ErrRange = errors.New("size too large")
)

// Max is the largest size: 4 EiB, well within an int64.
const Max = 1 << 62

// sizeRe is the grammar: digits, spaces, and a unit as docker/go-units'
// RAMInBytes reads it (B, or K, M, G, T, P with an optional B or iB, in any
// case). RAMInBytes also takes fractions and exponents through
// strconv.ParseFloat, and rounds them off; sizes here are whole numbers.
var sizeRe = pattern.New(`(?i)^([0-9]+)\s*(b|[kmgtp](i?b)?)?$`)

// Parse reads a size; surrounding spaces do not count. Every unit is
// binary: 1K, 1KB and 1KiB are all 1024 bytes.
func Parse(s string) (int64, error) {
	m := sizeRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q: %w", s, ErrSyntax)
	}
	unit := int64(1)
	if m[2] != "" {
		var err error
		if unit, err = units.RAMInBytes("1" + m[2]); err != nil {
			return 0, fmt.Errorf("%q: %w", s, ErrSyntax) // not reached: sizeRe has only units RAMInBytes knows
		}
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n > Max/unit {
		return 0, fmt.Errorf("%q: %w (at most 4EiB)", s, ErrRange)
	}
	return n * unit, nil
}
