package cloudconfig

import (
	"errors"
	"testing"
)

// swap sizes take what cloud-init's examples and Berth's tests write, with
// binary units; the errors name the field and say what a size looks like.
func TestSwapSizes(t *testing.T) {
	for _, tc := range []struct {
		name, swap string
		size, max  int64
		err        string
	}{
		{"auto and bytes (cloud-init's example)", `{size: "auto", maxsize: 10485760}`, 0, 10485760, ""},
		{"units", "{size: 2G, maxsize: 512M}", 2 << 30, 512 << 20, ""},
		{"units with B and iB, any case", "{size: 2GB, maxsize: 1 gib}", 2 << 30, 1 << 30, ""},
		{"as the QEMU test writes it", "{filename: /var/swap.img, size: 16M}", 16 << 20, 0, ""},
		{"not a size", "{size: big}", 0, 0, `u:2: swap.size: expected a size such as 2G or 512M, or auto, got "big"`},
		{"a fraction", "{maxsize: 1.5G}", 0, 0, `u:2: swap.maxsize: expected a size such as 2G or 512M, or auto, got "1.5G"`},
		{"negative", "{size: -1M}", 0, 0, `u:2: swap.size: expected a size such as 2G or 512M, or auto, got "-1M"`},
		{"too large (was 0, auto)", "{size: 99999999999999999999G}", 0, 0, `u:2: swap.size: size "99999999999999999999G" is too large (at most 4EiB)`},
		{"a list", "{size: [2G]}", 0, 0, "u:2: swap.size: expected a size such as 2G or 512M, or auto, got a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Parse("u", []byte("#cloud-config\nswap: "+tc.swap+"\n"))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s := doc.Config.Swap; s.Size.Bytes() != tc.size || s.MaxSize.Bytes() != tc.max {
					t.Errorf("size %d maxsize %d, want %d %d", s.Size.Bytes(), s.MaxSize.Bytes(), tc.size, tc.max)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || err.Error() != tc.err {
				t.Errorf("error %v, want %s", err, tc.err)
			}
		})
	}
}
