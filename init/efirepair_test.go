package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func runPlain(cmd *exec.Cmd) (syscall.WaitStatus, error) {
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, err
	}
	return cmd.ProcessState.Sys().(syscall.WaitStatus), nil
}

// A file whose directory entry a power cut lost keeps its clusters until
// fsck.fat salvages them: repairFAT says so, and leaves a filesystem that
// fsck.fat finds clean.
func TestRepairFATReclaimsLostClusters(t *testing.T) {
	for _, tool := range []string{"mkfs.fat", "mcopy", fsckFat} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing: run make deps", tool)
		}
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "efi.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "LEAK.BIN")
	os.WriteFile(src, bytes.Repeat([]byte("kernel!"), 300_000), 0o644)
	for _, c := range [][]string{{"mkfs.fat", "-F", "32", "-n", "EFI", img}, {"mcopy", "-i", img, src, "::LEAK.BIN"}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	said, err := repairFAT(runPlain, img)
	if err != nil || said != "" {
		t.Fatalf("a clean filesystem: %q, %v", said, err)
	}
	// The cut: the file's directory entry is gone, its clusters are not.
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("LEAK    BIN"))
	if i < 0 {
		t.Fatal("no directory entry LEAK.BIN in the image")
	}
	b[i] = 0xe5
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	said, err = repairFAT(runPlain, img)
	if err != nil || !strings.Contains(said, "Reclaimed") {
		t.Fatalf("lost clusters: %q, %v", said, err)
	}
	if out, err := exec.Command(fsckFat, "-n", img).CombinedOutput(); err != nil {
		t.Errorf("after the repair, fsck.fat -n: %v\n%s", err, out)
	}
	out, err := exec.Command("mdir", "-b", "-i", img, "::").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "FSCK0000.REC") {
		t.Errorf("no FSCK0000.REC holding the salvaged clusters: %v\n%s", err, out)
	}
	// What is not a FAT filesystem is an error that names fsck.fat.
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, bytes.Repeat([]byte{1}, 1<<20), 0o644)
	if _, err := repairFAT(runPlain, junk); err == nil || !strings.Contains(err.Error(), "fsck.fat "+junk+": exit status") {
		t.Errorf("not a FAT: %v", err)
	}
}

func TestRemoveSalvaged(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"FSCK0000.REC", "fsck0001.rec", "grubenv", "FSCK.TXT"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	os.Mkdir(filepath.Join(dir, "FSCK0002.REC"), 0o755)
	removed, err := removeSalvaged(dir)
	if err != nil || !reflect.DeepEqual(removed, []string{"FSCK0000.REC", "fsck0001.rec"}) {
		t.Fatalf("removed %q, %v", removed, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 3 {
		t.Errorf("left %q", left)
	}
}

// A device that is mounted is found in mountinfo by its number, whatever
// name mounted it.
func TestDevMounted(t *testing.T) {
	info := filepath.Join(t.TempDir(), "mountinfo")
	os.WriteFile(info, []byte("22 1 253:0 / / ro,relatime - squashfs /dev/dm-0 ro\n"+
		"40 22 1:3 / /run/berth/install\\040kit rw - vfat /dev/root rw\n"), 0o644)
	// /dev/null is 1:3.
	if at, err := devMounted(info, "/dev/null"); err != nil || at != "/run/berth/install kit" {
		t.Errorf("a mounted device: %q, %v", at, err)
	}
	// /dev/zero is 1:5.
	if at, err := devMounted(info, "/dev/zero"); err != nil || at != "" {
		t.Errorf("a device mounted nowhere: %q, %v", at, err)
	}
	if _, err := devMounted(info, "/dev/no-such-device"); err == nil {
		t.Error("a missing device: no error")
	}
}
