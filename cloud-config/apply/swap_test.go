package apply

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cloudconfig "github.com/berth-os/berth/cloud-config"
)

func TestSwapSize(t *testing.T) {
	const g = 1 << 30
	for _, tc := range []struct {
		size, max cloudconfig.Size
		mem, free int64
		want      int64
	}{
		{0, 0, 2 * g, 100 * g, 2 * g},             // auto: the memory
		{0, 1 * g, 2 * g, 100 * g, 1 * g},         // capped by maxsize
		{512 << 20, 0, 2 * g, 100 * g, 512 << 20}, // as given
		{8 * g, 0, 2 * g, 10 * g, 5 * g},          // half the free space at most
		{1000, 0, 2 * g, 10 * g, 0},               // under a page
	} {
		got := SwapSize(&cloudconfig.Swap{Size: tc.size, MaxSize: tc.max}, tc.mem, tc.free)
		if got != tc.want {
			t.Errorf("SwapSize(size %d max %d mem %d free %d) = %d, want %d", tc.size, tc.max, tc.mem, tc.free, got, tc.want)
		}
	}
}

func TestSwapFile(t *testing.T) {
	a, h, out := newApplier(t)
	os.MkdirAll(filepath.Join(a.Root, "var"), 0o755)
	s := &cloudconfig.Swap{Size: 1 << 20}
	if err := a.Swap(s, 1<<20); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(a.Root, DefaultSwapFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	st, _ := os.Stat(p)
	if len(b) != 1<<20 || st.Mode().Perm() != 0o600 {
		t.Errorf("swap file: %d bytes, mode %v; want 1 MiB, 0600", len(b), st.Mode().Perm())
	}
	if string(b[page-10:page]) != "SWAPSPACE2" || binary.LittleEndian.Uint32(b[1024:]) != 1 ||
		binary.LittleEndian.Uint32(b[1028:]) != uint32((1<<20)/page-1) {
		t.Errorf("swap header: magic %q version %d last page %d", b[page-10:page], binary.LittleEndian.Uint32(b[1024:]), binary.LittleEndian.Uint32(b[1028:]))
	}
	if !slices.Equal(h.calls, []string{"swapon swap.img"}) || !strings.Contains(out.String(), "swap: made /var/swap.img, 1 MiB") {
		t.Errorf("calls %q, out %q", h.calls, out.String())
	}
	// Again with the same size: the file is kept, swap turned on.
	os.WriteFile(p+".marker", nil, 0o600)
	mt := st.ModTime()
	if err := a.Swap(s, 1<<20); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(p); !st2.ModTime().Equal(mt) || strings.Count(out.String(), "made") != 1 {
		t.Error("an existing swap file of the right size was made again")
	}
	// Too small: an error naming the file, nothing turned on.
	h.calls = nil
	if err := a.Swap(&cloudconfig.Swap{Filename: "/var/tiny"}, 4096); err == nil || !strings.Contains(err.Error(), "/var/tiny") || len(h.calls) != 0 {
		t.Errorf("tiny swap: %v, calls %q", err, h.calls)
	}
}
