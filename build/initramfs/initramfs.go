// Package initramfs writes Berth's small initramfs: stage 1 of init as
// /init, a static busybox for the rescue shell, what stage 1 must know of
// its image (layout.Stage1Info), and the device nodes the kernel needs
// before devtmpfs is mounted. It is a newc cpio, zstd
// compressed, with every record made reproducible.
package initramfs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/berth-os/berth/internal/layout"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"
)

// Contents lists what goes in.
type Contents struct {
	Stage1  string   // path of the stage 1 binary
	Busybox string   // path of a static busybox
	Applets []string // busybox applets to link in /bin (sh, ls, mount...)
	// Info tells stage 1 about its image (whether it may give a rescue
	// shell); written at layout.Stage1InfoPath.
	Info layout.Stage1Info
}

// Write writes the compressed initramfs to w.
func Write(w io.Writer, c Contents) error {
	stage1, err := os.ReadFile(c.Stage1)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	bb, err := os.ReadFile(c.Busybox)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if !slices.Contains(layout.RescueModes, c.Info.Rescue) {
		return fmt.Errorf("initramfs: rescue %q: expected %s", c.Info.Rescue, strings.Join(layout.RescueModes, ", "))
	}
	info, err := json.Marshal(c.Info)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	recs := []cpio.Record{
		cpio.Directory("bin", 0o755),
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.CharDev("dev/null", 0o666, 1, 3),
		cpio.Directory("media", 0o755),
		cpio.Directory("newroot", 0o755),
		cpio.Directory("proc", 0o755),
		cpio.Directory("sbin", 0o755),
		cpio.Directory("sys", 0o755),
		cpio.Directory("tmp", 0o1777),
		cpio.StaticFile("bin/busybox", string(bb), 0o755),
		cpio.StaticFile("init", string(stage1), 0o755),
		cpio.StaticFile(strings.TrimPrefix(layout.Stage1InfoPath, "/"), string(info)+"\n", 0o644),
	}
	applets := append([]string(nil), c.Applets...)
	sort.Strings(applets)
	for _, a := range applets {
		if a == "" || strings.Contains(a, "/") {
			return fmt.Errorf("initramfs: bad applet name %q", a)
		}
		recs = append(recs, cpio.Symlink("bin/"+a, "busybox"))
	}
	enc, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	var raw bytes.Buffer
	cw := cpio.Newc.Writer(&raw)
	for _, r := range recs {
		if err := cw.WriteRecord(cpio.MakeReproducible(r)); err != nil {
			return fmt.Errorf("initramfs: %s: %w", r.Name, err)
		}
	}
	if err := cpio.WriteTrailer(cw); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if _, err := enc.Write(raw.Bytes()); err != nil {
		return fmt.Errorf("initramfs: compress: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("initramfs: compress: %w", err)
	}
	return nil
}
