package deb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/berth-os/berth/internal/fuzzmem"
)

// indexBound: a Packages index is checked against a signed InRelease
// before it is read, but the reader should not need that: bookworm's
// main index (47 MiB, 63,440 packages) allocates 4.9 bytes a byte, the
// seeds under 64 KiB.
var indexBound = fuzzmem.Bound{Base: 16 * fuzzmem.MiB, PerByte: 64}

// A Packages index of any content never panics ParseIndex, is read within
// indexBound, and every package it gives has a name and dependencies that
// are bare names.
func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(index))
	// 60 KiB of continuation lines: 400 MiB of heap when each was
	// appended to its field as it came.
	f.Add([]byte("Package: a\nDescription: x\n" + strings.Repeat(" a\n", 20_000)))
	f.Add([]byte("Package: a\nDepends: b (>= 1) | c:any, , | d [amd64]\nProvides: e\nSize: 99999999999999999999\n\n\n \tx\nPackage:\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		var pkgs []Package
		fuzzmem.Check(t, indexBound, len(data), func() { pkgs = ParseIndex(string(data), "http://deb.example/debian") })
		for _, p := range pkgs {
			if p.Name == "" {
				t.Errorf("a package without a name: %+v", p)
			}
			for _, alts := range p.Depends {
				for _, d := range alts {
					if d == "" || strings.ContainsAny(d, " ([<:,|") {
						t.Errorf("%s depends on %q", p.Name, d)
					}
				}
			}
		}
	})
}

// releaseBound: an InRelease comes over plain http from a mirror, and is
// read before its signature is known to be good. bookworm's is 150 KiB
// and needs under 2 MiB to verify and read with the archive keyring.
var releaseBound = fuzzmem.Bound{Base: 32 * fuzzmem.MiB, PerByte: 256}

// An InRelease of any content never panics VerifyRelease, which reads it
// within releaseBound, and is accepted only when signed: with Debian's
// keyring, the input as it is; and the input as the text a test key
// signs, so that what follows a good signature is fuzzed too.
func FuzzVerifyRelease(f *testing.F) {
	real, err := os.ReadFile("testdata/InRelease")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	f.Add([]byte("Suite: stable\nCodename: bookworm\nValid-Until: Sat, 01 Jan 2050 00:00:00 UTC\nSHA256:\n " +
		strings.Repeat("aa", 32) + " 100 main/binary-amd64/Packages.xz\n x y\n bb 99999999999999999999 z\n"))
	f.Add([]byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nSuite: x\n-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n"))
	f.Add([]byte(""))
	debian, err := ArchiveKeys()
	if err != nil {
		f.Fatal(err)
	}
	key := testKey(f)
	test := openpgp.EntityList{key}
	// bookworm-updates' InRelease of testdata was made on 28 November 2026
	// and sets no Valid-Until.
	now := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	if r, err := VerifyRelease(real, "bookworm-updates", debian, now); err != nil || len(r.Files) == 0 {
		f.Fatalf("testdata/InRelease: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var signed []byte
		fuzzmem.Check(t, releaseBound, len(data), func() {
			VerifyRelease(data, "bookworm-updates", debian, now)
			signed = clearSign(t, key, string(data))
			VerifyRelease(signed, "stable", test, now)
		})
		if bytes.Equal(data, real) {
			return
		}
		if _, err := VerifyRelease(data, "bookworm-updates", test, now); err == nil {
			t.Errorf("accepted without a signature by its key: %q", data)
		}
	})
}

// debBound: a .deb is pinned by sha256 in the lock, but its reader should
// not need that either. Reading streams: decompressors (xz's dictionary, 8
// MiB for dpkg's -6; zstd's window) and the control file, which Control
// holds whole, cost about 10 MiB for the seeds.
var debBound = fuzzmem.Bound{Base: 64 * fuzzmem.MiB, PerByte: 64}

// debOf builds a .deb: an ar archive of debian-binary, control.tar.<comp>
// and data.tar.<comp>.
func debOf(f testing.TB, comp string, control string, entries []tar.Header, bodies map[string]string) []byte {
	tarball := func(hdrs []tar.Header) []byte {
		var buf bytes.Buffer
		var w io.WriteCloser
		var err error
		switch comp {
		case "gz":
			w = gzip.NewWriter(&buf)
		case "xz":
			w, err = xz.NewWriter(&buf)
		case "zst":
			w, err = zstd.NewWriter(&buf)
		}
		if err != nil {
			f.Fatal(err)
		}
		tw := tar.NewWriter(w)
		for _, h := range hdrs {
			b := bodies[h.Name]
			h.Size = int64(len(b))
			if err := tw.WriteHeader(&h); err != nil {
				f.Fatal(err)
			}
			tw.Write([]byte(b))
		}
		tw.Close()
		w.Close()
		return buf.Bytes()
	}
	bodies["./control"] = control
	return debArchive(comp, tarball([]tar.Header{{Name: "./control", Typeflag: tar.TypeReg, Mode: 0o644}}), tarball(entries))
}

// A .deb of any content never panics Control or WalkData, which read it
// within debBound, and WalkData gives every entry with a name. Extraction
// itself is not fuzzed: these tests run as root, and a way out of the tree
// the fuzzer found would write on this machine; the unit tests check the
// ways out that are known (TestExtractStaysInTheTree).
func FuzzDeb(f *testing.F) {
	entries := []tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./bin/tool", Typeflag: tar.TypeReg, Mode: 0o4755},
		{Name: "./bin/alias", Typeflag: tar.TypeSymlink, Linkname: "tool"},
		{Name: "./bin/hard", Typeflag: tar.TypeLink, Linkname: "./bin/tool"},
		{Name: "../../evil", Typeflag: tar.TypeReg, Mode: 0o644},
	}
	for _, comp := range []string{"gz", "xz", "zst"} {
		f.Add(debOf(f, comp, "Package: demo\nVersion: 1.2-3\nArchitecture: amd64\nDescription: d\n more\n", entries,
			map[string]string{"./bin/tool": "#!/bin/sh\n", "../../evil": "x"}))
	}
	// testdata/fuzz/FuzzDeb/zstd-512mib-window: members whose 14 bytes of
	// zstd ask for a 512 MiB window, which the decoder allocated.
	f.Add([]byte("!<arch>\ncontrol.tar     0           0     0     100644  5         `\nhello\n"))
	f.Add([]byte("!<arch>\n"))
	f.Add([]byte("hello"))
	dir := f.TempDir()
	deb := filepath.Join(dir, "fuzz.deb")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(deb, data, 0o644); err != nil {
			t.Fatal(err)
		}
		fuzzmem.Check(t, debBound, len(data), func() {
			Control(deb)
			WalkData(deb, func(h *tar.Header, r io.Reader) error {
				if path.Clean(h.Name) == "" {
					t.Errorf("an entry without a name: %+v", h)
				}
				_, err := io.Copy(io.Discard, r)
				return err
			})
		})
	})
}
