package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteInFollowsNoLink(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	// The user's home holds a link to somewhere root must not write: on a
	// host the root is /, so a link anywhere is "beneath" it, and only
	// refusing links protects /etc.
	os.MkdirAll(filepath.Join(root, "home/dev"), 0o755)
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	if err := os.Symlink("../../etc", filepath.Join(root, "home/dev/.ssh")); err != nil {
		t.Fatal(err)
	}
	err := WriteIn(root, "/home/dev/.ssh/authorized_keys", []byte("k\n"), 0o600, 0o700, -1, -1)
	if !errors.Is(err, ErrSymlink) || err.Error() != "write /home/dev/.ssh/authorized_keys: /home/dev/.ssh: a symbolic link on the way; not following it" {
		t.Errorf("write through a linked folder: %v", err)
	}
	if _, err := ReadIn(root, "/home/dev/.ssh/authorized_keys"); !errors.Is(err, ErrSymlink) {
		t.Errorf("read through a linked folder: %v", err)
	}
	if err := ChownIn(root, "/home/dev/.ssh/x", 0, 0); !errors.Is(err, ErrSymlink) {
		t.Errorf("chown through a linked folder: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "etc")); len(entries) != 0 {
		t.Errorf("wrote %d entries where the link points", len(entries))
	}
	// A link where the file goes is replaced, not followed.
	secret := filepath.Join(outside, "shadow")
	os.WriteFile(secret, []byte("root:x\n"), 0o600)
	os.MkdirAll(filepath.Join(root, "home/ops"), 0o755)
	os.Symlink(secret, filepath.Join(root, "home/ops/notes"))
	if err := WriteIn(root, "home/ops/notes", []byte("mine\n"), 0o640, 0o755, os.Getuid(), os.Getgid()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "root:x\n" {
		t.Errorf("the link's target was written: %q", b)
	}
	fi, err := os.Lstat(filepath.Join(root, "home/ops/notes"))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o640 {
		t.Errorf("notes: %v, %v; want a regular file, 0640", fi, err)
	}
	// Missing folders are made; the file reads back.
	if err := WriteIn(root, "/var/lib/x/y/f", []byte("data"), 0o644, 0o750, -1, -1); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadIn(root, "/var/lib/x/y/f"); err != nil || string(b) != "data" {
		t.Errorf("read back %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "var/lib/x/y")); err != nil || fi.Mode().Perm()&0o700 != 0o700 {
		t.Errorf("made folder: %v %v", fi, err)
	}
	if b, err := ReadIn(root, "/var/lib/none"); err != nil || b != nil {
		t.Errorf("a missing file: %q, %v; want empty", b, err)
	}
	// .. cannot climb out of the root.
	if err := WriteIn(root, "../../etc/x", nil, 0o644, 0o755, -1, -1); err != nil {
		t.Errorf("a path with .. is cleaned below the root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/x")); err != nil {
		t.Errorf("../../etc/x did not land under the root: %v", err)
	}
}
