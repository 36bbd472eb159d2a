package build

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/initramfs"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/build/tree"
)

// rescueApplets are the busybox applets linked in the initramfs, for the
// rescue shell of stage 1.
var rescueApplets = []string{"sh", "ls", "cat", "mount", "umount", "dmesg", "blkid", "mkdir", "ps", "reboot", "poweroff",
	"sleep", "switch_root", "losetup", "find", "grep", "less", "vi"}

// buildInitramfs writes the initramfs: stage 1 and a static busybox.
func (j *job) buildInitramfs(ctx context.Context) error {
	bbDir, err := j.sets.get(ctx, "initramfs")
	if err != nil {
		return err
	}
	contents := initramfs.Contents{
		Stage1:  filepath.Join(j.gobin, "stage1"),
		Busybox: filepath.Join(bbDir, "usr/bin/busybox"),
		Applets: rescueApplets,
	}
	key, err := cache.NewKey("initramfs", 1).File("stage1", contents.Stage1).File("busybox", contents.Busybox).
		String("applets", strings.Join(contents.Applets, " ")).Key()
	if err != nil {
		return err
	}
	step := cache.Step{Stage: "initramfs", Key: key, Title: "initramfs", Made: "built"}
	dir, _, err := j.c.Reported(j.rep, step, func(out string, _ progress.Task) error {
		var buf bytes.Buffer
		if err := initramfs.Write(&buf, contents); err != nil {
			return err
		}
		return tree.WriteFile(filepath.Join(out, "initrd.img"), buf.Bytes(), 0o644)
	})
	if err != nil {
		return err
	}
	j.initrd = filepath.Join(dir, "initrd.img")
	return nil
}
