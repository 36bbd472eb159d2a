package blockdev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/blockdev/gpttest"
)

func TestPartGUIDs(t *testing.T) {
	guids := []string{"0FC63DAF-8483-4772-8E79-3D69D8477DE4", "A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D"}
	for _, ss := range []int{512, 4096} {
		got, err := PartGUIDs(bytes.NewReader(gpttest.Image(t, ss, "", guids...)))
		if err != nil || strings.Join(got, " ") != strings.Join(guids, " ") {
			t.Errorf("%d-byte sectors: %v, %v; want %v", ss, got, err, guids)
		}
	}
	img := gpttest.Image(t, 512, "", guids...)
	// A partition entry changed on disk: its checksum no longer holds.
	bad := bytes.Clone(img)
	bad[2*512+20] ^= 0xff
	if _, err := PartGUIDs(bytes.NewReader(bad)); !errors.Is(err, ErrNoGPT) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("corrupt entries: %v", err)
	}
	// A header claiming 2^32 entries (with a valid checksum) is refused
	// before anything is allocated for them.
	huge := bytes.Clone(img)
	hdr := huge[512 : 512+92]
	binary.LittleEndian.PutUint32(hdr[80:], 1<<31)
	binary.LittleEndian.PutUint32(hdr[16:], 0)
	binary.LittleEndian.PutUint32(hdr[16:], crc32.ChecksumIEEE(hdr))
	if _, err := PartGUIDs(bytes.NewReader(huge)); !errors.Is(err, ErrNoGPT) || !strings.Contains(err.Error(), "claims 2147483648 entries") {
		t.Errorf("huge entry array: %v", err)
	}
	if _, err := PartGUIDs(bytes.NewReader(make([]byte, 1<<20))); !errors.Is(err, ErrNoGPT) {
		t.Errorf("blank disk: %v", err)
	}
}
