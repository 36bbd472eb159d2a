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
	if strings.Join(names, " ") != "EFI BERTH_A BERTH_B BERTH_STATE" {
		t.Errorf("names %v", names)
	}
	last := parts[3]
	if last.Start+last.Size > l.Size-gptTail || last.Size < 900<<20 {
		t.Errorf("state partition %d+%d on a %d disk", last.Start, last.Size, l.Size)
	}
	if parts[0].Attr&legacyBIOSBootable == 0 {
		t.Error("EFI partition is not legacy-BIOS-bootable: gptmbr.bin would not find it")
	}
	if _, err := (Layout{Size: 1 << 30, EFISize: 64 << 20, SlotSize: 512 << 20}).Plan(); err == nil || !strings.Contains(err.Error(), "BERTH_STATE") {
		t.Errorf("too small: %v", err)
	}
}

func TestWriteImage(t *testing.T) {
	dir := t.TempDir()
	efi := filepath.Join(dir, "efi.img")
	os.WriteFile(efi, bytes.Repeat([]byte("E"), 4096), 0o644)
	root := filepath.Join(dir, "root.sqfs")
	os.WriteFile(root, append([]byte("hsqs"), bytes.Repeat([]byte("R"), 8188)...), 0o644)
	mbr := filepath.Join(dir, "gptmbr.bin")
	os.WriteFile(mbr, bytes.Repeat([]byte{0xEB}, 440), 0o644)
	l := Layout{Size: 400 << 20, EFISize: 64 << 20, SlotSize: 128 << 20, Seed: "build-1"}
	img := filepath.Join(dir, "disk.raw")
	parts, err := WriteImage(img, l, Content{BootCode: mbr, EFI: efi, RootA: root})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(img)
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
	if tbl.Partitions[0].Attributes&legacyBIOSBootable == 0 {
		t.Error("attribute lost")
	}
	head := make([]byte, 512)
	f.ReadAt(head, 0)
	if head[0] != 0xEB || head[439] != 0xEB || head[510] != 0x55 || head[511] != 0xAA || head[450] != 0xEE {
		t.Errorf("MBR: boot code or protective entry wrong: % x", head[440:])
	}
	magic := make([]byte, 4)
	f.ReadAt(magic, parts[1].Start)
	if string(magic) != "hsqs" {
		t.Errorf("BERTH_A starts with %q", magic)
	}
	// Same seed, same bytes.
	img2 := filepath.Join(dir, "disk2.raw")
	if _, err := WriteImage(img2, l, Content{BootCode: mbr, EFI: efi, RootA: root}); err != nil {
		t.Fatal(err)
	}
	if sum(t, img) != sum(t, img2) {
		t.Error("two writes with the same seed differ")
	}
	// A root too big for its slot is an error naming the partition.
	big := filepath.Join(dir, "big")
	os.WriteFile(big, nil, 0o644)
	os.Truncate(big, 129<<20)
	if _, err := WriteImage(filepath.Join(dir, "x.raw"), l, Content{RootA: big}); err == nil || !strings.Contains(err.Error(), "BERTH_A") {
		t.Errorf("oversize root: %v", err)
	}
}

func sum(t *testing.T, p string) [32]byte {
	f, _ := os.Open(p)
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}
