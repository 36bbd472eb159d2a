package vdisk

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"strings"
	"testing"
)

func TestVHDX(t *testing.T) {
	// More payload blocks than a chunk: block 4096's entry comes after a
	// sector bitmap entry.
	const size = (vhdxChunk + 2) * vhdxBlock
	d := sparseDisk{off: (vhdxChunk+1)*vhdxBlock - 5000, data: bytes.Repeat([]byte("vhdx"), 3000)}
	var out bytes.Buffer
	if err := WriteVHDX(&out, d, size, testID); err != nil {
		t.Fatal(err)
	}
	v := out.Bytes()
	le := binary.LittleEndian
	if string(v[:8]) != "vhdxfile" {
		t.Fatalf("file type identifier % x", v[:8])
	}
	crcOK := func(b []byte) bool {
		c := append([]byte{}, b...)
		binary.LittleEndian.PutUint32(c[4:], 0)
		return crc32.Checksum(c, crc32.MakeTable(crc32.Castagnoli)) == le.Uint32(b[4:])
	}
	for _, off := range []int{64 << 10, 128 << 10} {
		h := v[off : off+4096]
		if string(h[:4]) != "head" || !crcOK(h) || le.Uint16(h[66:]) != 1 || le.Uint64(h[72:]) != vhdxLogOffset {
			t.Errorf("header at %d KiB: bad signature, checksum, version or log", off>>10)
		}
	}
	var batOff, batLen uint64
	for _, off := range []int{192 << 10, 256 << 10} {
		r := v[off : off+64<<10]
		if string(r[:4]) != "regi" || !crcOK(r) || le.Uint32(r[8:]) != 2 {
			t.Fatalf("region table at %d KiB: bad signature, checksum or count", off>>10)
		}
		if !bytes.Equal(r[16:32], vhdxBATRegion) {
			t.Fatal("the first region is not the BAT")
		}
		batOff, batLen = le.Uint64(r[32:]), uint64(le.Uint32(r[40:]))
	}
	meta := v[vhdxMetaOffset:]
	if string(meta[:8]) != "metadata" || le.Uint16(meta[10:]) != 5 {
		t.Fatalf("metadata table: % x", meta[:16])
	}
	item := func(g []byte) []byte {
		for i := 0; i < 5; i++ {
			e := meta[32+32*i:]
			if bytes.Equal(e[:16], g) {
				return meta[le.Uint32(e[16:]):][:le.Uint32(e[20:])]
			}
		}
		t.Fatalf("no metadata item % x", g)
		return nil
	}
	if le.Uint32(item(vhdxFileParams)) != vhdxBlock || le.Uint64(item(vhdxDiskSize)) != size || le.Uint32(item(vhdxLogicalSize)) != 512 {
		t.Error("block size, disk size or sector size wrong")
	}
	// Read the disk back through the BAT.
	bat := v[batOff : batOff+batLen]
	entries := int64(vhdxChunk + 2 + 1)
	back := sparseBack{}
	for i := int64(0); i < vhdxChunk+2; i++ {
		e := le.Uint64(bat[8*(i+i/vhdxChunk):])
		switch e & 7 {
		case batNotPresent:
		case batFullyPresent:
			back[i] = v[e>>20*vhdxMiB:][:vhdxBlock]
		default:
			t.Fatalf("block %d: state %d", i, e&7)
		}
	}
	if len(back) != 2 || back[vhdxChunk] == nil || back[vhdxChunk+1] == nil {
		t.Fatalf("present blocks %v, want %d and %d", keys(back), vhdxChunk, vhdxChunk+1)
	}
	if sb := le.Uint64(bat[8*vhdxChunk:]); sb != 0 {
		t.Errorf("sector bitmap entry %#x, want not present", sb)
	}
	if int64(len(bat)) < 8*entries {
		t.Errorf("BAT of %d bytes for %d entries", len(bat), entries)
	}
	for i, b := range back {
		want := make([]byte, vhdxBlock)
		d.ReadAt(want, i*vhdxBlock)
		if !bytes.Equal(b, want) {
			t.Errorf("block %d does not read back", i)
		}
	}
	if err := WriteVHDX(io.Discard, d, size+512, testID); err == nil || !strings.Contains(err.Error(), "vhdx: ") {
		t.Errorf("a size that is not whole MiB: err = %v, want it refused", err)
	}
}

type sparseBack map[int64][]byte

func keys(m sparseBack) []int64 {
	var k []int64
	for i := range m {
		k = append(k, i)
	}
	return k
}
