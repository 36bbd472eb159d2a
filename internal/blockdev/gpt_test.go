package blockdev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/blockdev/gpttest"
	"github.com/berth-os/berth/internal/fuzzmem"
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

// gptBound: PartGUIDs reads one header and at most maxGPTEntries of
// entries, whatever the disk claims.
var gptBound = fuzzmem.Bound{Base: 3 * fuzzmem.MiB}

// A disk of any content never panics PartGUIDs, which reads within
// gptBound and gives only well-formed GUIDs, each from a 128-byte entry
// or larger.
func FuzzPartGUIDs(f *testing.F) {
	f.Add(gpttest.Image(f, 512, "", "0FC63DAF-8483-4772-8E79-3D69D8477DE4")[:40<<10])
	f.Add(gpttest.Image(f, 4096, "", "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D")[:40<<10])
	f.Add(make([]byte, 4096))
	guidRe := regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$`)
	f.Fuzz(func(t *testing.T, data []byte) {
		var ids []string
		var err error
		fuzzmem.Check(t, gptBound, len(data), func() { ids, err = PartGUIDs(bytes.NewReader(data)) })
		if err != nil && ids != nil {
			t.Errorf("GUIDs %v with error %v", ids, err)
		}
		if len(ids) > maxGPTEntries/128 {
			t.Errorf("%d GUIDs: more entries than %d bytes hold", len(ids), maxGPTEntries)
		}
		for _, id := range ids {
			if !guidRe.MatchString(id) {
				t.Errorf("GUID %q", id)
			}
		}
	})
}
