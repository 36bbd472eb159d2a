package tree

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSkeletonAndMerge(t *testing.T) {
	tr := &Tree{Root: t.TempDir()}
	if err := tr.Skeleton(); err != nil {
		t.Fatal(err)
	}
	if l, _ := os.Readlink(filepath.Join(tr.Root, "bin")); l != "usr/bin" {
		t.Errorf("bin -> %q", l)
	}
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "usr/bin"), 0o755)
	os.WriteFile(filepath.Join(src, "usr/bin/tool"), []byte("x"), 0o755)
	os.Symlink("tool", filepath.Join(src, "usr/bin/alias"))
	if err := tr.Merge(src, "/"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(tr.Root, "bin/tool"))
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("tool via bin link: %v %v", st, err)
	}
	if l, _ := os.Readlink(filepath.Join(tr.Root, "usr/bin/alias")); l != "tool" {
		t.Errorf("alias -> %q", l)
	}
	if err := tr.Install(filepath.Join(src, "usr/bin/tool"), "/usr/lib/berth/x", 0o700); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(tr.Root, "usr/lib/berth/x")); st.Mode().Perm() != 0o700 {
		t.Errorf("install mode %v", st.Mode())
	}
	// The source must not have changed mode through a hard link.
	if st, _ := os.Stat(filepath.Join(src, "usr/bin/tool")); st.Mode().Perm() != 0o755 {
		t.Errorf("source mode changed to %v", st.Mode())
	}
}

func TestMergedUsr(t *testing.T) {
	for in, want := range map[string]string{"/bin/ls": "usr/bin/ls", "/sbin/init": "usr/sbin/init", "/usr/bin/awk": "usr/bin/awk", "linuxrc": "linuxrc"} {
		if got := mergedUsr(in); got != want {
			t.Errorf("mergedUsr(%q) = %q", in, got)
		}
	}
}
