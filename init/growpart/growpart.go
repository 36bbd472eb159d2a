// Package growpart grows the last partition of a GPT disk to the end of the
// disk: a disk image made small and put on a bigger virtual disk gives the
// state partition all the room. It moves the backup GPT to the new end of
// the disk, extends the partition to the last whole MiB, and writes the
// backup copy before the primary one, so that a power cut in between leaves
// a table that readers recover from (see gpt.Table.Write). It changes
// nothing else: names, GUIDs, types, attributes and the MBR boot code stay.
package growpart

import (
	"fmt"
	"io"
	"os"

	"github.com/diskfs/go-diskfs/partition/gpt"
)

// align is where partitions end: whole MiB, as partitioning tools do.
const align = 1 << 20

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
		return Result{}, err
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
