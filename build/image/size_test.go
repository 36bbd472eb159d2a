package image

import (
	"errors"
	"testing"

	"github.com/berth-os/berth/internal/strictyaml"
)

// Disk sizes take what images/*.yaml write, with binary units; the errors
// name the field and say what a size looks like.
func TestDiskSizes(t *testing.T) {
	for _, tc := range []struct {
		name, disk string
		want       Disk
		err        string
	}{
		{"as berth.yaml writes them", "{size: 2GiB, slot_size: 512MiB, efi_size: 64M}", Disk{Size: 2 << 30, SlotSize: 512 << 20, EFISize: 64 << 20}, ""},
		{"plain bytes, spaces, any case", "{size: 4294967296, slot_size: 1 GiB, efi_size: 128mb}", Disk{Size: 4 << 30, SlotSize: 1 << 30, EFISize: 128 << 20}, ""},
		{"not a size", "{size: huge}", Disk{}, `spec.yaml:1: disk.size: expected a size such as 512MiB or 2GiB, got "huge"`},
		{"a fraction", "{slot_size: 1.5GiB}", Disk{}, `spec.yaml:1: disk.slot_size: expected a size such as 512MiB or 2GiB, got "1.5GiB"`},
		{"too large", "{efi_size: 5000000T}", Disk{}, `spec.yaml:1: disk.efi_size: size "5000000T" is too large (at most 4EiB)`},
		{"a list", "{size: [2GiB]}", Disk{}, "spec.yaml:1: disk.size: expected a size such as 512MiB or 2GiB, got a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s struct {
				Disk Disk `yaml:"disk"`
			}
			err := strictyaml.Decode([]byte("disk: "+tc.disk+"\n"), "spec.yaml", &s)
			if tc.err == "" {
				if err != nil || s.Disk != tc.want {
					t.Errorf("disk %+v, %v; want %+v", s.Disk, err, tc.want)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || err.Error() != tc.err {
				t.Errorf("error %v, want %s", err, tc.err)
			}
		})
	}
}
