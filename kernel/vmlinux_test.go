package kernel

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// testELF is an x86-64 ELF with one note segment holding a "Xen" note
// of type noteType.
func testELF(noteType uint32) []byte {
	le := binary.LittleEndian
	b := make([]byte, 64+56+24)
	copy(b, "\x7fELF\x02\x01\x01")
	le.PutUint16(b[16:], 2)  // ET_EXEC
	le.PutUint16(b[18:], 62) // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[32:], 64) // program headers
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[54:], 56)
	le.PutUint16(b[56:], 1)
	le.PutUint16(b[58:], 64)
	ph := b[64:]
	le.PutUint32(ph[0:], 4) // PT_NOTE
	le.PutUint64(ph[8:], 120)
	le.PutUint64(ph[32:], 24)
	le.PutUint64(ph[40:], 24)
	le.PutUint64(ph[48:], 4)
	n := b[120:]
	le.PutUint32(n[0:], 4)
	le.PutUint32(n[4:], 8)
	le.PutUint32(n[8:], noteType)
	copy(n[12:], "Xen\x00")
	le.PutUint64(n[16:], 0x1000000)
	return b
}

// testBzImage wraps payload as a bzImage's compressed kernel: a setup of
// two sectors (and the boot sector), the payload 0x100 bytes into the
// protected-mode part.
func testBzImage(payload []byte) []byte {
	b := make([]byte, 3*512+0x100+len(payload)+64)
	b[0x1f1] = 2
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], 0x20f)
	binary.LittleEndian.PutUint32(b[0x248:], 0x100)
	binary.LittleEndian.PutUint32(b[0x24c:], uint32(len(payload)))
	copy(b[3*512+0x100:], payload)
	return b
}

func TestVmlinux(t *testing.T) {
	elfBytes := testELF(xenNotePhys32Entry)
	// What the kernel compresses: the ELF and its relocations appended.
	withRelocs := append(append([]byte{}, elfBytes...), bytes.Repeat([]byte{0xee}, 100)...)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(withRelocs)
	w.Close()
	enc, _ := zstd.NewWriter(nil)
	// zstd payloads end with the uncompressed size, as the kernel's do.
	zst := append(enc.EncodeAll(withRelocs, nil), 0xf4, 0, 0, 0)

	for name, payload := range map[string][]byte{"gzip": gz.Bytes(), "zstd": zst} {
		got, err := Vmlinux(testBzImage(payload))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, elfBytes) {
			t.Errorf("%s: got %d bytes, want the %d-byte ELF without what follows it", name, len(got), len(elfBytes))
		}
	}

	noPVH := enc.EncodeAll(testELF(xenNotePhys32Entry+1), nil)
	for name, c := range map[string]struct {
		image []byte
		want  string
	}{
		"no PVH note":          {testBzImage(noPVH), "CONFIG_PVH"},
		"no boot header":       {make([]byte, 4096), "not a bzImage"},
		"not compressed":       {testBzImage(elfBytes), "not zstd, gzip or xz"},
		"payload past the end": {testBzImage(zst)[:3*512+0x100+10], "runs past"},
	} {
		if _, err := Vmlinux(c.image); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one that says %q", name, err, c.want)
		}
	}
}
