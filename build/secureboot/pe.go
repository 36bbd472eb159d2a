// Package secureboot makes what UEFI Secure Boot runs: unified kernel
// images (a systemd-stub with the kernel, initrd and command line in its
// own sections) and Authenticode signatures on PE images, which the
// firmware checks against the keys in its db before it runs them.
//
// Signing is done here, not with sbsign: sbsign (through OpenSSL) puts the
// signing time into every signature, so two builds would differ. An RSA
// PKCS #1 v1.5 signature with no time in it is the same bytes every time.
package secureboot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// peHeader is what this package reads of a PE32+ image's headers.
type peHeader struct {
	coff          int // offset of the COFF header (after "PE\0\0")
	opt           int // offset of the optional header
	sectionTable  int
	numSections   int
	checksum      int // offset of the CheckSum field
	certDir       int // offset of the certificate table's data directory entry
	sizeOfHeaders int
	sectionAlign  uint32
	fileAlign     uint32
}

const (
	sectionHeaderSize = 40
	certDirIndex      = 4 // IMAGE_DIRECTORY_ENTRY_SECURITY
)

var le = binary.LittleEndian

func parsePE(b []byte) (peHeader, error) {
	var h peHeader
	if len(b) < 0x40 || string(b[:2]) != "MZ" {
		return h, errors.New("not a PE image: no MZ header")
	}
	pe := int(le.Uint32(b[0x3c:]))
	if pe < 0x40 || pe+24 > len(b) || string(b[pe:pe+4]) != "PE\x00\x00" {
		return h, errors.New("not a PE image: no PE signature")
	}
	h.coff = pe + 4
	h.numSections = int(le.Uint16(b[h.coff+2:]))
	optSize := int(le.Uint16(b[h.coff+16:]))
	h.opt = h.coff + 20
	h.sectionTable = h.opt + optSize
	if h.sectionTable+h.numSections*sectionHeaderSize > len(b) {
		return h, errors.New("PE image: section table past the end of the file")
	}
	if le.Uint16(b[h.opt:]) != 0x20b {
		return h, errors.New("PE image: not PE32+ (a 64-bit image)")
	}
	h.sectionAlign = le.Uint32(b[h.opt+32:])
	h.fileAlign = le.Uint32(b[h.opt+36:])
	h.sizeOfHeaders = int(le.Uint32(b[h.opt+60:]))
	h.checksum = h.opt + 64
	dirs := h.opt + 112
	if n := le.Uint32(b[dirs-4:]); n <= certDirIndex || dirs+int(n)*8 > h.sectionTable {
		return h, errors.New("PE image: no certificate table directory")
	}
	h.certDir = dirs + certDirIndex*8
	if h.sizeOfHeaders > len(b) || h.sizeOfHeaders < h.sectionTable+h.numSections*sectionHeaderSize {
		return h, errors.New("PE image: bad SizeOfHeaders")
	}
	if h.sectionAlign == 0 || h.fileAlign == 0 {
		return h, errors.New("PE image: zero section or file alignment")
	}
	return h, nil
}

// section is a section header's fields that this package uses.
type section struct {
	name             string
	virtualSize      uint32
	virtualAddress   uint32
	sizeOfRawData    uint32
	pointerToRawData uint32
}

func (h peHeader) sections(b []byte) []section {
	s := make([]section, h.numSections)
	for i := range s {
		o := h.sectionTable + i*sectionHeaderSize
		name := b[o : o+8]
		n := 0
		for n < 8 && name[n] != 0 {
			n++
		}
		s[i] = section{string(name[:n]), le.Uint32(b[o+8:]), le.Uint32(b[o+12:]), le.Uint32(b[o+16:]), le.Uint32(b[o+20:])}
	}
	return s
}

// certTable is where the image's certificate table is: offset 0 for none.
func (h peHeader) certTable(b []byte) (off, size int) {
	return int(le.Uint32(b[h.certDir:])), int(le.Uint32(b[h.certDir+4:]))
}

// authenticodeRanges are the byte ranges of b that its Authenticode hash
// covers, in the order they are hashed: the headers without the checksum
// and the certificate table's directory entry, the sections by file
// offset, and what follows them, up to the certificate table.
func authenticodeRanges(b []byte, h peHeader) ([][2]int, error) {
	end := len(b)
	if off, size := h.certTable(b); off != 0 {
		if off+size != len(b) || off < h.sizeOfHeaders {
			return nil, fmt.Errorf("PE image: the certificate table (%d bytes at %d) is not at the end of the file (%d bytes)", size, off, len(b))
		}
		end = off
	}
	r := [][2]int{{0, h.checksum}, {h.checksum + 4, h.certDir}, {h.certDir + 8, h.sizeOfHeaders}}
	secs := h.sections(b)
	sort.SliceStable(secs, func(i, j int) bool { return secs[i].pointerToRawData < secs[j].pointerToRawData })
	sum := h.sizeOfHeaders
	for _, s := range secs {
		if s.sizeOfRawData == 0 {
			continue
		}
		lo, hi := int(s.pointerToRawData), int(s.pointerToRawData)+int(s.sizeOfRawData)
		if lo < h.sizeOfHeaders || hi > end {
			return nil, fmt.Errorf("PE image: section %s (%d bytes at %d) is outside the image", s.name, s.sizeOfRawData, lo)
		}
		r = append(r, [2]int{lo, hi})
		sum += int(s.sizeOfRawData)
	}
	// As EDK2 (OVMF) and the Authenticode specification do: what is past
	// the sum of the hashed sizes, up to the certificate table.
	if sum < end {
		r = append(r, [2]int{sum, end})
	}
	return r, nil
}

// peChecksum is the PE image checksum of b, whose CheckSum field is at off.
func peChecksum(b []byte, off int) uint32 {
	var sum uint64
	for i := 0; i+1 < len(b); i += 2 {
		if i == off || i == off+2 {
			continue
		}
		sum += uint64(le.Uint16(b[i:]))
		sum = (sum & 0xffff) + (sum >> 16)
	}
	if len(b)%2 == 1 {
		sum += uint64(b[len(b)-1])
		sum = (sum & 0xffff) + (sum >> 16)
	}
	sum = (sum & 0xffff) + (sum >> 16)
	return uint32(sum) + uint32(len(b))
}

func alignUp(n, a int) int { return (n + a - 1) / a * a }
