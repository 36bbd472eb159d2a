// Package squashfs makes the read-only root filesystem image with
// mksquashfs: every file owned by root, every time stamp the build's
// SOURCE_DATE_EPOCH, so that the same tree always gives the same bytes.
// (go-diskfs' writer gives nlink=0 directories, which runc rejects, and
// only gzip; see DESIGN.md.)
//
// zstd is the default: measured under TCG, a zstd root reaches ready in
// 11.5 s where xz takes 19-21 s (decompressing the Go binaries dominates),
// for a 15% larger image. xz (with the x86 BCJ filter) is there for images
// where size matters more.
//
// Blocks are BlockSize: see its comment.
package squashfs

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/berth-os/berth/build/hosttool"
)

// Compressions are the supported compressors, by name.
var Compressions = map[string][]string{
	"zstd": {"-comp", "zstd", "-Xcompression-level", "19"},
	"xz":   {"-comp", "xz", "-Xbcj", "x86"},
}

// BlockSize is the squashfs block size, mksquashfs's -b: what the kernel
// decompresses, whole, to read any page of a file, and puts in the page
// cache. Measured under TCG (q35, 2 vCPUs, one boot each, the default
// image): with 1 MiB blocks the root is 45.5 MiB but 144 MiB of RAM
// reaches no ready in 2 minutes (the services' binaries, read a page here
// and there, fill the page cache 256 pages at a time and push each other
// out); with 128 KiB, 48.5 MiB and ready in 144 MiB (35 s) but not in
// 128; with 64 KiB, 49.9 MiB and ready in 128 MiB (78 s) and 144 (31 s);
// with 32 KiB, 51.2 MiB and ready in 128 MiB (67 s). At 512 MiB the boot
// takes as long with any of them.
const BlockSize = "64K"

// Tools are the host programs Make runs.
var Tools = []string{"mksquashfs"}

// Make writes the squashfs of dir to out.
func Make(ctx context.Context, dir, out string, epoch int64, compression string) error {
	comp, ok := Compressions[compression]
	if !ok {
		return fmt.Errorf("squashfs: unknown compression %q", compression)
	}
	tools, err := hosttool.Need("mksquashfs")
	if err != nil {
		return err
	}
	if err := os.Remove(out); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("squashfs: %w", err)
	}
	ts := strconv.FormatInt(epoch, 10)
	args := append([]string{dir, out, "-noappend", "-no-progress", "-quiet", "-b", BlockSize,
		"-all-root", "-no-xattrs", "-all-time", ts, "-mkfs-time", ts}, comp...)
	// No SOURCE_DATE_EPOCH: mksquashfs refuses it together with -all-time.
	cmd := hosttool.Command(ctx, nil, tools["mksquashfs"], args...)
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mksquashfs %s: %w\n%s", dir, err, o)
	}
	return nil
}
