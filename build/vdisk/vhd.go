package vdisk

import (
	"encoding/binary"
	"time"
)

// VHD's epoch: its time stamps count seconds from 2000-01-01 UTC.
var vhdEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// VHDFooter is the 512-byte footer that makes a raw disk of size bytes a
// fixed VHD when appended to it (Microsoft's VHD specification, "Hard
// Disk Footer Format"). Azure wants the size a multiple of 1 MiB.
//
// The creator application is "qem2", the value with which qemu-img marks a
// VHD whose size is the footer's current size: QEMU (as Virtual PC did)
// otherwise takes the size from the CHS geometry, which rounds a 2 GiB disk
// down by 8 KiB. Hyper-V and Azure read the current size.
func VHDFooter(size int64, id Identity) ([]byte, error) {
	if err := checkSize("vhd", size, 1<<20); err != nil {
		return nil, err
	}
	f := make([]byte, sector)
	be := binary.BigEndian
	copy(f[0:], "conectix")
	be.PutUint32(f[8:], 2)           // features: reserved bit, always set
	be.PutUint32(f[12:], 0x00010000) // file format version 1.0
	be.PutUint64(f[16:], ^uint64(0)) // data offset: none, a fixed disk
	be.PutUint32(f[24:], uint32(max(0, id.Time.Sub(vhdEpoch)/time.Second)))
	copy(f[28:], "qem2")
	be.PutUint32(f[32:], 0x00010000) // creator version
	copy(f[36:], "Wi2k")             // creator host OS, as qemu-img writes
	be.PutUint64(f[40:], uint64(size))
	be.PutUint64(f[48:], uint64(size))
	c, h, s := chs(size / sector)
	be.PutUint16(f[56:], c)
	f[58], f[59] = h, s
	be.PutUint32(f[60:], 2) // disk type: fixed
	u := id.uuid("vhd")
	copy(f[68:], u[:])
	be.PutUint32(f[64:], vhdChecksum(f))
	return f, nil
}

// vhdChecksum is the ones' complement of the sum of the footer's bytes,
// its checksum field (bytes 64–67) taken as zero.
func vhdChecksum(f []byte) uint32 {
	var sum uint32
	for i, b := range f {
		if i < 64 || i >= 68 {
			sum += uint32(b)
		}
	}
	return ^sum
}

// chs is the VHD specification's geometry for a disk of n sectors.
func chs(n int64) (cylinders uint16, heads, sectors uint8) {
	n = min(n, 65535*16*255)
	var spt, hd, cth int64
	if n >= 65535*16*63 {
		spt, hd = 255, 16
		cth = n / spt
	} else {
		spt = 17
		cth = n / spt
		hd = max((cth+1023)/1024, 4)
		if cth >= hd*1024 || hd > 16 {
			spt, hd = 31, 16
			cth = n / spt
		}
		if cth >= hd*1024 {
			spt, hd = 63, 16
			cth = n / spt
		}
	}
	return uint16(cth / hd), uint8(hd), uint8(spt)
}
