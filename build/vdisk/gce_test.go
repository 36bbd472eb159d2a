package vdisk

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"io"
	"strings"
	"testing"
)

// sparseDisk reads as zeros except for data at off.
type sparseDisk struct {
	off  int64
	data []byte
}

func (d sparseDisk) ReadAt(p []byte, at int64) (int, error) {
	clear(p)
	if lo, hi := max(at, d.off), min(at+int64(len(p)), d.off+int64(len(d.data))); lo < hi {
		copy(p[lo-at:], d.data[lo-d.off:hi-d.off])
	}
	return len(p), nil
}

func TestGCE(t *testing.T) {
	const size = 1 << 30
	d := sparseDisk{off: 3<<20 + 5, data: bytes.Repeat([]byte("berth"), 5000)}
	var out bytes.Buffer
	if err := WriteGCE(&out, d, size, testID.Time); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header names %q at %v; want neither", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "disk.raw" || h.Size != size || h.Format != tar.FormatGNU || !h.ModTime.Equal(testID.Time) {
		t.Errorf("member %q of %d bytes, format %v, time %v; want disk.raw of %d, GNU, at the epoch", h.Name, h.Size, h.Format, h.ModTime, size)
	}
	got, want := sha256.New(), sha256.New()
	if _, err := io.Copy(got, tr); err != nil {
		t.Fatal(err)
	}
	io.Copy(want, io.NewSectionReader(d, 0, size))
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Error("disk.raw is not the raw disk")
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("a second member: %v", err)
	}
	if err := WriteGCE(io.Discard, d, size+1<<20, testID.Time); err == nil || !strings.Contains(err.Error(), "multiple of 1073741824") {
		t.Errorf("a size that is not whole GiB: err = %v, want it refused", err)
	}
}
