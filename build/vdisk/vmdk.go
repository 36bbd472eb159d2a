package vdisk

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// A streamOptimized VMDK (VMware's "Virtual Disk Format 5.0"): a sparse
// extent header, the embedded descriptor, then each grain that holds data,
// deflated behind a grain marker, then the grain tables, the grain
// directory, a footer (the header again, with the directory's offset) and
// an end-of-stream marker. ESXi, Workstation, VirtualBox and QEMU read it,
// and OVAs carry it.
const (
	vmdkMagic      = 0x564d444b // "KDMV"
	vmdkGrain      = 128        // sectors: 64 KiB
	vmdkGTEs       = 512        // entries per grain table
	vmdkDescOffset = 1          // sectors
	vmdkDescSize   = 20         // sectors
	vmdkOverhead   = 128        // sectors before the first grain
	// Flags: a valid new-line test, compressed grains, markers.
	vmdkFlags = 1 | 1<<16 | 1<<17
	// Marker types.
	markerEOS    = 0
	markerGT     = 1
	markerGD     = 2
	markerFooter = 3
)

// WriteVMDK writes raw (size bytes) to w as one streamOptimized VMDK
// whose descriptor names the extent file name. A grain that holds only
// zeros is left out and reads as zeros.
func WriteVMDK(w io.Writer, raw io.ReaderAt, size int64, name string, id Identity) error {
	grainBytes := int64(vmdkGrain * sector)
	if err := checkSize("vmdk", size, grainBytes); err != nil {
		return err
	}
	capacity := size / sector
	grains := capacity / vmdkGrain
	tables := (grains + vmdkGTEs - 1) / vmdkGTEs
	desc := vmdkDescriptor(capacity, name, id)
	if len(desc) > vmdkDescSize*sector {
		return fmt.Errorf("vmdk: the descriptor is %d bytes, more than its %d sectors", len(desc), vmdkDescSize)
	}

	cw := &countingWriter{w: w}
	if _, err := cw.Write(vmdkHeader(capacity, ^uint64(0))); err != nil {
		return err
	}
	if _, err := cw.Write([]byte(desc)); err != nil {
		return err
	}
	if err := cw.pad(vmdkOverhead * sector); err != nil {
		return err
	}

	gt := make([]byte, 4*tables*vmdkGTEs)
	var z bytes.Buffer
	// The fastest level: the grains are mostly the zstd squashfs, and the
	// default level took 12 times as long (5.7 s) for a file 0.3 % smaller.
	zw, err := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	if err != nil {
		return err
	}
	err = blocks(raw, size, grainBytes, func(i int64, b []byte, zero bool) error {
		if zero {
			return nil
		}
		z.Reset()
		zw.Reset(&z)
		if _, err := zw.Write(b); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		binary.LittleEndian.PutUint32(gt[4*i:], uint32(cw.off/sector))
		var m [12]byte
		binary.LittleEndian.PutUint64(m[0:], uint64(i*vmdkGrain))
		binary.LittleEndian.PutUint32(m[8:], uint32(z.Len()))
		if _, err := cw.Write(m[:]); err != nil {
			return err
		}
		if _, err := cw.Write(z.Bytes()); err != nil {
			return err
		}
		return cw.pad(sector)
	})
	if err != nil {
		return err
	}

	// Every grain table, each behind its marker; the directory points at them.
	gd := make([]byte, 4*tables)
	for t := int64(0); t < tables; t++ {
		if err := writeMarker(cw, vmdkGTEs*4/sector, markerGT); err != nil {
			return err
		}
		binary.LittleEndian.PutUint32(gd[4*t:], uint32(cw.off/sector))
		if _, err := cw.Write(gt[4*t*vmdkGTEs : 4*(t+1)*vmdkGTEs]); err != nil {
			return err
		}
	}
	gdSectors := (int64(len(gd)) + sector - 1) / sector
	if err := writeMarker(cw, gdSectors, markerGD); err != nil {
		return err
	}
	gdOffset := cw.off / sector
	if _, err := cw.Write(gd); err != nil {
		return err
	}
	if err := cw.pad(sector); err != nil {
		return err
	}
	if err := writeMarker(cw, 1, markerFooter); err != nil {
		return err
	}
	if _, err := cw.Write(vmdkHeader(capacity, uint64(gdOffset))); err != nil {
		return err
	}
	return writeMarker(cw, 0, markerEOS)
}

// vmdkHeader is the sparse extent header; gd is the grain directory's
// sector, or all ones ("at the end") in the header at the start.
func vmdkHeader(capacity int64, gd uint64) []byte {
	h := make([]byte, sector)
	le := binary.LittleEndian
	le.PutUint32(h[0:], vmdkMagic)
	le.PutUint32(h[4:], 3) // version 3: streamOptimized
	le.PutUint32(h[8:], vmdkFlags)
	le.PutUint64(h[12:], uint64(capacity))
	le.PutUint64(h[20:], vmdkGrain)
	le.PutUint64(h[28:], vmdkDescOffset)
	le.PutUint64(h[36:], vmdkDescSize)
	le.PutUint32(h[44:], vmdkGTEs)
	// 48: the redundant grain directory, none.
	le.PutUint64(h[56:], gd)
	le.PutUint64(h[64:], vmdkOverhead)
	// 72: clean shutdown; 73: the new-line test characters.
	copy(h[73:], "\n \r\n")
	le.PutUint16(h[77:], 1) // deflate
	return h
}

// writeMarker writes a metadata marker: sectors of metadata of type typ
// follow it.
func writeMarker(w io.Writer, sectors int64, typ uint32) error {
	m := make([]byte, sector)
	binary.LittleEndian.PutUint64(m[0:], uint64(sectors))
	binary.LittleEndian.PutUint32(m[12:], typ)
	_, err := w.Write(m)
	return err
}

// vmdkDescriptor is the embedded descriptor: one sparse extent, an LSI
// Logic adapter (what OVAs made by ovftool say; the VM's own controller
// is the OVF's business) and the BIOS geometry of 255 heads and 63
// sectors.
func vmdkDescriptor(capacity int64, name string, id Identity) string {
	u := id.uuid("vmdk")
	cylinders := min(capacity/(255*63), 65535)
	var b strings.Builder
	fmt.Fprintf(&b, `# Disk DescriptorFile
version=1
CID=%x
parentCID=ffffffff
createType="streamOptimized"

# Extent description
RW %d SPARSE "%s"

# The Disk Data Base
#DDB

ddb.adapterType = "lsilogic"
ddb.geometry.cylinders = "%d"
ddb.geometry.heads = "255"
ddb.geometry.sectors = "63"
ddb.longContentID = "%x"
ddb.uuid = "%s"
ddb.virtualHWVersion = "4"
`, u[:4], capacity, name, cylinders, u, formatVMwareUUID(id.uuid("vmdk-uuid")))
	return b.String()
}

// formatVMwareUUID writes a UUID as VMware does: 16 hex bytes apart,
// with a dash between the eighth and the ninth.
func formatVMwareUUID(u [16]byte) string {
	var b strings.Builder
	for i, c := range u {
		switch {
		case i == 8:
			b.WriteByte('-')
		case i > 0:
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%02x", c)
	}
	return b.String()
}
