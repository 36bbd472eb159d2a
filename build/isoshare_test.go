package build

import (
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// An ISO whose kernel and initrd entries point into the UKI's bytes reads
// back, through Rock Ridge, Joliet and plain ISO 9660 names alike, as the
// files themselves, and carries their bytes once.
func TestShareISOExtents(t *testing.T) {
	if _, err := exec.LookPath("xorriso"); err != nil {
		t.Fatal("xorriso missing: run make deps")
	}
	dir := t.TempDir()
	stg := filepath.Join(dir, "stg")
	rnd := rand.New(rand.NewSource(1))
	uki := make([]byte, 40000)
	rnd.Read(uki)
	kernel, initrd := uki[8192:8192+20001], uki[30720:30720+5003]
	write := func(name string, b []byte) {
		t.Helper()
		p := filepath.Join(stg, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(isoUKI, uki)
	write(isoKernel, nil)
	write(isoInitrd, nil)
	write("isolinux/isolinux.cfg", []byte("DEFAULT berth\n"))
	iso := filepath.Join(dir, "t.iso")
	if o, err := exec.Command("xorriso", "-as", "mkisofs", "-o", iso, "-V", "BERTH", "-J", "-joliet-long", "-r", stg).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, o)
	}
	before, _ := os.Stat(iso)
	shares := []isoShare{{path: isoKernel, in: isoUKI, offset: 8192, size: int64(len(kernel))}, {path: isoInitrd, in: isoUKI, offset: 30720, size: int64(len(initrd))}}
	if err := shareISOExtents(iso, shares); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(iso); after.Size() != before.Size() {
		t.Errorf("the ISO went from %d to %d bytes", before.Size(), after.Size())
	}
	for _, tree := range []string{"any", "norock"} {
		out := filepath.Join(dir, tree)
		args := []string{"-read_fs", tree, "-osirrox", "on", "-indev", iso,
			"-extract", "/" + isoKernel, filepath.Join(out, "vmlinuz"), "-extract", "/" + isoInitrd, filepath.Join(out, "initrd.img")}
		if o, err := exec.Command("xorriso", args...).CombinedOutput(); err != nil {
			t.Fatalf("xorriso -read_fs %s: %v\n%s", tree, err, o)
		}
		for name, want := range map[string][]byte{"vmlinuz": kernel, "initrd.img": initrd} {
			if got, err := os.ReadFile(filepath.Join(out, name)); err != nil || !bytes.Equal(got, want) {
				t.Errorf("-read_fs %s: %s read back as %d bytes (%v), want the UKI's %d at its offset", tree, name, len(got), err, len(want))
			}
		}
	}
	// Plain ISO 9660 names (no Rock Ridge, no Joliet) give the same sizes.
	o, err := exec.Command("xorriso", "-read_fs", "ecma119", "-indev", iso, "-find", "/", "-type", "f", "-exec", "lsdl").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso -read_fs ecma119: %v\n%s", err, o)
	}
	for _, want := range []string{" 20001 ", " 5003 "} {
		if !strings.Contains(string(o), want) {
			t.Errorf("ISO 9660 names: no file of%sbytes in\n%s", want, o)
		}
	}

	// Refused: an offset off a sector, bytes past the end of the file,
	// and a placeholder with bytes of its own (now the kernel's).
	for _, c := range []struct {
		s    isoShare
		want string
	}{
		{isoShare{path: isoKernel, in: isoUKI, offset: 100, size: 1}, "is not on a 2048-byte sector"},
		{isoShare{path: isoKernel, in: isoUKI, offset: 38912, size: 2000}, "which has 40000"},
		{isoShare{path: isoKernel, in: isoUKI, offset: 0, size: 1}, "its placeholder must be empty"},
		{isoShare{path: "boot/nothing", in: isoUKI, offset: 0, size: 1}, "boot/nothing: no nothing"},
	} {
		if err := shareISOExtents(iso, []isoShare{c.s}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error saying %q", c.s, err, c.want)
		}
	}
}
