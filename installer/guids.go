package installer

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"golang.org/x/sys/unix"

	"github.com/berth-os/berth/internal/layout"
)

// RenewGUIDs gives a disk made from an image GUIDs of its own: when the
// GPT's disk GUID is factory (layout.FactoryDiskGUID), the disk and every
// partition get random GUIDs; any other disk is left alone. Names, types,
// attributes, extents and the MBR boot code stay. The backup table is
// written before the primary one, as in Grow: a power cut in between
// leaves the old primary table, and the next boot renews again.
func RenewGUIDs(f *os.File, sectorSize int, factory string) (bool, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return false, fmt.Errorf("size of %s: %w", f.Name(), err)
	}
	if err := checkEntryArrays(f, size, sectorSize); err != nil {
		return false, fmt.Errorf("read GPT: %w", err)
	}
	t, err := gpt.Read(f, sectorSize, sectorSize)
	if err != nil {
		return false, fmt.Errorf("read GPT: %w", err)
	}
	if !strings.EqualFold(t.GUID, factory) {
		return false, nil
	}
	if t.GUID, err = randomGUID(); err != nil {
		return false, err
	}
	for _, p := range t.Partitions {
		if p.Type == gpt.Unused {
			continue
		}
		if p.GUID, err = randomGUID(); err != nil {
			return false, err
		}
	}
	if err := t.Write(f, size); err != nil {
		return false, fmt.Errorf("write GPT: %w", err)
	}
	return true, f.Sync()
}

// randomGUID is a random version 4 GUID.
func randomGUID() (string, error) {
	var h [16]byte
	if _, err := rand.Read(h[:]); err != nil {
		return "", fmt.Errorf("random GUID: %w", err)
	}
	return formatGUID(h[:]), nil
}

// RenewDisk is RenewGUIDs on disk (a kernel name such as vda, found under
// sysfs, opened under devDir) with the factory disk GUID. The kernel keeps
// the partitions' old GUIDs until it next reads the table, at the next
// boot: nothing in a running Berth looks them up.
func RenewDisk(sysfs, devDir, disk string) (bool, error) {
	ss, err := readInt(filepath.Join(sysfs, "block", disk, "queue/logical_block_size"))
	if err != nil {
		return false, fmt.Errorf("renew GUIDs of %s: sector size: %w", disk, err)
	}
	f, err := os.OpenFile(filepath.Join(devDir, disk), os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("renew GUIDs of %s: %w", disk, err)
	}
	defer f.Close()
	renewed, err := RenewGUIDs(f, ss, layout.FactoryDiskGUID)
	if err != nil {
		return false, fmt.Errorf("renew GUIDs of %s: %w", disk, err)
	}
	return renewed, nil
}
