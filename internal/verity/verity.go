// Package verity makes and opens dm-verity roots. The build appends a
// hash tree to the root squashfs (Append); the kernel command line
// carries the tree's root hash (Params.Flag); stage 1 maps the root
// through the kernel's verity target (Open), so that every block read is
// checked against the tree and a changed block is an I/O error, never
// silently different data.
//
// The format is dm-verity's version 1, as veritysetup writes it with
// --no-superblock: 4096-byte data and hash blocks, sha256, the salt
// before each block, the tree's levels stored top first right after the
// data (hash offset = the data's size).
package verity

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

const (
	// BlockSize is the data and hash block size.
	BlockSize = 4096
	hashSize  = sha256.Size
	perBlock  = BlockSize / hashSize // hashes in a hash block
)

// Flag is the kernel command line flag: berth.verity=<data blocks>:<root hash>.
const Flag = "berth.verity"

// Params are what opens a verity root: how many data blocks it has (the
// tree starts after them) and the tree's root hash. The salt is empty.
type Params struct {
	DataBlocks uint64
	Root       [hashSize]byte
}

// String is the flag's value.
func (p Params) String() string {
	return strconv.FormatUint(p.DataBlocks, 10) + ":" + hex.EncodeToString(p.Root[:])
}

// ErrBadFlag is the kind of a berth.verity value Parse refuses.
var ErrBadFlag = errors.New("not <data blocks>:<sha256 root hash>")

// Parse reads a flag's value.
func Parse(s string) (Params, error) {
	var p Params
	n, h, ok := strings.Cut(s, ":")
	blocks, err := strconv.ParseUint(n, 10, 64)
	if !ok || err != nil || blocks == 0 || blocks > 1<<40 {
		return p, fmt.Errorf("%s=%q: %w", Flag, s, ErrBadFlag)
	}
	root, err := hex.DecodeString(h)
	if err != nil || len(root) != hashSize {
		return p, fmt.Errorf("%s=%q: %w", Flag, s, ErrBadFlag)
	}
	p.DataBlocks = blocks
	copy(p.Root[:], root)
	return p, nil
}

// levels returns the number of hash blocks of each level, level 0 (the
// hashes of the data) first, as the kernel computes them.
func levels(dataBlocks uint64) []uint64 {
	var out []uint64
	for n := dataBlocks; ; {
		n = (n + perBlock - 1) / perBlock
		out = append(out, n)
		if n == 1 {
			return out
		}
	}
}

// TreeBlocks is the size of the hash tree of dataBlocks, in blocks.
func TreeBlocks(dataBlocks uint64) uint64 {
	var total uint64
	for _, n := range levels(dataBlocks) {
		total += n
	}
	return total
}

func hashBlock(b []byte) [hashSize]byte { return sha256.Sum256(b) } // empty salt

// Append pads the file at path to whole blocks with zeros and appends the
// hash tree of its content. It returns the Params that open it.
func Append(path string) (Params, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return Params{}, fmt.Errorf("verity: %w", err)
	}
	defer f.Close()
	p, err := appendTree(f)
	if err != nil {
		return p, fmt.Errorf("verity %s: %w", path, err)
	}
	return p, f.Close()
}

func appendTree(f *os.File) (Params, error) {
	st, err := f.Stat()
	if err != nil {
		return Params{}, err
	}
	data := uint64((st.Size() + BlockSize - 1) / BlockSize)
	if data < 2 {
		// The kernel hashes a single block with no tree at all.
		return Params{}, errors.New("one block of data: too small for a hash tree")
	}
	if err := f.Truncate(int64(data) * BlockSize); err != nil {
		return Params{}, err
	}
	// Level 0 hashes the data; each level above hashes the one below.
	// The levels are written top first, so they are made in memory (a
	// 1 GiB root has a tree of 8 MiB) and written at the end.
	lv := levels(data)
	tree := make([][]byte, len(lv))
	below := io.NewSectionReader(f, 0, int64(data)*BlockSize)
	for i, n := range lv {
		tree[i] = make([]byte, n*BlockSize)
		buf := make([]byte, BlockSize)
		for j := 0; ; j++ {
			if _, err := io.ReadFull(below, buf); err == io.EOF {
				break
			} else if err != nil {
				return Params{}, err
			}
			h := hashBlock(buf)
			copy(tree[i][j*hashSize:], h[:])
		}
		below = io.NewSectionReader(bytes.NewReader(tree[i]), 0, int64(len(tree[i])))
	}
	off := int64(data) * BlockSize
	for i := len(tree) - 1; i >= 0; i-- {
		if _, err := f.WriteAt(tree[i], off); err != nil {
			return Params{}, err
		}
		off += int64(len(tree[i]))
	}
	if err := f.Sync(); err != nil {
		return Params{}, err
	}
	return Params{DataBlocks: data, Root: hashBlock(tree[len(tree)-1])}, nil
}

// Read returns the Params of a file Append made, from the size of the
// file and its top hash block. It checks the file's size against the
// tree's; the content is checked when it is read through Open.
func Read(path string) (Params, error) {
	f, err := os.Open(path)
	if err != nil {
		return Params{}, fmt.Errorf("verity: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Params{}, fmt.Errorf("verity: %w", err)
	}
	total := uint64(st.Size() / BlockSize)
	if st.Size()%BlockSize != 0 || total < 2 {
		return Params{}, fmt.Errorf("verity %s: %d bytes is no data with a hash tree", path, st.Size())
	}
	// The data is the largest count whose tree fills the rest.
	data := total - 1
	for data > 0 && data+TreeBlocks(data) > total {
		data--
	}
	if data == 0 || data+TreeBlocks(data) != total {
		return Params{}, fmt.Errorf("verity %s: %d blocks are no data with a hash tree", path, total)
	}
	top := make([]byte, BlockSize)
	if _, err := f.ReadAt(top, int64(data)*BlockSize); err != nil {
		return Params{}, fmt.Errorf("verity %s: %w", path, err)
	}
	return Params{DataBlocks: data, Root: hashBlock(top)}, nil
}

// Table is the device-mapper table line of a verity root on dev (the data
// and the tree on one device), for DataBlocks blocks of 512-byte sectors.
func (p Params) Table(dev string) string {
	return fmt.Sprintf("1 %s %s %d %d %d %d sha256 %x -", dev, dev, BlockSize, BlockSize, p.DataBlocks, p.DataBlocks, p.Root)
}

// Sectors is the size of the mapped device in 512-byte sectors.
func (p Params) Sectors() uint64 { return p.DataBlocks * (BlockSize / 512) }
