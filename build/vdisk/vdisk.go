// Package vdisk writes a raw disk image in the formats hypervisors import:
// VHD (fixed) for Azure and Hyper-V, VDI for VirtualBox and streamOptimized
// VMDK for VMware. It writes the headers itself, because qemu-img fills
// their UUIDs and time stamps at random and a build must give the same
// bytes twice: here they come from an Identity.
package vdisk

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"time"
)

// Identity fills the fields that other tools make up at each run.
type Identity struct {
	// Seed makes the disk's UUIDs and content IDs: the same seed, the same
	// IDs (the build's ID, so that two images differ).
	Seed string
	// Time is the creation time that VHD records (SOURCE_DATE_EPOCH).
	Time time.Time
}

// uuid derives an RFC 9562 version 8 (custom) UUID from the seed and a
// name, as 16 bytes in the order they are written.
func (id Identity) uuid(name string) [16]byte {
	h := sha256.Sum256([]byte("berth-vdisk\x00" + id.Seed + "\x00" + name))
	var u [16]byte
	copy(u[:], h[:16])
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return u
}

const sector = 512

// checkSize refuses a disk that is not a whole number of blocks.
func checkSize(format string, size, block int64) error {
	if size <= 0 || size%block != 0 {
		return fmt.Errorf("%s: the raw disk is %d bytes; it must be a non-zero multiple of %d", format, size, block)
	}
	return nil
}

// isZero reports whether b holds only zero bytes.
func isZero(b []byte) bool {
	var zero [4096]byte
	for len(b) > 0 {
		n := min(len(b), len(zero))
		if !bytes.Equal(b[:n], zero[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// blocks calls f with each block of raw, in order, and whether it holds
// only zeros. The buffer is reused.
func blocks(raw io.ReaderAt, size, block int64, f func(i int64, b []byte, zero bool) error) error {
	buf := make([]byte, block)
	for i := int64(0); i*block < size; i++ {
		if _, err := raw.ReadAt(buf, i*block); err != nil {
			return fmt.Errorf("read the raw disk at %d: %w", i*block, err)
		}
		if err := f(i, buf, isZero(buf)); err != nil {
			return err
		}
	}
	return nil
}

// dataBlocks writes each block of raw that holds data, in order.
func dataBlocks(w io.Writer, raw io.ReaderAt, size, block int64) error {
	return blocks(raw, size, block, func(_ int64, b []byte, zero bool) error {
		if zero {
			return nil
		}
		_, err := w.Write(b)
		return err
	})
}

// countingWriter knows how far it has written.
type countingWriter struct {
	w   io.Writer
	off int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.off += int64(n)
	return n, err
}

// pad writes zeros up to the next multiple of align.
func (c *countingWriter) pad(align int64) error {
	if r := c.off % align; r != 0 {
		_, err := c.Write(make([]byte, align-r))
		return err
	}
	return nil
}
