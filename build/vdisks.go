package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/berth-os/berth/build/cache"

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
	vhdxFormat = vdiskFormat{Output: "vhdx", Title: "vhdx (dynamic, Hyper-V)", Write: func(out, raw *os.File, size int64, j *job) error {
		return vdisk.WriteVHDX(out, raw, size, j.vdiskIdentity())
	}}
	gceFormat = vdiskFormat{Output: "gce", Title: "gce (disk.raw in a tar.gz)", Write: func(out, raw *os.File, size int64, j *job) error {
		return vdisk.WriteGCE(out, raw, size, time.Unix(j.epoch, 0).UTC())
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

// ovaHardware are the OVAs written, one per hypervisor (see vdisk.Hypervisor).
var ovaHardware = []vdisk.Hypervisor{vdisk.VMware, vdisk.VirtualBox}

// writeOVA packs the streamOptimized VMDK with an OVF descriptor for each
// hypervisor: <name>-vmware.ova and <name>-virtualbox.ova.
func writeOVA(ctx context.Context, j *job) ([]string, error) {
	vmdks, err := vmdkFormat.write(ctx, j)
	if err != nil {
		return nil, err
	}
	m := media{Stage: "ova", Version: 1, Title: "ova (VMware, VirtualBox)", File: ovaHardware[0].Name + ".ova"}
	k := cache.NewKey(m.Stage, m.Version).String("vmdk", filepath.Base(filepath.Dir(vmdks[0]))).
		String("name", j.spec.Name).String("epoch", strconv.FormatInt(j.epoch, 10))
	first, err := j.makeMedia(m, k, func(out, _ string) error {
		for _, hw := range ovaHardware {
			o := vdisk.OVA{Name: j.spec.Name, Hardware: hw, CPUs: 2, MemoryMiB: 1024, VMDK: vmdks[0],
				Capacity: int64(j.spec.Disk.Size), Time: time.Unix(j.epoch, 0).UTC()}
			if err := createWith(filepath.Join(out, hw.Name+".ova"), o.Write); err != nil {
				return fmt.Errorf("ova for %s: %w", hw.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var files []string
	for _, hw := range ovaHardware {
		files = append(files, filepath.Join(filepath.Dir(first), hw.Name+".ova"))
	}
	return files, nil
}

// createWith makes the file path with write.
func createWith(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
