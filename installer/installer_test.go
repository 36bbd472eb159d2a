package installer

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/berth-os/berth/internal/layout"
)

func TestPlan(t *testing.T) {
	l := Layout{Size: 2 << 30, EFISize: 64 << 20, SlotSize: 512 << 20, Seed: "s"}
	parts, err := l.Plan()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range parts {
		names = append(names, p.Name)
		if p.Start%(1<<20) != 0 {
			t.Errorf("%s not MiB aligned", p.Name)
		}
	}
	if strings.Join(names, " ") != "EFI BERTH_A BERTH_B BERTH_STATE BIOS" {
		t.Errorf("names %v", names)
	}
	last := parts[3]
	if last.Start+last.Size > l.Size-gptTail || last.Size < 900<<20 {
		t.Errorf("state partition %d+%d on a %d disk", last.Start, last.Size, l.Size)
	}
	// On the disk: BIOS, EFI, the slots, then the state partition, which
	// grows to the end.
	for i, j := range []int{4, 0, 1, 2, 3} {
		if p := parts[j]; i > 0 && p.Start != parts[[]int{4, 0, 1, 2, 3}[i-1]].Start+parts[[]int{4, 0, 1, 2, 3}[i-1]].Size {
			t.Errorf("%s starts at %d", p.Name, p.Start)
		}
	}
	if parts[4].Start != 1<<20 || parts[4].Type != gpt.BIOSBoot {
		t.Errorf("BIOS boot partition %+v", parts[4])
	}
	if _, err := (Layout{Size: 1 << 30, EFISize: 64 << 20, SlotSize: 512 << 20}).Plan(); err == nil || !strings.Contains(err.Error(), "BERTH_STATE") {
		t.Errorf("too small: %v", err)
	}
}

func TestWriteImage(t *testing.T) {
	dir := t.TempDir()
	efi := writeFile(t, filepath.Join(dir, "efi.img"), bytes.Repeat([]byte("E"), 4096))
	root := writeFile(t, filepath.Join(dir, "root.sqfs"), append([]byte("hsqs"), bytes.Repeat([]byte("R"), 8188)...))
	bootImg, coreImg := fakeGrub(t)
	l := Layout{Size: 400 << 20, EFISize: 64 << 20, SlotSize: 128 << 20, Seed: "build-1"}
	img := filepath.Join(dir, "disk.raw")
	parts, err := WriteImage(img, l, Content{BootImg: bootImg, CoreImg: coreImg, EFI: efi, RootA: root})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tbl, err := gpt.Read(f, 512, 512)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range tbl.Partitions {
		if p.Name != parts[i].Name || int64(p.Start)*512 != parts[i].Start || !strings.EqualFold(p.GUID, parts[i].GUID) {
			t.Errorf("partition %d = %+v, want %+v", i, p, parts[i])
		}
	}
	if !strings.EqualFold(tbl.GUID, layout.FactoryDiskGUID) {
		t.Errorf("disk GUID %s, want the factory one", tbl.GUID)
	}
	head := make([]byte, 512)
	if _, err := f.ReadAt(head, 0); err != nil {
		t.Fatal(err)
	}
	if head[0] != 0xB8 || head[0x5c] != 0x00 || head[0x5d] != 0x08 || head[510] != 0x55 || head[511] != 0xAA || head[450] != 0xEE {
		t.Errorf("MBR: boot code or protective entry wrong: % x", head[440:])
	}
	magic := make([]byte, 4)
	if _, err := f.ReadAt(magic, parts[1].Start); err != nil {
		t.Fatal(err)
	}
	if string(magic) != "hsqs" {
		t.Errorf("BERTH_A starts with %q", magic)
	}
	// Same seed, same bytes.
	img2 := filepath.Join(dir, "disk2.raw")
	if _, err := WriteImage(img2, l, Content{BootImg: bootImg, CoreImg: coreImg, EFI: efi, RootA: root}); err != nil {
		t.Fatal(err)
	}
	if sum(t, img) != sum(t, img2) {
		t.Error("two writes with the same seed differ")
	}
	// Another seed, other partition GUIDs: the comparison above can fail.
	other := l
	other.Seed = "build-2"
	img3 := filepath.Join(dir, "disk3.raw")
	if _, err := WriteImage(img3, other, Content{BootImg: bootImg, CoreImg: coreImg, EFI: efi, RootA: root}); err != nil {
		t.Fatal(err)
	}
	if sum(t, img) == sum(t, img3) {
		t.Error("two writes with different seeds are the same")
	}
	// A root too big for its slot is an error naming the partition.
	big := writeFile(t, filepath.Join(dir, "big"), nil)
	if err := os.Truncate(big, 129<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteImage(filepath.Join(dir, "x.raw"), l, Content{RootA: big}); err == nil || !strings.Contains(err.Error(), "BERTH_A") {
		t.Errorf("oversize root: %v", err)
	}
}

// sum is the sha256 of the file p; a file it cannot read fails the test.
func sum(t *testing.T, p string) [32]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// writeFile writes data to p and returns p.
func writeFile(t *testing.T, p string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
