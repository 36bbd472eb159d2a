package apply

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	cloudconfig "github.com/berth-os/berth/cloud-config"
)

// DefaultSwapFile is where swap: puts its file without a filename: the
// root is read-only, so cloud-init's /swap.img cannot be.
const DefaultSwapFile = "/var/swap.img"

// SwapSize is the size of the swap file of s on a host with mem bytes of
// memory and free bytes free on the state partition: the size given, or
// for auto (or none) the memory size; never more than maxsize when given,
// nor more than half the free space. It is rounded down to whole pages.
func SwapSize(s *cloudconfig.Swap, mem, free int64) int64 {
	size := s.Size.Bytes()
	if size == 0 {
		size = mem
	}
	if m := s.MaxSize.Bytes(); m > 0 {
		size = min(size, m)
	}
	size = min(size, free/2)
	page := int64(os.Getpagesize())
	return size / page * page
}

// Swap makes the swap file of s, of size bytes, unless one of that size is
// there, and turns it on. The file is made with fallocate (no holes, as
// swapon wants) and the swap header written in Go: no mkswap needed.
func (a *Applier) Swap(s *cloudconfig.Swap, size int64) error {
	if s == nil {
		return nil
	}
	name := s.Filename
	if name == "" {
		name = DefaultSwapFile
	}
	page := int64(os.Getpagesize())
	if size < 10*page {
		return fmt.Errorf("swap: %s: %d bytes is too small (free space on /var?)", name, size)
	}
	p := a.path(name)
	if st, err := os.Stat(p); err != nil || st.Size() != size || !isSwap(p) {
		if err := makeSwap(p, size, page); err != nil {
			return fmt.Errorf("swap: %s: %w", name, err)
		}
		fmt.Fprintf(a.Out, "swap: made %s, %d MiB\n", name, size>>20)
	}
	if err := a.Host.Swapon(p); err != nil {
		return fmt.Errorf("swap: swapon %s: %w", name, err)
	}
	return nil
}

// swapMagic ends the first page of a swap area (version 1).
const swapMagic = "SWAPSPACE2"

func isSwap(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	page := os.Getpagesize()
	b := make([]byte, len(swapMagic))
	_, err = f.ReadAt(b, int64(page-len(swapMagic)))
	return err == nil && string(b) == swapMagic
}

// makeSwap writes a swap file atomically: a temporary file, allocated and
// given its header, then renamed over the old one.
func makeSwap(p string, size, page int64) error {
	tmp := p + ".tmp"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		return fmt.Errorf("allocate %d bytes: %w", size, err)
	}
	// struct swap_header: bootbits[1024], then version, last_page,
	// nr_badpages, uuid[16], volume_name[16]; the magic ends the page.
	hdr := make([]byte, page)
	binary.LittleEndian.PutUint32(hdr[1024:], 1)
	binary.LittleEndian.PutUint32(hdr[1028:], uint32(size/page-1))
	copy(hdr[1048:1064], "berth-swap")
	copy(hdr[page-int64(len(swapMagic)):], swapMagic)
	if _, err := f.WriteAt(hdr, 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
