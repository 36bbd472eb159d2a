package build

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"unicode/utf16"
)

// isoSector is the ISO 9660 logical block.
const isoSector = 2048

// An isoShare is a file of an ISO whose directory entries are made to
// point into the bytes of another file of it: the ISO carries those bytes
// once. The ISO's BIOS boot reads the kernel and the initrd as files of
// their own (isolinux has no other way), and its UEFI boot reads the
// unified kernel image, which holds both as sections: shared, they cost
// the ISO 17 MB less.
type isoShare struct {
	path   string // the file on the ISO, an empty placeholder when written
	in     string // the file whose bytes it gets
	offset int64  // where they start in it: a multiple of isoSector
	size   int64
}

// shareISOExtents points each share's directory entries, in the primary
// tree (which Rock Ridge extends) and in the Joliet tree, at its bytes in
// the other file, in an ISO that xorriso wrote.
func shareISOExtents(iso string, shares []isoShare) error {
	f, err := os.OpenFile(iso, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	r := isoReader{f: f}
	roots, err := r.roots()
	if err != nil {
		return fmt.Errorf("%s: %w", iso, err)
	}
	for _, s := range shares {
		if s.offset%isoSector != 0 || s.offset < 0 || s.size < 0 || s.size > 1<<32-1 {
			return fmt.Errorf("%s: %s: offset %d in %s is not on a %d-byte sector", iso, s.path, s.offset, s.in, isoSector)
		}
		for _, root := range roots {
			in, err := r.lookup(root, s.in)
			if err != nil {
				return fmt.Errorf("%s: %w", iso, err)
			}
			if s.offset+s.size > int64(in.size) {
				return fmt.Errorf("%s: %s: bytes %d to %d of %s, which has %d", iso, s.path, s.offset, s.offset+s.size, s.in, in.size)
			}
			rec, err := r.lookup(root, s.path)
			if err != nil {
				return fmt.Errorf("%s: %w", iso, err)
			}
			if rec.size != 0 {
				return fmt.Errorf("%s: %s has %d bytes of its own; its placeholder must be empty", iso, s.path, rec.size)
			}
			var b [16]byte
			both32(b[0:], in.extent+uint32(s.offset/isoSector))
			both32(b[8:], uint32(s.size))
			if _, err := f.WriteAt(b[:], rec.at+2); err != nil {
				return err
			}
		}
	}
	return f.Sync()
}

// both32 writes v as ISO 9660's both-byte-order 32-bit field.
func both32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
}

type isoReader struct{ f *os.File }

// isoRecord is a directory record: where it is in the image, and the
// extent and size it gives.
type isoRecord struct {
	at     int64
	extent uint32
	size   uint32
	dir    bool
	joliet bool
}

// roots reads the volume descriptors: the primary's root directory and,
// when there is one, the Joliet supplementary's.
func (r isoReader) roots() ([]isoRecord, error) {
	var roots []isoRecord
	b := make([]byte, isoSector)
	for lba := int64(16); lba < 16+64; lba++ {
		if _, err := r.f.ReadAt(b, lba*isoSector); err != nil {
			return nil, fmt.Errorf("volume descriptor %d: %w", lba, err)
		}
		if string(b[1:6]) != "CD001" {
			return nil, fmt.Errorf("sector %d is not a volume descriptor", lba)
		}
		switch {
		case b[0] == 255:
			if len(roots) == 0 || roots[0].joliet {
				return nil, fmt.Errorf("no primary volume descriptor")
			}
			return roots, nil
		case b[0] == 1 && len(roots) == 0:
			roots = append(roots, parseRecord(b[156:190], lba*isoSector+156, false))
		case b[0] == 2 && b[88] == '%' && b[89] == '/' && bytes.IndexByte([]byte("@CE"), b[90]) >= 0:
			roots = append(roots, parseRecord(b[156:190], lba*isoSector+156, true))
		}
	}
	return nil, fmt.Errorf("no volume descriptor set terminator")
}

func parseRecord(b []byte, at int64, joliet bool) isoRecord {
	return isoRecord{at: at, extent: binary.LittleEndian.Uint32(b[2:]), size: binary.LittleEndian.Uint32(b[10:]), dir: b[25]&2 != 0, joliet: joliet}
}

// lookup finds a path's record under root.
func (r isoReader) lookup(root isoRecord, path string) (isoRecord, error) {
	cur := root
	for _, name := range strings.Split(strings.Trim(path, "/"), "/") {
		if !cur.dir {
			return isoRecord{}, fmt.Errorf("%s: %s is not a folder", path, name)
		}
		if cur.size > 16<<20 {
			return isoRecord{}, fmt.Errorf("%s: a folder of %d bytes", path, cur.size)
		}
		data := make([]byte, cur.size)
		base := int64(cur.extent) * isoSector
		if _, err := r.f.ReadAt(data, base); err != nil {
			return isoRecord{}, fmt.Errorf("%s: %w", path, err)
		}
		found := false
		for pos := 0; pos < len(data); {
			n := int(data[pos])
			if n == 0 { // records do not cross sectors: on to the next
				pos = (pos/isoSector + 1) * isoSector
				continue
			}
			if n < 34 || pos+n > len(data) || 33+int(data[pos+32]) > n {
				return isoRecord{}, fmt.Errorf("%s: a bad directory record at byte %d", path, base+int64(pos))
			}
			rec := data[pos : pos+n]
			if recordName(rec, cur.joliet) == name {
				cur, found = parseRecord(rec, base+int64(pos), cur.joliet), true
				break
			}
			pos += n
		}
		if !found {
			return isoRecord{}, fmt.Errorf("%s: no %s", path, name)
		}
	}
	return cur, nil
}

// recordName is a record's file name: Joliet's UCS-2, else Rock Ridge's
// NM entry, else the ISO 9660 name without its version and a trailing dot.
func recordName(rec []byte, joliet bool) string {
	id := rec[33 : 33+int(rec[32])]
	if len(id) == 1 && id[0] <= 1 { // . and ..
		return ""
	}
	if joliet {
		u := make([]uint16, len(id)/2)
		for i := range u {
			u[i] = binary.BigEndian.Uint16(id[2*i:])
		}
		return strings.TrimSuffix(string(utf16.Decode(u)), ";1")
	}
	su := rec[33+len(id)+1-len(id)%2:]
	for len(su) >= 4 && int(su[2]) >= 4 && int(su[2]) <= len(su) {
		if su[0] == 'N' && su[1] == 'M' && su[2] >= 5 {
			return string(su[5:su[2]])
		}
		su = su[su[2]:]
	}
	name, _, _ := strings.Cut(string(id), ";")
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// ukiShares are the ISO's kernel and initrd as the sections of the
// install kit's UKI that hold them (secureboot.SectorAlign places them),
// once their bytes are checked to be those files'.
func ukiShares(uki string, files map[string]string) ([]isoShare, error) {
	img, err := os.ReadFile(uki)
	if err != nil {
		return nil, err
	}
	f, err := pe.NewFile(bytes.NewReader(img))
	if err != nil {
		return nil, fmt.Errorf("UKI %s: %w", uki, err)
	}
	var shares []isoShare
	for _, path := range sortedKeys(files) {
		want, err := os.ReadFile(files[path])
		if err != nil {
			return nil, err
		}
		name := map[string]string{isoKernel: ".linux", isoInitrd: ".initrd"}[path]
		s := f.Section(name)
		if s == nil {
			return nil, fmt.Errorf("UKI %s: no %s section for %s", uki, name, path)
		}
		off, size := int64(s.Offset), int64(s.VirtualSize)
		if off+size > int64(len(img)) || !bytes.Equal(img[off:off+size], want) {
			return nil, fmt.Errorf("UKI %s: its %s section is not %s", uki, name, files[path])
		}
		shares = append(shares, isoShare{path: path, in: isoUKI, offset: off, size: size})
	}
	return shares, nil
}
