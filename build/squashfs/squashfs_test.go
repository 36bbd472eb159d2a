package squashfs

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Same tree, different file times and a SOURCE_DATE_EPOCH in the
// environment: the same bytes, and every file root's with the epoch's time.
func TestMakeReproducible(t *testing.T) {
	tree := t.TempDir()
	os.MkdirAll(filepath.Join(tree, "usr/bin"), 0o755)
	os.WriteFile(filepath.Join(tree, "usr/bin/tool"), bytes.Repeat([]byte("x"), 5000), 0o755)
	os.Symlink("usr/bin", filepath.Join(tree, "bin"))
	t.Setenv("SOURCE_DATE_EPOCH", "1")
	out := t.TempDir()
	a, b := filepath.Join(out, "a.sqfs"), filepath.Join(out, "b.sqfs")
	if err := Make(context.Background(), tree, a, 1735689600, "zstd"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	os.Chtimes(filepath.Join(tree, "usr/bin/tool"), now, now)
	if err := Make(context.Background(), tree, b, 1735689600, "zstd"); err != nil {
		t.Fatal(err)
	}
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ba, bb) {
		t.Error("two images of the same tree differ")
	}
	cmd := exec.Command("unsquashfs", "-lln", a)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	list, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(list, []byte("-rwxr-xr-x 0/0")) || !bytes.Contains(list, []byte("2025-01-01 00:00")) {
		t.Errorf("owners or times not fixed:\n%s", list)
	}
	// The block size the kernel reads the root in (BlockSize, 64K).
	st, err := exec.Command("unsquashfs", "-s", a).CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(st, []byte("Block size 65536\n")) {
		t.Errorf("block size: want 65536:\n%s", st)
	}
}

func TestUnknownCompression(t *testing.T) {
	err := Make(context.Background(), t.TempDir(), filepath.Join(t.TempDir(), "x"), 0, "brotli")
	if want := `squashfs: unknown compression "brotli"`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}
