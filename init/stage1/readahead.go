package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// On a machine of little memory the root's disk reads ahead nothing.
//
// The programs of a boot (PID 1, containerd, the shim, the services) run
// from the root squashfs, and under memory pressure the kernel drops their
// pages and reads them again. With the block layer's default readahead
// (128 KiB) each such fault reads and unpacks the blocks around the page
// as well, pages that push out others still in use. In a 128 MiB VM (q35,
// TCG) a boot took 34 s to 128 s to ready, or was degraded (containerd not
// ready after two minutes), and read 0.55 to 1.35 GB of file pages again
// (workingset_refault_file, /proc/vmstat). With no readahead it was ready
// in 16 to 17 s on an idle host, having read 85 to 170 MB again; 16 KiB
// did about as well, 32 KiB and more worse. A squashfs read still unpacks
// the whole 64 KiB block it is in.
//
// Readahead helps long sequential reads of a disk, which a host of more
// memory keeps: the setting is for machines under smallMemory only, and
// only for the device the root is mounted from (the disk of its partition,
// the dm-verity device, or the loop device of an ISO or network root).
const (
	// MemTotal under this: VMs of 192 MiB or less (MemTotal is some 45 MiB
	// less than the RAM: 85 MiB of 128).
	smallMemoryKiB    = 160 << 10
	smallReadaheadKiB = 0
)

// tuneReadahead sets the readahead of the block device that the filesystem
// at root is mounted from to smallReadaheadKiB when meminfo's MemTotal is
// under smallMemoryKiB, through sysfs. It says what it did, or "" when the
// memory is not small.
func tuneReadahead(sysfs, meminfo, root string) (string, error) {
	total, err := memTotalKiB(meminfo)
	if err != nil {
		return "", err
	}
	if total >= smallMemoryKiB {
		return "", nil
	}
	var st unix.Stat_t
	if err := unix.Stat(root, &st); err != nil {
		return "", fmt.Errorf("stat %s: %w", root, err)
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	// sysfs/dev/block/MAJ:MIN links to the device's folder; a partition's
	// queue is its disk's, the folder above that one.
	dir, err := filepath.EvalSymlinks(filepath.Join(sysfs, "dev", "block", dev))
	if err != nil {
		return "", fmt.Errorf("block device %s of %s: %w", dev, root, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "partition")); err == nil {
		dir = filepath.Dir(dir)
	}
	p := filepath.Join(dir, "queue", "read_ahead_kb")
	if err := os.WriteFile(p, []byte(strconv.Itoa(smallReadaheadKiB)), 0); err != nil {
		return "", fmt.Errorf("readahead of %s (block device %s): %w", root, dev, err)
	}
	return fmt.Sprintf("memory %d MiB: no readahead on the root's block device %s", total>>10, dev), nil
}

// memTotalKiB reads MemTotal from a /proc/meminfo.
func memTotalKiB(meminfo string) (int, error) {
	f, err := os.Open(meminfo)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		if err != nil {
			return 0, fmt.Errorf("%s: MemTotal %q: want a number of kB", meminfo, strings.TrimSpace(v))
		}
		return n, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New(meminfo + ": no MemTotal line")
}
