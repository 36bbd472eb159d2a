package preload

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Which files are picked: tarballs only, no hidden files, folders or
// links, in path order, in the folder and its folders one level down (not
// hidden ones); a missing folder has none.
func TestPending(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.oci.tar", "a.tar.gz", "c.tgz", "notes.txt", ".d.tar", ".tar", "e.tar.part",
		"stick/h.tar", "stick/notes.txt", ".imported/i.tar", "stick/deeper/j.tar"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "f.tar"), 0o755)
	os.Symlink("/etc/passwd", filepath.Join(dir, "g.tar"))
	got, err := Pending(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.tar.gz"), filepath.Join(dir, "b.oci.tar"), filepath.Join(dir, "c.tgz"), filepath.Join(dir, "stick/h.tar")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Pending (-want +got):\n%s", diff)
	}
	if got, err := Pending(filepath.Join(dir, "absent")); err != nil || got != nil {
		t.Errorf("Pending(absent) = %q, %v", got, err)
	}
}

// Each tarball is imported once; one that changes is imported again, one
// that fails is tried again and does not stop the others.
func TestImport(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.tar", "b.tar", "c.tar"} {
		os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644)
	}
	var got []string
	imp := func(_ context.Context, p string) error {
		got = append(got, filepath.Base(p))
		if filepath.Base(p) == "b.tar" {
			return errors.New("not an image")
		}
		return nil
	}
	err := Import(context.Background(), dir, imp)
	if err == nil || err.Error() != "preload "+filepath.Join(dir, "b.tar")+": not an image" {
		t.Errorf("Import: %v", err)
	}
	// A second boot: only the failed one again, then the changed one.
	later := time.Now().Add(time.Hour)
	os.WriteFile(filepath.Join(dir, "c.tar"), []byte("c, newer"), 0o644)
	os.Chtimes(filepath.Join(dir, "c.tar"), later, later)
	Import(context.Background(), dir, imp)
	if diff := cmp.Diff([]string{"a.tar", "b.tar", "c.tar", "b.tar", "c.tar"}, got); diff != "" {
		t.Errorf("imports (-want +got):\n%s", diff)
	}
	if p, _ := Pending(dir); len(p) != 1 || !strings.HasSuffix(p[0], "b.tar") {
		t.Errorf("pending after two boots: %q", p)
	}
}

// A tarball on a volume mounted below the folder is imported, and its
// import is recorded in the folder's .imported tree, not on the volume
// (which may be read-only): the volume is left as it was.
func TestImportFromVolume(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "stick"), 0o755)
	os.WriteFile(filepath.Join(dir, "stick", "v.tar"), []byte("v"), 0o644)
	var got []string
	imp := func(_ context.Context, p string) error { got = append(got, p); return nil }
	for boot := 0; boot < 2; boot++ {
		if err := Import(context.Background(), dir, imp); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{filepath.Join(dir, "stick", "v.tar")}, got); diff != "" {
		t.Errorf("imports over two boots (-want +got):\n%s", diff)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "stick")); len(ents) != 1 {
		t.Errorf("the volume holds %d entries after the import, want its one tarball", len(ents))
	}
	if _, err := os.Stat(filepath.Join(dir, ".imported", "stick", "v.tar")); err != nil {
		t.Errorf("the import's record: %v", err)
	}
}

// A tarball whose import an earlier Berth recorded beside it is not
// imported again; one whose old record is of another version is.
func TestOldRecordsKept(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.tar", "b.tar"} {
		os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644)
	}
	st, _ := os.Stat(filepath.Join(dir, "a.tar"))
	os.WriteFile(filepath.Join(dir, ".a.tar.imported"), []byte(stamp(st)), 0o644)
	os.WriteFile(filepath.Join(dir, ".b.tar.imported"), []byte("1 2\n"), 0o644)
	got, err := Pending(dir)
	if err != nil || len(got) != 1 || filepath.Base(got[0]) != "b.tar" {
		t.Errorf("Pending = %q, %v; want b.tar alone", got, err)
	}
}
