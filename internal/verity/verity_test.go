package verity

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// data is 300 blocks less 1000 bytes of a pattern.
func data() []byte {
	b := make([]byte, 300*BlockSize-1000)
	for i := range b {
		b[i] = byte((i*7 + i/BlockSize) % 251)
	}
	return b
}

// The tree is veritysetup's: `veritysetup format --no-superblock --salt=-
// --hash-offset=1228800 f f` over the data padded to 300 blocks gives
// this root hash and these bytes.
func TestAppendMatchesVeritysetup(t *testing.T) {
	p := filepath.Join(t.TempDir(), "root.squashfs")
	if err := os.WriteFile(p, data(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Append(p)
	if err != nil {
		t.Fatal(err)
	}
	const root = "2be4895dfbcc91439b90cf610e60851442764a198776297fc8ca4549e5b445bf"
	if got.DataBlocks != 300 || hex.EncodeToString(got.Root[:]) != root {
		t.Errorf("Append = %s, want 300:%s", got, root)
	}
	b, _ := os.ReadFile(p)
	if sum := sha256.Sum256(b); len(b) != 304*BlockSize || hex.EncodeToString(sum[:]) != "a7fed561f342480a7ad0949392ac28f947963d0ca450b7f5a5ac6597e5824a29" {
		t.Errorf("file: %d bytes, sha256 %x; not veritysetup's", len(b), sum)
	}
	read, err := Read(p)
	if err != nil || read != got {
		t.Errorf("Read = %s, %v; want %s", read, err, got)
	}
	if want := "1 /dev/vda2 /dev/vda2 4096 4096 300 300 sha256 " + root + " -"; got.Table("/dev/vda2") != want || got.Sectors() != 2400 {
		t.Errorf("table %q (%d sectors), want %q (2400)", got.Table("/dev/vda2"), got.Sectors(), want)
	}
	// Sizes no data and tree add up to.
	os.WriteFile(p, b[:130*BlockSize], 0o644)
	if _, err := Read(p); err == nil || !strings.Contains(err.Error(), "130 blocks are no data with a hash tree") {
		t.Errorf("Read of 130 blocks: %v", err)
	}
	os.WriteFile(p, b[:len(b)-1], 0o644)
	if _, err := Read(p); err == nil || !strings.Contains(err.Error(), "is no data with a hash tree") {
		t.Errorf("Read of a file of part of a block: %v", err)
	}
}

func TestParse(t *testing.T) {
	const v = "300:2be4895dfbcc91439b90cf610e60851442764a198776297fc8ca4549e5b445bf"
	p, err := Parse(v)
	if err != nil || p.String() != v {
		t.Errorf("Parse(%q) = %s, %v", v, p, err)
	}
	for _, bad := range []string{"", "300", "0:" + v[4:], "x:" + v[4:], "300:" + v[5:], "300:zz" + v[6:]} {
		if _, err := Parse(bad); !errors.Is(err, ErrBadFlag) || !strings.Contains(err.Error(), Flag+"=") {
			t.Errorf("Parse(%q): %v", bad, err)
		}
	}
}

func TestLevels(t *testing.T) {
	for _, tc := range []struct {
		data uint64
		want uint64
	}{{2, 1}, {128, 1}, {129, 3}, {300, 4}, {16384, 129}, {16385, 132}} {
		if got := TreeBlocks(tc.data); got != tc.want {
			t.Errorf("TreeBlocks(%d) = %d, want %d", tc.data, got, tc.want)
		}
	}
}
