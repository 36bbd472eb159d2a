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

// LinkSame: files of the same bytes and mode become one inode, in the
// tree only; another mode, other bytes of the same size, empty files and
// symlinks stay as they are, and a cache stage's file that the tree
// linked keeps its own inode and bytes.
func TestLinkSame(t *testing.T) {
	tr := &Tree{Root: t.TempDir()}
	stage := t.TempDir()
	staged := filepath.Join(stage, "libc.so.6")
	os.WriteFile(staged, []byte("the C library"), 0o644)
	if err := tr.Merge(stage, "/usr/lib/berth/services/udev/rootfs/usr/lib"); err != nil {
		t.Fatal(err)
	}
	for path, f := range map[string]struct {
		data string
		mode os.FileMode
	}{
		"usr/lib/libc.so.6":                            {"the C library", 0o644},
		"usr/lib/berth/services/console/rootfs/libc":   {"the C library", 0o644},
		"usr/lib/berth/services/console/rootfs/script": {"the C library", 0o755},
		"usr/lib/berth/services/console/rootfs/other":  {"the D library", 0o644},
		"usr/lib/empty-a":                              {"", 0o644},
		"usr/lib/empty-b":                              {"", 0o644},
	} {
		if err := tr.File(path, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("libc.so.6", filepath.Join(tr.Root, "usr/lib/libc.so"))
	n, size, err := tr.LinkSame()
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || size != 2*int64(len("the C library")) {
		t.Errorf("LinkSame linked %d files of %d bytes, want 2 of %d", n, size, 2*len("the C library"))
	}
	stat := func(rel string) os.FileInfo {
		fi, err := os.Lstat(filepath.Join(tr.Root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	// Lexical order: the console's libc comes first.
	orig := stat("usr/lib/berth/services/console/rootfs/libc")
	for _, same := range []string{"usr/lib/libc.so.6", "usr/lib/berth/services/udev/rootfs/usr/lib/libc.so.6"} {
		if !os.SameFile(orig, stat(same)) {
			t.Errorf("%s is not the console's libc's inode", same)
		}
	}
	for _, apart := range []string{"usr/lib/berth/services/console/rootfs/script", "usr/lib/berth/services/console/rootfs/other", "usr/lib/empty-b"} {
		if os.SameFile(orig, stat(apart)) || os.SameFile(stat("usr/lib/empty-a"), stat(apart)) {
			t.Errorf("%s was linked: another mode, other bytes or empty", apart)
		}
	}
	if stat("usr/lib/libc.so").Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink libc.so was replaced")
	}
	st, err := os.Stat(staged)
	if err != nil || os.SameFile(st, orig) {
		t.Errorf("the stage's file: %v, same inode as the tree's: want it apart", err)
	}
	if b, _ := os.ReadFile(staged); string(b) != "the C library" {
		t.Errorf("the stage's file now holds %q", b)
	}
	if entries, _ := os.ReadDir(filepath.Join(tr.Root, "usr/lib")); len(entries) != 5 {
		t.Errorf("usr/lib holds %d entries, want 5 (no temporary names left): %v", len(entries), entries)
	}
}

// Exclude removes a file or a folder that the packages have, and refuses
// one they do not have, naming it: an exclusion that no longer matches
// anything is a stale one.
func TestExclude(t *testing.T) {
	tr := &Tree{Root: t.TempDir()}
	os.MkdirAll(filepath.Join(tr.Root, "usr/lib/gconv"), 0o755)
	os.WriteFile(filepath.Join(tr.Root, "usr/lib/gconv/UTF-16.so"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(tr.Root, "usr/bin"), 0o755)
	os.WriteFile(filepath.Join(tr.Root, "usr/bin/dnet"), []byte("x"), 0o755)
	os.WriteFile(filepath.Join(tr.Root, "usr/bin/docker"), []byte("x"), 0o755)
	for _, p := range []string{"/usr/lib/gconv", "/usr/bin/dnet"} {
		if err := (Exclude{Path: p}).Apply(tr, nil); err != nil {
			t.Fatalf("exclude %s: %v", p, err)
		}
		if tr.Exists(p) {
			t.Errorf("exclude %s: still there", p)
		}
	}
	if !tr.Exists("/usr/bin/docker") {
		t.Error("exclude /usr/bin/dnet removed /usr/bin/docker too")
	}
	err := (Exclude{Path: "/usr/bin/dnet"}).Apply(tr, nil)
	if err == nil || !strings.Contains(err.Error(), "exclude: /usr/bin/dnet: the packages have no such file or folder") {
		t.Errorf("exclude of a path the tree has not: %v, want an error naming it", err)
	}
	field := "docker.yaml: services.docker.x-berth.build.exclude[0]"
	err = (Exclude{Path: "/usr/bin/dnet", Field: field}).Apply(tr, nil)
	if err == nil || !strings.HasPrefix(err.Error(), field+": /usr/bin/dnet: the packages have no such file") {
		t.Errorf("exclude of a path the tree has not: %v, want an error naming %s and the path", err, field)
	}
	if s := (Exclude{Path: "/usr/bin/dnet", Field: field}).String(); s != "exclude /usr/bin/dnet" {
		t.Errorf("String() = %q: the field where it was written is no part of the step (nor of a cache key)", s)
	}
}
