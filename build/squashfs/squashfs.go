// Package squashfs makes the read-only root filesystem image with
// mksquashfs: every file owned by root, every time stamp the build's
// SOURCE_DATE_EPOCH, xz with the x86 BCJ filter, so that the same tree
// always gives the same bytes. (go-diskfs' writer gives nlink=0
// directories, which runc rejects, and only gzip; see DESIGN.md.)
package squashfs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/berth-os/berth/build/hosttool"
)

// Make writes the squashfs of dir to out.
func Make(ctx context.Context, dir, out string, epoch int64) error {
	tools, err := hosttool.Need("mksquashfs")
	if err != nil {
		return err
	}
	os.Remove(out)
	ts := strconv.FormatInt(epoch, 10)
	cmd := exec.CommandContext(ctx, tools["mksquashfs"], dir, out,
		"-noappend", "-no-progress", "-quiet",
		"-comp", "xz", "-Xbcj", "x86", "-b", "1M",
		"-all-root", "-no-xattrs",
		"-all-time", ts, "-mkfs-time", ts,
	)
	// mksquashfs refuses SOURCE_DATE_EPOCH together with -all-time.
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "SOURCE_DATE_EPOCH=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mksquashfs %s: %w\n%s", dir, err, o)
	}
	return nil
}
