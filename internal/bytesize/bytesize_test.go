package bytesize

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		// As Berth's own files and tests write them.
		{"2GiB", 2 << 30},      // images/berth.yaml disk.size
		{"512MiB", 512 << 20},  // images/berth.yaml disk.slot_size
		{"64M", 64 << 20},      // build/image tests
		{"1 GiB", 1 << 30},     // a space before the unit
		{"16M", 16 << 20},      // swap.size in the QEMU test
		{"10485760", 10485760}, // cloud-init's maxsize example
		{"1MiB", 1 << 20},      // logging -max-size default
		{"64KiB", 64 << 10},    // logging tests
		{"100B", 100},
		{"0", 0},
		// Any case, and KB is KiB.
		{"2g", 2 << 30},
		{"1KB", 1 << 10},
		{"1kib", 1 << 10},
		{"1Tb", 1 << 40},
		{"3P", 3 << 50},
		{"  8M\n", 8 << 20},
		{"4194304T", Max},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("Parse(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind error
		msg  string
	}{
		{"", ErrSyntax, `"": not a size`},
		{"MiB", ErrSyntax, `"MiB": not a size`},
		{"-1", ErrSyntax, `"-1": not a size`},
		{"1.5MiB", ErrSyntax, `"1.5MiB": not a size`}, // RAMInBytes would round 1.5 bytes off
		{"1e3", ErrSyntax, `"1e3": not a size`},
		{"0x10", ErrSyntax, `"0x10": not a size`},
		{"1Ki", ErrSyntax, `"1Ki": not a size`},
		{"2GB2", ErrSyntax, `"2GB2": not a size`},
		{"12 parsecs", ErrSyntax, `"12 parsecs": not a size`},
		{"auto", ErrSyntax, `"auto": not a size`},
		{"4194305T", ErrRange, `"4194305T": size too large (at most 4EiB)`},
		{"99999999999GiB", ErrRange, `"99999999999GiB": size too large (at most 4EiB)`},
		{"9223372036854775808", ErrRange, `"9223372036854775808": size too large (at most 4EiB)`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if !errors.Is(err, tc.kind) || err.Error() != tc.msg {
				t.Errorf("Parse(%q) = %d, %v; want %v: %s", tc.in, got, err, tc.kind, tc.msg)
			}
		})
	}
}
