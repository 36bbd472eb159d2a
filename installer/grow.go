package installer

// Growing the state partition, online. A disk image made small and put on
// a bigger virtual disk gives the state partition all the room: Grow moves
// the backup GPT to the new end of the disk, extends the last partition to
// the last whole MiB, and writes the backup copy before the primary one, so
// that a power cut in between leaves a table that readers recover from (see
// gpt.Table.Write). It changes nothing else: names, GUIDs, types,
// attributes and the MBR boot code stay. GrowPartition does it under a
// mounted filesystem and tells the kernel with BLKPG; resizing the
// filesystem is the caller's.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/diskfs/go-diskfs/partition/gpt"
)

// Result says what Grow did, in bytes from the start of the disk.
type Result struct {
	Grown            bool
	Start            int64 // of the partition
	OldSize, NewSize int64 // of the partition
}

// Grow extends partition number part (1-based, as in /sys/class/block/
// <dev>/partition) of the GPT on disk f, with sectors of sectorSize, to the
// end of the disk. It grows only the last partition and only by a MiB or
// more; otherwise it returns Grown false and writes nothing.
func Grow(f *os.File, sectorSize int, part int) (Result, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return Result{}, fmt.Errorf("size of %s: %w", f.Name(), err)
	}
	if err := checkEntryArrays(f, size, sectorSize); err != nil {
		return Result{}, fmt.Errorf("read GPT: %w", err)
	}
	t, err := gpt.Read(f, sectorSize, sectorSize)
	if err != nil {
		return Result{}, fmt.Errorf("read GPT: %w", err)
	}
	var p *gpt.Partition
	for _, q := range t.Partitions {
		if q.Index == part && q.Type != gpt.Unused {
			p = q
		}
	}
	if p == nil {
		return Result{}, fmt.Errorf("no partition %d in the GPT", part)
	}
	for _, q := range t.Partitions {
		if q != p && q.Type != gpt.Unused && q.Start > p.Start {
			return Result{}, fmt.Errorf("partition %d is not the last on the disk: partition %d starts after it", part, q.Index)
		}
	}
	ss := uint64(sectorSize)
	r := Result{Start: int64(p.Start * ss), OldSize: int64((p.End - p.Start + 1) * ss)}
	r.NewSize = r.OldSize
	// The table as it would be on a disk of this size: the backup header
	// on the last sector, the entries before it.
	t.Resize(uint64(size))
	end := (t.LastDataSector() + 1) * ss / align * align / ss // first sector past the last whole MiB
	if end <= p.End+1 || (end-1-p.End)*ss < align {
		return r, nil
	}
	p.End = end - 1
	p.Size = (p.End - p.Start + 1) * ss
	if err := t.Write(f, size); err != nil {
		return r, fmt.Errorf("write GPT: %w", err)
	}
	r.Grown, r.NewSize = true, int64(p.Size)
	return r, nil
}

// maxEntryArray is the most partition-entry bytes Grow lets gpt.Read
// allocate. Every partitioning tool writes 128 entries of 128 bytes (16
// KiB, the least UEFI allows); 1 MiB is 8192 of them.
const maxEntryArray = 1 << 20

// checkEntryArrays refuses a disk whose primary or backup GPT header (the
// two gpt.Read may use) is valid but claims a partition entry array of
// more than maxEntryArray bytes: gpt.Read allocates the whole array before
// it reads a byte of it, and a crafted disk claiming 2^32 entries made
// that 512 GiB, a fatal out-of-memory error in PID 1. A header that is not
// valid is left to gpt.Read, which does not trust it either.
func checkEntryArrays(f io.ReaderAt, size int64, sectorSize int) error {
	for _, h := range []struct {
		name string
		lba  int64
	}{{"primary", 1}, {"backup", size/int64(sectorSize) - 1}} {
		hdr := make([]byte, 92)
		if h.lba < 1 {
			continue
		}
		if _, err := f.ReadAt(hdr, h.lba*int64(sectorSize)); err != nil {
			continue // gpt.Read says what it cannot read
		}
		sum := binary.LittleEndian.Uint32(hdr[16:])
		binary.LittleEndian.PutUint32(hdr[16:], 0)
		if string(hdr[:8]) != "EFI PART" || binary.LittleEndian.Uint32(hdr[12:]) != 92 || crc32.ChecksumIEEE(hdr) != sum {
			continue
		}
		count, entry := binary.LittleEndian.Uint32(hdr[80:]), binary.LittleEndian.Uint32(hdr[84:])
		if uint64(count)*uint64(entry) > maxEntryArray {
			return fmt.Errorf("%s header (sector %d) claims %d partition entries of %d bytes: more than the %d KiB of entries Berth reads", h.name, h.lba, count, entry, maxEntryArray>>10)
		}
	}
	return nil
}

// GrowPartition grows the partition dev (e.g. /dev/vda4, found under sysfs
// as class/block/vda4) to the end of its disk with Grow, while its
// filesystem is mounted, and tells the kernel the partition's new size
// alone: re-reading the whole table is refused while a partition is in use.
// Devices are opened under devDir (/dev on a host).
func GrowPartition(sysfs, devDir, dev string) (Result, error) {
	name := filepath.Base(dev)
	sys := filepath.Join(sysfs, "class/block", name)
	part, err := readInt(filepath.Join(sys, "partition"))
	if err != nil {
		return Result{}, fmt.Errorf("grow %s: not a partition: %w", dev, err)
	}
	// The parent of the partition's sysfs folder is its disk.
	real, err := filepath.EvalSymlinks(sys)
	if err != nil {
		return Result{}, fmt.Errorf("grow %s: %w", dev, err)
	}
	disk := filepath.Base(filepath.Dir(real))
	sector, err := readInt(filepath.Join(sysfs, "block", disk, "queue/logical_block_size"))
	if err != nil {
		return Result{}, fmt.Errorf("grow %s: sector size of %s: %w", dev, disk, err)
	}
	f, err := os.OpenFile(filepath.Join(devDir, disk), os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return Result{}, fmt.Errorf("grow %s: %w", dev, err)
	}
	defer f.Close()
	r, err := Grow(f, sector, part)
	if err != nil {
		return r, fmt.Errorf("grow %s on %s: %w", dev, disk, err)
	}
	if !r.Grown {
		return r, nil
	}
	if err := f.Sync(); err != nil {
		return r, fmt.Errorf("grow %s: sync %s: %w", dev, disk, err)
	}
	if err := resizePartition(f, part, r.Start, r.NewSize); err != nil {
		return r, fmt.Errorf("grow %s: tell the kernel %s%d grew: %w", dev, disk, part, err)
	}
	return r, nil
}

// resizePartition is the BLKPG_RESIZE_PARTITION ioctl.
func resizePartition(disk *os.File, part int, start, length int64) error {
	p := unix.BlkpgPartition{Start: start, Length: length, Pno: int32(part)}
	arg := unix.BlkpgIoctlArg{Op: unix.BLKPG_RESIZE_PARTITION, Datalen: int32(unsafe.Sizeof(p)), Data: (*byte)(unsafe.Pointer(&p))}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, disk.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(&arg)))
	if errno != 0 {
		return errno
	}
	return nil
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
