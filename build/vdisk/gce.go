package vdisk

import (
	"archive/tar"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/gzip"
)

// WriteGCE writes raw (size bytes, a whole number of GiB as GCE wants) as
// the tar.gz that Compute Engine imports: one member, disk.raw, in GNU
// tar format. The gzip header carries no name and no time.
func WriteGCE(w io.Writer, raw io.ReaderAt, size int64, t time.Time) error {
	if err := checkSize("gce", size, 1<<30); err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	// No time: klauspost's writer turns a zero ModTime into 2042.
	zw.ModTime = time.Unix(0, 0)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "disk.raw", Size: size, Mode: 0o644, ModTime: t, Typeflag: tar.TypeReg, Format: tar.FormatGNU}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, io.NewSectionReader(raw, 0, size)); err != nil {
		return fmt.Errorf("gce: %w", err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}
