package vdisk

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"unicode/utf16"
)

// A dynamic VHDX (Microsoft's [MS-VHDX] 1.0), Hyper-V's format: the file
// type identifier, two headers, two region tables, an empty log, the
// metadata region, the block allocation table (BAT), then the payload
// blocks that hold data. Every structure sits at a multiple of 1 MiB
// except the first four, whose places are fixed.
const (
	vhdxBlock    = 1 << 20 // payload block size, the smallest allowed
	vhdxLogical  = 512
	vhdxPhysical = 4096
	// The chunk ratio: payload blocks per sector bitmap block.
	vhdxChunk = (1 << 23) * vhdxLogical / vhdxBlock
	vhdxMiB   = 1 << 20

	vhdxLogOffset  = 1 * vhdxMiB
	vhdxLogLength  = 1 * vhdxMiB
	vhdxMetaOffset = 2 * vhdxMiB
	vhdxMetaLength = 1 * vhdxMiB
	vhdxBATOffset  = 3 * vhdxMiB

	batNotPresent   = 0
	batFullyPresent = 6
)

// The specification's GUIDs, as they are written (the first three fields
// little-endian).
var (
	vhdxBATRegion   = msGUID(0x2DC27766, 0xF623, 0x4200, 0x9D64115E9BFD4A08)
	vhdxMetaRegion  = msGUID(0x8B7CA206, 0x4790, 0x4B9A, 0xB8FE575F050F886E)
	vhdxFileParams  = msGUID(0xCAA16737, 0xFA36, 0x4D43, 0xB3B633F0AA44E76B)
	vhdxDiskSize    = msGUID(0x2FA54224, 0xCD1B, 0x4876, 0xB2115DBED83BF4B8)
	vhdxPage83      = msGUID(0xBECA12AB, 0xB2E6, 0x4523, 0x93EFC309E000C746)
	vhdxLogicalSize = msGUID(0x8141BF1D, 0xA96F, 0x4709, 0xBA47F233A8FAAB5F)
	vhdxPhysSize    = msGUID(0xCDA348C7, 0x445D, 0x4471, 0x9CC9E9885251C556)
)

func msGUID(a uint32, b, c uint16, d uint64) []byte {
	g := make([]byte, 16)
	binary.LittleEndian.PutUint32(g, a)
	binary.LittleEndian.PutUint16(g[4:], b)
	binary.LittleEndian.PutUint16(g[6:], c)
	binary.BigEndian.PutUint64(g[8:], d)
	return g
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// vhdxSum puts the CRC-32C of b, its checksum field (bytes 4–7) zero,
// into that field.
func vhdxSum(b []byte) {
	binary.LittleEndian.PutUint32(b[4:], 0)
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b, castagnoli))
}

// WriteVHDX writes raw (size bytes, a whole number of MiB) to w as a
// dynamic VHDX whose blocks of zeros are left out.
func WriteVHDX(w io.Writer, raw io.ReaderAt, size int64, id Identity) error {
	if err := checkSize("vhdx", size, vhdxBlock); err != nil {
		return err
	}
	payload := size / vhdxBlock
	entries := payload + (payload-1)/vhdxChunk
	batLength := (entries*8 + vhdxMiB - 1) / vhdxMiB * vhdxMiB
	dataOffset := int64(vhdxBATOffset) + batLength

	// The BAT: block i's entry is at i + i/chunk (a sector bitmap entry,
	// "not present", follows each chunk of payload entries).
	bat := make([]byte, batLength)
	next := dataOffset
	if err := blocks(raw, size, vhdxBlock, func(i int64, _ []byte, zero bool) error {
		e := uint64(batNotPresent)
		if !zero {
			e = uint64(next/vhdxMiB)<<20 | batFullyPresent
			next += vhdxBlock
		}
		binary.LittleEndian.PutUint64(bat[8*(i+i/vhdxChunk):], e)
		return nil
	}); err != nil {
		return err
	}

	head := make([]byte, vhdxBATOffset)
	copy(head, "vhdxfile")
	for i, r := range utf16.Encode([]rune("Berth")) {
		binary.LittleEndian.PutUint16(head[8+2*i:], r)
	}
	for i, off := range []int{64 << 10, 128 << 10} {
		h := head[off : off+4096]
		copy(h, "head")
		binary.LittleEndian.PutUint64(h[8:], uint64(i)) // sequence: the second is current
		fw, dw := id.uuid("vhdx-file-write"), id.uuid("vhdx-data-write")
		copy(h[16:], fw[:])
		copy(h[32:], dw[:])
		// 48: the log GUID, zero: the log is empty. 64: log version 0.
		binary.LittleEndian.PutUint16(h[66:], 1) // version
		binary.LittleEndian.PutUint32(h[68:], vhdxLogLength)
		binary.LittleEndian.PutUint64(h[72:], vhdxLogOffset)
		vhdxSum(h)
	}
	for _, off := range []int{192 << 10, 256 << 10} {
		r := head[off : off+64<<10]
		copy(r, "regi")
		binary.LittleEndian.PutUint32(r[8:], 2)
		for i, e := range []struct {
			guid   []byte
			offset int64
			length int64
		}{{vhdxBATRegion, vhdxBATOffset, batLength}, {vhdxMetaRegion, vhdxMetaOffset, vhdxMetaLength}} {
			ent := r[16+32*i:]
			copy(ent, e.guid)
			binary.LittleEndian.PutUint64(ent[16:], uint64(e.offset))
			binary.LittleEndian.PutUint32(ent[24:], uint32(e.length))
			binary.LittleEndian.PutUint32(ent[28:], 1) // required
		}
		vhdxSum(r)
	}
	// The metadata region: its table, then each item from 64 KiB on.
	meta := head[vhdxMetaOffset:]
	copy(meta, "metadata")
	page83 := id.uuid("vhdx-page83")
	items := []struct {
		guid  []byte
		data  []byte
		flags uint32 // 2: a property of the virtual disk; 4: required
	}{
		{vhdxFileParams, le32s(vhdxBlock, 0), 4},
		{vhdxDiskSize, le64(uint64(size)), 6},
		{vhdxPage83, page83[:], 6},
		{vhdxLogicalSize, le32s(vhdxLogical), 6},
		{vhdxPhysSize, le32s(vhdxPhysical), 6},
	}
	binary.LittleEndian.PutUint16(meta[10:], uint16(len(items)))
	at := 64 << 10
	for i, it := range items {
		ent := meta[32+32*i:]
		copy(ent, it.guid)
		binary.LittleEndian.PutUint32(ent[16:], uint32(at))
		binary.LittleEndian.PutUint32(ent[20:], uint32(len(it.data)))
		binary.LittleEndian.PutUint32(ent[24:], it.flags)
		copy(meta[at:], it.data)
		at += len(it.data)
	}

	cw := &countingWriter{w: w}
	if _, err := cw.Write(head); err != nil {
		return err
	}
	if _, err := cw.Write(bat); err != nil {
		return err
	}
	return dataBlocks(cw, raw, size, vhdxBlock)
}

func le32s(v ...uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return b
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
