package initramfs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/layout"
	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"
)

func TestWriteIsReproducibleAndComplete(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "stage1"), []byte("ELF stage1"), 0o755)
	os.WriteFile(filepath.Join(dir, "busybox"), []byte("ELF busybox"), 0o755)
	c := Contents{Stage1: filepath.Join(dir, "stage1"), Busybox: filepath.Join(dir, "busybox"), Applets: []string{"sh", "mount", "ls"},
		Info: layout.Stage1Info{Rescue: layout.RescueShell}}
	var a, b bytes.Buffer
	if err := Write(&a, c); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(filepath.Join(dir, "stage1"), time.Unix(5, 0), time.Unix(5, 0)) // mtimes must not matter
	if err := Write(&b, c); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two writes differ")
	}
	zr, err := zstd.NewReader(&a)
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	raw.ReadFrom(zr)
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]cpio.Record{}
	for _, r := range recs {
		got[r.Name] = r
	}
	for _, name := range []string{"init", "bin/busybox", "bin/sh", "dev/console", "newroot"} {
		if _, ok := got[name]; !ok {
			t.Errorf("missing %s", name)
		}
	}
	if r := got["dev/console"]; r.Rmajor != 5 || r.Rminor != 1 {
		t.Errorf("dev/console is %d:%d", r.Rmajor, r.Rminor)
	}
	if got["init"].Mode&0o111 == 0 {
		t.Error("init not executable")
	}
	// Stage 1 reads what the image spec says of its rescue shell.
	info := filepath.Join(dir, "stage1.json")
	if r, ok := got["stage1.json"]; !ok {
		t.Error("missing stage1.json")
	} else if b, err := io.ReadAll(io.NewSectionReader(r, 0, int64(r.FileSize))); err != nil {
		t.Error(err)
	} else if err := os.WriteFile(info, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if i, err := layout.ReadStage1Info(info); err != nil || i.Rescue != layout.RescueShell {
		t.Errorf("stage1.json = %+v, %v; want rescue shell", i, err)
	}
	if err := Write(&a, Contents{Stage1: c.Stage1, Busybox: c.Busybox}); err == nil || err.Error() != `initramfs: rescue "": expected password, shell, off` {
		t.Errorf("no rescue: err = %v", err)
	}
	for _, bad := range []string{"../evil", "sbin/x", ""} {
		err := Write(&a, Contents{Stage1: c.Stage1, Busybox: c.Busybox, Applets: []string{bad}, Info: c.Info})
		if want := fmt.Sprintf("initramfs: bad applet name %q", bad); err == nil || err.Error() != want {
			t.Errorf("applet %q: err = %v, want %q", bad, err, want)
		}
	}
}
