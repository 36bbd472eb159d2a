package verity

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The device-mapper ioctl interface (linux/dm-ioctl.h), version 4.
const (
	dmHeaderSize   = 312 // struct dm_ioctl
	dmTargetSize   = 40  // struct dm_target_spec
	dmNameLen      = 128
	dmReadOnlyFlag = 1 << 0
	dmDevCreate    = 3
	dmDevRemove    = 4
	dmDevSuspend   = 6 // without DM_SUSPEND_FLAG: resume, making the table live
	dmTableLoad    = 9
)

// dmIoctl is _IOWR(0xfd, nr, struct dm_ioctl).
func dmIoctl(nr uintptr) uintptr { return 3<<30 | dmHeaderSize<<16 | 0xfd<<8 | nr }

// dmCall sends one device-mapper command with an optional table for a
// device named name, and returns the device number the kernel reports.
func dmCall(ctl *os.File, nr uintptr, name string, flags uint32, target string, sectors uint64, params string) (uint64, error) {
	var body []byte
	if target != "" {
		spec := make([]byte, dmTargetSize)
		binary.LittleEndian.PutUint64(spec[0:], 0)
		binary.LittleEndian.PutUint64(spec[8:], sectors)
		copy(spec[24:40], target)
		body = append(spec, params...)
		body = append(body, 0)
		for len(body)%8 != 0 {
			body = append(body, 0)
		}
		binary.LittleEndian.PutUint32(body[20:], uint32(len(body))) // next
	}
	buf := make([]byte, dmHeaderSize+len(body)+4096) // room for the answer
	binary.LittleEndian.PutUint32(buf[0:], 4)        // version 4.0.0
	binary.LittleEndian.PutUint32(buf[12:], uint32(len(buf)))
	binary.LittleEndian.PutUint32(buf[16:], dmHeaderSize) // data_start
	if target != "" {
		binary.LittleEndian.PutUint32(buf[20:], 1) // target_count
	}
	binary.LittleEndian.PutUint32(buf[28:], flags)
	copy(buf[48:48+dmNameLen-1], name)
	copy(buf[dmHeaderSize:], body)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, ctl.Fd(), dmIoctl(nr), uintptr(unsafe.Pointer(&buf[0]))); errno != 0 {
		return 0, errno
	}
	return binary.LittleEndian.Uint64(buf[40:]), nil
}

// Open maps dev (the data and its tree, as Append wrote them) through the
// kernel's verity target as the read-only device-mapper device name, and
// returns the path of its node under devDir (devtmpfs makes it). Every
// read of the new device is checked against p.Root; a block that differs
// reads as an I/O error, and the kernel logs "verity: ... data block N is
// corrupted".
func Open(devDir, name, dev string, p Params) (string, error) {
	if len(name) >= dmNameLen || bytes.IndexByte([]byte(name), '/') >= 0 {
		return "", fmt.Errorf("verity: bad device name %q", name)
	}
	ctl, err := os.OpenFile(devDir+"/mapper/control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("verity: device-mapper: %w", err)
	}
	defer ctl.Close()
	devno, err := dmCall(ctl, dmDevCreate, name, 0, "", 0, "")
	if err != nil {
		return "", fmt.Errorf("verity: create %s: %w", name, err)
	}
	undo := func(err error) (string, error) {
		dmCall(ctl, dmDevRemove, name, 0, "", 0, "")
		return "", err
	}
	if _, err := dmCall(ctl, dmTableLoad, name, dmReadOnlyFlag, "verity", p.Sectors(), p.Table(dev)); err != nil {
		return undo(fmt.Errorf("verity: load the table of %s over %s: %w (the kernel log says why)", name, dev, err))
	}
	if _, err := dmCall(ctl, dmDevSuspend, name, 0, "", 0, ""); err != nil {
		return undo(fmt.Errorf("verity: activate %s: %w", name, err))
	}
	return fmt.Sprintf("%s/dm-%d", devDir, unix.Minor(devno)), nil
}
