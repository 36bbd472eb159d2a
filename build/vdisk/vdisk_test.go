package vdisk

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"
)

var testID = Identity{Seed: "seed", Time: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)}

// disk is a raw disk of size bytes with data at the given offsets (a
// pattern that names the offset, so that misplaced data shows).
func disk(size int64, at ...int64) []byte {
	b := make([]byte, size)
	for _, off := range at {
		copy(b[off:], strings.Repeat("berth@"+string(rune('A'+off>>16%26)), 100))
	}
	return b
}

func TestVHDFooter(t *testing.T) {
	const size = 2 << 30
	f, err := VHDFooter(size, testID)
	if err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	if string(f[:8]) != "conectix" || be.Uint64(f[16:]) != ^uint64(0) || be.Uint32(f[60:]) != 2 {
		t.Errorf("not a fixed VHD footer: % x", f[:64])
	}
	if be.Uint64(f[40:]) != size || be.Uint64(f[48:]) != size {
		t.Errorf("sizes %d, %d; want %d", be.Uint64(f[40:]), be.Uint64(f[48:]), size)
	}
	// Seconds since 2000-01-01, the checksum over the other bytes.
	if got, want := be.Uint32(f[24:]), uint32(testID.Time.Sub(vhdEpoch).Seconds()); got != want {
		t.Errorf("time stamp %d, want %d", got, want)
	}
	var sum uint32
	for i, b := range f {
		if i < 64 || i >= 68 {
			sum += uint32(b)
		}
	}
	if be.Uint32(f[64:]) != ^sum {
		t.Errorf("checksum %#x, want %#x", be.Uint32(f[64:]), ^sum)
	}
	// The specification's geometry for 2 GiB.
	if c, h, s := be.Uint16(f[56:]), f[58], f[59]; c != 4161 || h != 16 || s != 63 {
		t.Errorf("geometry %d/%d/%d, want 4161/16/63", c, h, s)
	}
	if string(f[28:32]) != "qem2" {
		t.Errorf("creator %q, want qem2 (the size is the footer's, not the geometry's)", f[28:32])
	}
	// The same identity gives the same footer; another seed another UUID.
	again, _ := VHDFooter(size, testID)
	other, _ := VHDFooter(size, Identity{Seed: "other", Time: testID.Time})
	if !bytes.Equal(f, again) || bytes.Equal(f[68:84], other[68:84]) {
		t.Error("the footer's UUID does not follow the seed alone")
	}
	if _, err := VHDFooter(size+512, testID); err == nil || !strings.Contains(err.Error(), "multiple of 1048576") {
		t.Errorf("a size that is not whole MiB: err = %v, want it refused", err)
	}
}

func TestCHS(t *testing.T) {
	for _, c := range []struct {
		sectors int64
		c       uint16
		h, s    uint8
	}{
		{32768, 481, 4, 17},                // 16 MiB
		{65535 * 16 * 255, 65535, 16, 255}, // the largest
		{1 << 40, 65535, 16, 255},          // larger: capped
	} {
		if cy, h, s := chs(c.sectors); cy != c.c || h != c.h || s != c.s {
			t.Errorf("chs(%d) = %d/%d/%d, want %d/%d/%d", c.sectors, cy, h, s, c.c, c.h, c.s)
		}
	}
}

func TestVDI(t *testing.T) {
	raw := disk(4<<20, 1<<20+7, 3<<20)
	var out bytes.Buffer
	if err := WriteVDI(&out, bytes.NewReader(raw), int64(len(raw)), testID); err != nil {
		t.Fatal(err)
	}
	v := out.Bytes()
	le := binary.LittleEndian
	if le.Uint32(v[64:]) != vdiSignature || le.Uint32(v[76:]) != vdiDynamic || le.Uint64(v[368:]) != 4<<20 {
		t.Fatalf("not a dynamic VDI of 4 MiB: % x", v[64:80])
	}
	if n, used := le.Uint32(v[384:]), le.Uint32(v[388:]); n != 4 || used != 2 {
		t.Errorf("%d blocks, %d allocated; want 4 and 2", n, used)
	}
	if len(v) != vdiDataOffset+2*vdiBlock {
		t.Errorf("the file is %d bytes, want the header and two blocks", len(v))
	}
	// Read it back through the block map: zero blocks unallocated.
	back := make([]byte, len(raw))
	for i := 0; i < 4; i++ {
		idx := le.Uint32(v[vdiMapOffset+4*i:])
		if (i == 0 || i == 2) != (idx == vdiUnallocated) {
			t.Errorf("block %d maps to %#x", i, idx)
		}
		if idx != vdiUnallocated {
			copy(back[i*vdiBlock:], v[vdiDataOffset+int(idx)*vdiBlock:][:vdiBlock])
		}
	}
	if !bytes.Equal(back, raw) {
		t.Error("the VDI does not read back as the raw disk")
	}
	var again bytes.Buffer
	WriteVDI(&again, bytes.NewReader(raw), int64(len(raw)), testID)
	if !bytes.Equal(v, again.Bytes()) {
		t.Error("two writes differ")
	}
	if err := WriteVDI(io.Discard, bytes.NewReader(raw), 3<<19, testID); err == nil || !strings.Contains(err.Error(), "vdi: ") {
		t.Errorf("1.5 MiB: err = %v, want it refused", err)
	}
}

func TestVMDK(t *testing.T) {
	const size = 48 << 20 // 768 grains: two grain tables, the second half full
	raw := disk(size, 0, 5<<16+100, 600<<16, size-1000)
	var out bytes.Buffer
	if err := WriteVMDK(&out, bytes.NewReader(raw), size, "x.vmdk", testID); err != nil {
		t.Fatal(err)
	}
	v := out.Bytes()
	le := binary.LittleEndian
	sec := func(n uint64) []byte { return v[n*sector:] }
	if string(v[:4]) != "KDMV" || le.Uint32(v[4:]) != 3 || le.Uint64(v[56:]) != ^uint64(0) {
		t.Fatalf("header: % x", v[:64])
	}
	if !strings.Contains(string(v[sector:2*sector]), `createType="streamOptimized"`) || !strings.Contains(string(v[sector:]), `RW 98304 SPARSE "x.vmdk"`) {
		t.Errorf("descriptor:\n%s", bytes.TrimRight(v[sector:vmdkOverhead*sector], "\x00"))
	}
	// The end: footer marker, footer, end-of-stream marker.
	end := v[len(v)-3*sector:]
	if le.Uint64(end) != 1 || le.Uint32(end[12:]) != markerFooter || string(end[sector:sector+4]) != "KDMV" || !bytes.Equal(end[2*sector:], make([]byte, sector)) {
		t.Fatal("no footer and end-of-stream marker at the end")
	}
	gd := le.Uint64(end[sector+56:])
	if m := sec(gd - 1); le.Uint32(m[12:]) != markerGD {
		t.Fatalf("no grain directory marker before sector %d", gd)
	}
	back := make([]byte, size)
	grains := 0
	for tbl := 0; tbl < 2; tbl++ {
		gt := le.Uint32(sec(gd)[4*tbl:])
		if m := sec(uint64(gt) - 1); le.Uint32(m[12:]) != markerGT || le.Uint64(m) != 4 {
			t.Fatalf("grain table %d: no marker before sector %d", tbl, gt)
		}
		for e := 0; e < vmdkGTEs; e++ {
			g := le.Uint32(sec(uint64(gt))[4*e:])
			if g == 0 {
				continue
			}
			grains++
			m := sec(uint64(g))
			lba, n := le.Uint64(m), le.Uint32(m[8:])
			if want := uint64((tbl*vmdkGTEs + e) * vmdkGrain); lba != want {
				t.Errorf("grain at sector %d says LBA %d, want %d", g, lba, want)
			}
			zr, err := zlib.NewReader(bytes.NewReader(m[12 : 12+n]))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(zr, back[lba*sector:][:vmdkGrain*sector]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if grains != 4 { // 0, 5, 600 and the last
		t.Errorf("%d grains stored, want 4", grains)
	}
	if !bytes.Equal(back, raw) {
		t.Error("the VMDK does not read back as the raw disk")
	}
	var again bytes.Buffer
	WriteVMDK(&again, bytes.NewReader(raw), size, "x.vmdk", testID)
	if !bytes.Equal(v, again.Bytes()) {
		t.Error("two writes differ")
	}
	if err := WriteVMDK(io.Discard, bytes.NewReader(raw), size-512, "x.vmdk", testID); err == nil || !strings.Contains(err.Error(), "multiple of 65536") {
		t.Errorf("a size that is not whole grains: err = %v, want it refused", err)
	}
}
