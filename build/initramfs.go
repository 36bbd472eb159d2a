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
	"github.com/berth-os/berth/internal/layout"
)

// rescueApplets are the busybox applets linked in the initramfs, for the
// rescue shell of stage 1.
var rescueApplets = []string{"sh", "ls", "cat", "mount", "umount", "dmesg", "blkid", "mkdir", "ps", "reboot", "poweroff",
	"sleep", "switch_root", "losetup", "find", "grep", "less", "vi"}

// initramfsContents is what goes into the initramfs, busybox from bbDir.
func (j *job) initramfsContents(bbDir string) initramfs.Contents {
	return initramfs.Contents{
		Stage1:  filepath.Join(j.gobin, "stage1"),
		Busybox: filepath.Join(bbDir, "usr/bin/busybox"),
		Applets: rescueApplets,
		Info:    layout.Stage1Info{Rescue: j.spec.Rescue},
	}
}

// initramfsKey is the cache key of an initramfs made of c.
func initramfsKey(c initramfs.Contents) (string, error) {
	return cache.NewKey("initramfs", 1).File("stage1", c.Stage1).File("busybox", c.Busybox).
		String("applets", strings.Join(c.Applets, " ")).String("rescue", c.Info.Rescue).Key()
}

// buildInitramfs writes the initramfs: stage 1 and a static busybox.
func (j *job) buildInitramfs(ctx context.Context) error {
	bbDir, err := j.sets.get(ctx, "initramfs")
	if err != nil {
		return err
	}
	contents := j.initramfsContents(bbDir)
	key, err := initramfsKey(contents)
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
