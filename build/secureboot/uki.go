package secureboot

import (
	"bytes"
	"debug/pe"
	"fmt"
)

// Section is a section UKI adds to the stub.
type Section struct {
	Name string // at most 8 bytes: .osrel, .cmdline, .initrd, .linux
	Data []byte
}

// linuxAlign is where the kernel's section starts in memory: the x86
// kernel's usual alignment (kernel_alignment), as the stub's
// documentation places it.
const linuxAlign = 2 << 20

// SectorAlign is where each added section's data starts in the file: a
// multiple of an ISO 9660 sector, so that an ISO can give the kernel and
// the initrd directory entries of their own that point into the UKI's
// bytes, and carry them once (build/isoshare.go). The padding before a
// section is the previous section's raw data, zeros past its virtual
// size, so the file has no gap that its signature leaves out.
const SectorAlign = 2048

// UKI makes a unified kernel image: the systemd-stub PE image stub with
// secs added as sections after its own, in the order given (the kernel,
// the largest, last). The stub's COFF symbol table, which nothing at boot
// reads, is left out. The result is unsigned; Sign signs it.
func UKI(stub []byte, secs []Section) ([]byte, error) {
	h, err := parsePE(stub)
	if err != nil {
		return nil, fmt.Errorf("UKI stub: %w", err)
	}
	if off, _ := h.certTable(stub); off != 0 {
		return nil, fmt.Errorf("UKI stub: it is signed; sections can only be added to an unsigned stub")
	}
	table := h.sectionTable + h.numSections*sectionHeaderSize
	if room := (h.sizeOfHeaders - table) / sectionHeaderSize; room < len(secs) {
		return nil, fmt.Errorf("UKI stub: room for %d more section headers, %d needed", room, len(secs))
	}
	rawEnd, vaEnd := h.sizeOfHeaders, 0
	last := -1 // the header of the section whose raw data ends the file
	for i, s := range h.sections(stub) {
		if s.pointerToRawData < uint32(table+len(secs)*sectionHeaderSize) && s.sizeOfRawData > 0 {
			return nil, fmt.Errorf("UKI stub: section %s starts inside the headers", s.name)
		}
		if end := int(s.pointerToRawData + s.sizeOfRawData); end >= rawEnd && s.sizeOfRawData > 0 {
			rawEnd, last = end, h.sectionTable+i*sectionHeaderSize
		}
		vaEnd = max(vaEnd, int(s.virtualAddress+max(s.virtualSize, s.sizeOfRawData)))
	}
	out := bytes.Clone(stub[:rawEnd])
	le.PutUint32(out[h.coff+8:], 0)  // PointerToSymbolTable
	le.PutUint32(out[h.coff+12:], 0) // NumberOfSymbols
	fileAlign, secAlign := int(h.fileAlign), max(int(h.sectionAlign), 4096)
	initData := le.Uint32(out[h.opt+8:])
	for i, s := range secs {
		if len(s.Name) == 0 || len(s.Name) > 8 {
			return nil, fmt.Errorf("UKI: section name %q: 1 to 8 bytes", s.Name)
		}
		align := secAlign
		if s.Name == ".linux" {
			align = linuxAlign
		}
		va := alignUp(vaEnd, align)
		out = append(out, make([]byte, alignUp(len(out), fileAlign)-len(out))...)
		if pad := alignUp(len(out), SectorAlign) - len(out); pad > 0 {
			if last < 0 {
				return nil, fmt.Errorf("UKI stub: no section to pad up to %d bytes", SectorAlign)
			}
			le.PutUint32(out[last+16:], le.Uint32(out[last+16:])+uint32(pad)) // SizeOfRawData
			out = append(out, make([]byte, pad)...)
			if i > 0 {
				initData += uint32(pad)
			}
		}
		ptr, raw := len(out), alignUp(len(s.Data), fileAlign)
		out = append(append(out, s.Data...), make([]byte, raw-len(s.Data))...)
		o := table + i*sectionHeaderSize
		copy(out[o:o+8], append([]byte(s.Name), make([]byte, 8-len(s.Name))...))
		le.PutUint32(out[o+8:], uint32(len(s.Data)))
		le.PutUint32(out[o+12:], uint32(va))
		le.PutUint32(out[o+16:], uint32(raw))
		le.PutUint32(out[o+20:], uint32(ptr))
		clear(out[o+24 : o+36])              // relocations, line numbers
		le.PutUint32(out[o+36:], 0x40000040) // initialized data, readable
		last = o
		vaEnd = va + len(s.Data)
		initData += uint32(raw)
		if vaEnd > 1<<31 {
			return nil, fmt.Errorf("UKI: %d bytes of sections is too large", vaEnd)
		}
	}
	le.PutUint16(out[h.coff+2:], uint16(h.numSections+len(secs)))
	le.PutUint32(out[h.opt+8:], initData)
	le.PutUint32(out[h.opt+56:], uint32(alignUp(vaEnd, int(h.sectionAlign)))) // SizeOfImage
	le.PutUint32(out[h.checksum:], peChecksum(out, h.checksum))
	return out, nil
}

// WithoutVendorCert returns the shim PE image with the certificate built
// into it (its .vendor_cert section's authorized list) removed, keeping
// its list of revoked hashes: a distribution's shim trusts that
// distribution's key besides the firmware's db, and a Berth disk's trusts
// only db (and the machine owner's MOK list).
func WithoutVendorCert(shim []byte) ([]byte, error) {
	h, err := parsePE(shim)
	if err != nil {
		return nil, fmt.Errorf("shim: %w", err)
	}
	if off, _ := h.certTable(shim); off != 0 {
		return nil, fmt.Errorf("shim: it is signed; it can only be changed unsigned")
	}
	// The name is longer than 8 bytes: debug/pe reads it from the COFF
	// string table.
	f, err := pe.NewFile(bytes.NewReader(shim))
	if err != nil {
		return nil, fmt.Errorf("shim: %w", err)
	}
	s := f.Section(".vendor_cert")
	if s == nil {
		return nil, fmt.Errorf("shim: no .vendor_cert section")
	}
	if s.Size < 16 || int(s.Offset+s.Size) > len(shim) {
		return nil, fmt.Errorf("shim: .vendor_cert is too short")
	}
	out := bytes.Clone(shim)
	// struct cert_table { authorized size, deauthorized size,
	// authorized offset, deauthorized offset }.
	le.PutUint32(out[s.Offset:], 0)
	le.PutUint32(out[h.checksum:], peChecksum(out, h.checksum))
	return out, nil
}
