package vdisk

import (
	"encoding/binary"
	"fmt"
	"io"
)

// VDI's layout: a 1 MiB block size, the header in the first sector, the
// block map from sector 1, the blocks from 1 MiB on.
const (
	vdiBlock       = 1 << 20
	vdiMapOffset   = sector
	vdiDataOffset  = 1 << 20
	vdiSignature   = 0xbeda107f
	vdiVersion     = 0x00010001 // 1.1
	vdiDynamic     = 1
	vdiUnallocated = 0xffffffff
)

// WriteVDI writes raw (size bytes) to w as a dynamic VirtualBox disk image:
// a block that holds only zeros is left out of the file and reads back as
// zeros (VirtualBox's and QEMU's vdi.c's format).
func WriteVDI(w io.Writer, raw io.ReaderAt, size int64, id Identity) error {
	if err := checkSize("vdi", size, vdiBlock); err != nil {
		return err
	}
	n := size / vdiBlock
	if vdiMapOffset+4*n > vdiDataOffset {
		return fmt.Errorf("vdi: a %d-byte disk needs a block map larger than %d bytes", size, vdiDataOffset-vdiMapOffset)
	}
	bmap := make([]byte, 4*n)
	var used uint32
	if err := blocks(raw, size, vdiBlock, func(i int64, _ []byte, zero bool) error {
		idx := uint32(vdiUnallocated)
		if !zero {
			idx = used
			used++
		}
		binary.LittleEndian.PutUint32(bmap[4*i:], idx)
		return nil
	}); err != nil {
		return err
	}

	h := make([]byte, sector)
	le := binary.LittleEndian
	copy(h, "<<< Oracle VM VirtualBox Disk Image >>>\n")
	le.PutUint32(h[64:], vdiSignature)
	le.PutUint32(h[68:], vdiVersion)
	le.PutUint32(h[72:], 0x180) // the 1.1 header's size, from here on
	le.PutUint32(h[76:], vdiDynamic)
	// 80: flags; 84: a 256-byte description, both empty.
	le.PutUint32(h[340:], vdiMapOffset)
	le.PutUint32(h[344:], vdiDataOffset)
	// 348: the legacy C/H/S geometry, 0 (unset).
	le.PutUint32(h[360:], sector)
	le.PutUint64(h[368:], uint64(size))
	le.PutUint32(h[376:], vdiBlock)
	// 380: extra data per block, none.
	le.PutUint32(h[384:], uint32(n))
	le.PutUint32(h[388:], used)
	for i, name := range []string{"vdi-image", "vdi-modification"} {
		u := id.uuid(name)
		copy(h[392+16*i:], u[:])
	}
	// 424: the linkage and parent UUIDs, zero: not a snapshot.

	cw := &countingWriter{w: w}
	if _, err := cw.Write(h); err != nil {
		return err
	}
	if _, err := cw.Write(bmap); err != nil {
		return err
	}
	if err := cw.pad(vdiDataOffset); err != nil {
		return err
	}
	return dataBlocks(cw, raw, size, vdiBlock)
}
