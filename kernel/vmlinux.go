package kernel

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// maxVmlinux caps what Vmlinux decompresses: today's is 46 MiB.
const maxVmlinux = 512 << 20

// xenNotePhys32Entry is XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit entry point
// that Xen PVH, QEMU's PVH loader and Firecracker jump to.
const xenNotePhys32Entry = 18

// Vmlinux returns the uncompressed kernel ELF that a bzImage carries (the
// payload that the x86 boot protocol, version 2.08 and later, locates),
// without the relocation table appended to it. Xen PVH guests, Firecracker
// and QEMU's PVH loader boot it through its PVH entry note; Vmlinux fails
// when the note is missing (a kernel without CONFIG_PVH).
func Vmlinux(bzImage []byte) ([]byte, error) {
	if len(bzImage) < 0x250 || string(bzImage[0x202:0x206]) != "HdrS" {
		return nil, errors.New("vmlinux: not a bzImage (no HdrS boot header)")
	}
	le := binary.LittleEndian
	if v := le.Uint16(bzImage[0x206:]); v < 0x208 {
		return nil, fmt.Errorf("vmlinux: boot protocol %#x has no payload fields (2.08 has)", v)
	}
	setup := int(bzImage[0x1f1])
	if setup == 0 {
		setup = 4
	}
	start := (setup + 1) * 512
	off, n := int(le.Uint32(bzImage[0x248:])), int(le.Uint32(bzImage[0x24c:]))
	if start+off+n > len(bzImage) || n == 0 {
		return nil, fmt.Errorf("vmlinux: payload %d+%d runs past the %d-byte bzImage", start+off, n, len(bzImage))
	}
	payload := bzImage[start+off : start+off+n]
	var r io.Reader
	switch {
	case bytes.HasPrefix(payload, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		d, err := zstd.NewReader(bytes.NewReader(payload), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxVmlinux))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		r = d
	case bytes.HasPrefix(payload, []byte{0x1f, 0x8b}):
		g, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		g.Multistream(false)
		r = g
	case bytes.HasPrefix(payload, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		x, err := xz.NewReader(bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		r = x
	default:
		return nil, fmt.Errorf("vmlinux: payload compressed as % x, not zstd, gzip or xz", payload[:min(len(payload), 6)])
	}
	var out bytes.Buffer
	// The zstd payload ends with its size (4 bytes, not a frame): the
	// decoder reports that as an error after the whole ELF came out.
	_, err := io.Copy(&out, io.LimitReader(r, maxVmlinux+1))
	if out.Len() > maxVmlinux {
		return nil, fmt.Errorf("vmlinux: more than %d MiB uncompressed", maxVmlinux>>20)
	}
	b := out.Bytes()
	end, eerr := elfEnd(b)
	if eerr != nil {
		if err != nil {
			return nil, fmt.Errorf("vmlinux: decompress: %w", err)
		}
		return nil, eerr
	}
	return b[:end], nil
}

// elfEnd checks that b starts with an x86-64 ELF that has a PVH entry
// note and returns where the ELF ends (its headers and every section and
// segment), before anything appended to it.
func elfEnd(b []byte) (int, error) {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return 0, fmt.Errorf("vmlinux: the payload is not an ELF: %w", err)
	}
	if f.Machine != elf.EM_X86_64 {
		return 0, fmt.Errorf("vmlinux: an ELF for %s, not x86-64", f.Machine)
	}
	end := uint64(0)
	pvh := false
	for _, p := range f.Progs {
		end = max(end, p.Off+p.Filesz)
		if p.Type == elf.PT_NOTE && hasNote(p.Open(), xenNotePhys32Entry) {
			pvh = true
		}
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS {
			end = max(end, s.Offset+s.FileSize)
		}
	}
	// The section header table is at e_shoff (offset 0x28), e_shnum
	// entries of e_shentsize (0x3c, 0x3a).
	le := binary.LittleEndian
	end = max(end, le.Uint64(b[0x28:])+uint64(le.Uint16(b[0x3c:]))*uint64(le.Uint16(b[0x3a:])))
	if !pvh {
		return 0, errors.New("vmlinux: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): the kernel lacks CONFIG_PVH")
	}
	if end > uint64(len(b)) {
		return 0, fmt.Errorf("vmlinux: the ELF claims %d bytes, the payload has %d", end, len(b))
	}
	return int(end), nil
}

// hasNote reports whether a note segment holds a "Xen" note of type typ.
func hasNote(r io.Reader, typ uint32) bool {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return false
	}
	le := binary.LittleEndian
	align4 := func(n uint32) int { return int((n + 3) &^ 3) }
	for len(b) >= 12 {
		namesz, descsz, t := le.Uint32(b), le.Uint32(b[4:]), le.Uint32(b[8:])
		b = b[12:]
		if align4(namesz) > len(b) {
			return false
		}
		name := string(bytes.TrimRight(b[:namesz], "\x00"))
		b = b[align4(namesz):]
		if align4(descsz) > len(b) {
			return false
		}
		b = b[align4(descsz):]
		if name == "Xen" && t == typ {
			return true
		}
	}
	return false
}
