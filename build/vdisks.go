package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-os/berth/build/vdisk"
)

// The hypervisors' disk formats, each converted from the raw disk by
// build/vdisk (not qemu-img, whose UUIDs and time stamps are random).
var (
	vmdkFormat = vdiskFormat{Output: "vmdk", Title: "vmdk (streamOptimized, VMware)", Write: func(out, raw *os.File, size int64, j *job) error {
		return vdisk.WriteVMDK(out, raw, size, j.spec.Name+".vmdk", j.vdiskIdentity())
	}}
	vdiFormat = vdiskFormat{Output: "vdi", Title: "vdi (VirtualBox)", Write: func(out, raw *os.File, size int64, j *job) error {
		return vdisk.WriteVDI(out, raw, size, j.vdiskIdentity())
	}}
	// A fixed VHD is the raw disk and a footer; its holes stay holes.
	vhdFormat = vdiskFormat{Output: "vhd", Title: "vhd (fixed, Azure and Hyper-V)", Write: func(out, raw *os.File, size int64, j *job) error {
		footer, err := vdisk.VHDFooter(size, j.vdiskIdentity())
		if err != nil {
			return err
		}
		if err := copyData(raw, out, size); err != nil {
			return err
		}
		_, err = out.WriteAt(footer, size)
		return err
	}}
)

// vdiskFormat is a disk format made from the raw disk.
type vdiskFormat struct {
	Output string
	Title  string
	// Write writes the format to w, an *os.File at offset 0.
	Write func(out, raw *os.File, size int64, j *job) error
}

// vdiskIdentity seeds the formats' UUIDs with the build's ID and dates
// them at SOURCE_DATE_EPOCH.
func (j *job) vdiskIdentity() vdisk.Identity {
	return vdisk.Identity{Seed: j.buildID, Time: time.Unix(j.epoch, 0).UTC()}
}

// write makes the format from the raw disk, in a cache stage of its own.
func (f vdiskFormat) write(ctx context.Context, j *job) ([]string, error) {
	raws, err := writeRaw(ctx, j)
	if err != nil {
		return nil, err
	}
	boot, err := j.boot(ctx)
	if err != nil {
		return nil, err
	}
	m := media{Stage: f.Output, Version: 1, Title: f.Title, File: "disk." + f.Output}
	p, err := j.makeMedia(m, j.mediaKey(m, boot).String("raw", filepath.Base(filepath.Dir(raws[0]))), func(out, file string) error {
		raw, err := os.Open(raws[0])
		if err != nil {
			return err
		}
		defer raw.Close()
		st, err := raw.Stat()
		if err != nil {
			return err
		}
		w, err := os.Create(file)
		if err != nil {
			return err
		}
		if err := f.Write(w, raw, st.Size(), j); err != nil {
			w.Close()
			return fmt.Errorf("%s: %w", f.Output, err)
		}
		return w.Close()
	})
	if err != nil {
		return nil, err
	}
	return []string{p}, nil
}
