package datasource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-os/berth/internal/blockdev"
	"golang.org/x/sys/unix"
)

// Volume is a datasource on a labelled filesystem: NoCloud's cidata, or
// OpenStack's config-2 (ISO 9660 or vfat).
type Volume struct {
	SourceName string
	// Labels are the accepted labels, compared without case; none accepts
	// any label.
	Labels []string
	// Types are the filesystems the volume may be (none: iso9660 and vfat).
	Types []string
	// Read reads the mounted volume; ErrNotFound from it moves on to the
	// next volume that matches.
	Read func(dir string) (*Data, error)
	// Load, when set, readies the kernel to mount a filesystem of a type
	// (loads udf's module) before the first mount of that type.
	Load func(fstype string) error
	// Sysfs and Dev root the block device scan (/sys and /dev on a host).
	Sysfs, Dev string
	// Wait is how long to wait for the volume to appear on a machine
	// whose disks the kernel may still be finding (lateDiscovery); on any
	// other, the volume is looked for once.
	Wait time.Duration
	// Settle, shared by volume sources, makes them wait for devices once
	// in all: the devices that came for the first are all there are.
	Settle *Settle
	// Trust says whether a volume on a disk attached so is used, and if
	// not, why (Precedence.Seed); nil uses any.
	Trust func(blockdev.Attachment) (bool, string)
}

// Settle is the one wait for block devices of several volume sources.
type Settle struct {
	once  sync.Once
	until time.Time
}

func (s *Settle) deadline(wait time.Duration) time.Time {
	s.once.Do(func() { s.until = time.Now().Add(wait) })
	return s.until
}

// NoCloud is the cidata volume.
func NoCloud() *Volume {
	return &Volume{SourceName: "nocloud", Labels: []string{"cidata"}, Read: readNoCloud, Sysfs: "/sys", Dev: "/dev", Wait: time.Second}
}

// ConfigDrive is the config-2 volume.
func ConfigDrive() *Volume {
	return &Volume{SourceName: "configdrive", Labels: []string{"config-2"}, Read: readConfigDrive, Sysfs: "/sys", Dev: "/dev", Wait: time.Second}
}

func (v *Volume) Name() string  { return v.SourceName }
func (v *Volume) Network() bool { return false }

// Find returns the device holding a filesystem with one of the labels
// that Trust allows. One it does not is an error of kind ErrIgnored, when
// there is no other.
func (v *Volume) Find() (dev, fstype string, err error) {
	found, err := v.find()
	if err != nil {
		return "", "", err
	}
	return found[0].dev, found[0].fstype, nil
}

type volumeDev struct{ dev, fstype string }

// find returns every device that holds a filesystem of the volume's types
// with one of its labels and that Trust allows, in the order of the scan.
func (v *Volume) find() ([]volumeDev, error) {
	devs, err := blockdev.List(v.Sysfs, v.Dev)
	if err != nil {
		return nil, err
	}
	types := v.Types
	if len(types) == 0 {
		types = []string{"iso9660", "vfat"}
	}
	var found []volumeDev
	var ignored error
	for _, d := range devs {
		f, err := os.Open(d.Dev)
		if err != nil {
			continue
		}
		typ, label, err := blockdev.Label(f)
		f.Close()
		if err != nil || !slices.Contains(types, typ) || !v.labelled(label) {
			continue
		}
		if v.Trust != nil {
			if ok, why := v.Trust(blockdev.AttachmentOf(v.Sysfs, d)); !ok {
				if ignored == nil {
					ignored = fmt.Errorf("%w: %s (labelled %s): %s", ErrIgnored, d.Dev, label, why)
				}
				continue
			}
		}
		found = append(found, volumeDev{d.Dev, typ})
	}
	switch {
	case len(found) > 0:
		return found, nil
	case ignored != nil:
		return nil, ignored
	case len(v.Labels) == 0:
		return nil, fmt.Errorf("%w: no %s filesystem", ErrNotFound, strings.Join(types, " or "))
	}
	return nil, fmt.Errorf("%w: no filesystem labelled %s", ErrNotFound, strings.Join(v.Labels, " or "))
}

func (v *Volume) labelled(label string) bool {
	if len(v.Labels) == 0 {
		return true
	}
	for _, want := range v.Labels {
		if strings.EqualFold(label, want) {
			return true
		}
	}
	return false
}

// lateDiscovery says whether the machine has a bus whose disks the kernel
// may still be finding when init runs: MMC hosts and Hyper-V's VMBus scan
// in work queues of their own. Every other controller a Berth kernel
// drives at boot is built in, and the kernel waits for their probes
// (asynchronous SCSI and ATA scans and NVMe's included) before it runs
// init, so the disks it has then are all there are. A disk behind a
// module (USB storage) comes once udev has loaded it, well after the
// datasources are read: waiting here would not find it either.
func lateDiscovery(sysfs string) bool {
	for _, d := range []string{"class/mmc_host", "bus/vmbus/devices"} {
		if ents, err := os.ReadDir(filepath.Join(sysfs, d)); err == nil && len(ents) > 0 {
			return true
		}
	}
	return false
}

// Fetch mounts the volume read-only on a temporary folder and reads it;
// of several that match, the first whose Read finds its data. It waits
// for the volume only where disks may still come (lateDiscovery).
func (v *Volume) Fetch(ctx context.Context) (*Data, error) {
	wait := v.Wait
	if !lateDiscovery(v.Sysfs) {
		wait = 0
	}
	deadline := time.Now().Add(wait)
	if v.Settle != nil {
		deadline = v.Settle.deadline(wait)
	}
	var found []volumeDev
	var err error
	for {
		if found, err = v.find(); err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	for _, f := range found {
		var d *Data
		if d, err = v.read(f); err == nil || !errors.Is(err, ErrNotFound) {
			return d, err
		}
	}
	return nil, err
}

// read mounts one volume and reads it.
func (v *Volume) read(f volumeDev) (*Data, error) {
	if v.Load != nil {
		if err := v.Load(f.fstype); err != nil {
			return nil, fmt.Errorf("%s (%s): %w", f.dev, f.fstype, err)
		}
	}
	dir, err := os.MkdirTemp("/run", "berth-ds-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(dir)
	if err := unix.Mount(f.dev, dir, f.fstype, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return nil, fmt.Errorf("mount %s (%s) on %s: %w", f.dev, f.fstype, dir, err)
	}
	defer unix.Unmount(dir, 0)
	d, err := v.Read(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.dev, err)
	}
	return d, nil
}
