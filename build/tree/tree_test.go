package tree

import (
	"os"
	"path/filepath"
	"strings"
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

// A hard link is the target's inode under another name; a target that is
// not a file of the tree is refused, naming both.
func TestHardLink(t *testing.T) {
	tr := &Tree{Root: t.TempDir()}
	src := filepath.Join(t.TempDir(), "prog")
	os.WriteFile(src, []byte("multi-call"), 0o644)
	if err := tr.Install(src, "/usr/bin/containerd", 0o755); err != nil {
		t.Fatal(err)
	}
	l := Layout{HardLink{Path: "/usr/bin/ctr", Target: "/usr/bin/containerd"}}
	if err := l.Apply(tr, nil); err != nil {
		t.Fatal(err)
	}
	a, errA := os.Stat(filepath.Join(tr.Root, "usr/bin/containerd"))
	b, errB := os.Stat(filepath.Join(tr.Root, "usr/bin/ctr"))
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if !os.SameFile(a, b) || b.Mode().Perm() != 0o755 {
		t.Errorf("ctr is not containerd's inode with its mode: %v %v", b.Mode(), os.SameFile(a, b))
	}
	os.Symlink("containerd", filepath.Join(tr.Root, "usr/bin/alias"))
	for target, want := range map[string]string{"/usr/bin/missing": "no such file", "/usr/bin/alias": "/usr/bin/alias is not a regular file"} {
		err := tr.HardLink("/usr/bin/x", target)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "/usr/bin/x") {
			t.Errorf("link to %s: %v, want an error naming /usr/bin/x and saying %q", target, err, want)
		}
	}
}
