package build

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/berth-os/berth/build/hosttool"
)

var qcow2Tools = append([]string{"qemu-img"}, rawTools...)

// writeQcow2 converts the raw disk with qemu-img (compressed, compat 1.1).
func writeQcow2(ctx context.Context, j *job) ([]string, error) {
	raws, err := writeRaw(ctx, j)
	if err != nil {
		return nil, err
	}
	boot, err := j.boot(ctx)
	if err != nil {
		return nil, err
	}
	m := media{Stage: "qcow2", Version: 1, Title: "qcow2", File: "disk.qcow2"}
	q, err := j.makeMedia(m, j.mediaKey(m, boot).String("raw", filepath.Base(filepath.Dir(raws[0]))), func(out, file string) error {
		tools, err := hosttool.Need("qemu-img")
		if err != nil {
			return err
		}
		cmd := hosttool.Command(ctx, nil, tools["qemu-img"], "convert", "-q", "-f", "raw", "-O", "qcow2", "-c", "-o", "compat=1.1", raws[0], file)
		if o, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("qemu-img convert: %w\n%s", err, o)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []string{q}, nil
}
