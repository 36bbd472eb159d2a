package blockdev

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/fuzzmem"
)

// probeBound: probing reads fixed windows (70 KiB at the start, a
// 2 KiB ISO 9660 descriptor, a FAT boot sector, 16 bytes of an ext4
// superblock), whatever the device's size: Probe, Label and UUID (each
// of which probes) need 220 KiB together for every seed, and no device may
// cost them more than a MiB.
var probeBound = fuzzmem.Bound{Base: 1 * fuzzmem.MiB}

// deviceStart returns the first n bytes of a filesystem a host tool made.
func deviceStart(f *testing.F, n int, size int64, argv ...string) []byte {
	path := filepath.Join(f.TempDir(), "fs.img")
	mkfs(f, path, size, argv...)
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b[:n]
}

// The start of a disk of any content never panics Probe, Label, UUID or
// ISOLabel, which each read within probeBound, and they agree: Label and
// UUID find the filesystem Probe finds, a blank device is the only one
// with ErrNoFilesystem, and a label has no padding left.
func FuzzProbe(f *testing.F) {
	const window = 72 << 10
	f.Add(deviceStart(f, window, 8<<20, "mke2fs", "-q", "-F", "-t", "ext4", "-L", "BERTH_STATE", "-U", "3f1c9a52-7e0b-4d8e-9b1a-2c5d7e9f0a1b"))
	f.Add(deviceStart(f, 4096, 16<<20, "mkfs.fat", "-F", "16", "-n", "CIDATA", "-i", "abcd1234"))
	f.Add(deviceStart(f, 4096, 40<<20, "mkfs.fat", "-F", "32", "-n", "config-2", "-i", "0badcafe"))
	sig := func(n int, at int, s string) []byte {
		b := make([]byte, n)
		copy(b[at:], s)
		return b
	}
	iso := sig(window, 32768, "\x01CD001")
	copy(iso[32768+40:], "BERTH                           ")
	f.Add(iso)
	f.Add(sig(window, 65600, "_BHRfS_M"))
	f.Add(sig(4096+10, 4086, "SWAPSPACE2"))
	f.Add(sig(4096, 0, "hsqs"))
	f.Add(sig(4096, 0, "XFSB"))
	f.Add(sig(4096, 0, "LUKS\xba\xbe"))
	f.Add(make([]byte, window))
	f.Add(make([]byte, 4095))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var typ, ltyp, label, uuid string
		var perr, lerr, uerr error
		fuzzmem.Check(t, probeBound, len(data), func() {
			typ, perr = Probe(r)
			ltyp, label, lerr = Label(r)
			uuid, uerr = UUID(r)
			ISOLabel(r)
		})
		if perr != nil {
			if lerr == nil || uerr == nil {
				t.Errorf("Probe: %v, but Label: %v and UUID: %v", perr, lerr, uerr)
			}
			if errors.Is(perr, ErrNoFilesystem) && !bytes.Equal(data[:min(len(data), 4096)], make([]byte, min(len(data), 4096))) {
				t.Errorf("ErrNoFilesystem for a device whose first 4 KiB are not blank")
			}
			return
		}
		if lerr == nil && ltyp != typ {
			t.Errorf("Probe: %s, Label: %s", typ, ltyp)
		}
		if label != strings.TrimRight(label, " \x00") {
			t.Errorf("label %q keeps its padding", label)
		}
		if uerr == nil && (typ != "ext4" && typ != "vfat" || uuid == "") {
			t.Errorf("UUID %q of a %s filesystem", uuid, typ)
		}
	})
}
