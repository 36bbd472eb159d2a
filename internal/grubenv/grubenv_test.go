package grubenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	env := Env{"berth_good": "a", "berth_try": "b", "berth_tries": "3"}
	b, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != Size || !strings.HasPrefix(string(b), header+"berth_good=a\nberth_tries=3\nberth_try=b\n###") {
		t.Errorf("block:\n%s", b)
	}
	got, err := Parse(b)
	if err != nil || len(got) != 3 || got["berth_tries"] != "3" {
		t.Errorf("Parse: %v %v", got, err)
	}
	for _, bad := range []Env{{"a b": "1"}, {"x": "a\nb"}, {"x": strings.Repeat("y", Size)}} {
		if _, err := bad.Encode(); err == nil {
			t.Errorf("Encode(%q) took it", bad)
		}
	}
	for _, bad := range [][]byte{[]byte("# not GRUB\n"), b[:Size-1], append([]byte(header+"no equals\n"), make([]byte, Size-len(header)-10)...)} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%.30q) took it", bad)
		}
	}
}

// grub-editenv, GRUB's own tool, reads what Encode writes, and Parse reads
// what it writes.
func TestGrubEditenv(t *testing.T) {
	tool, err := exec.LookPath("grub-editenv")
	if err != nil {
		t.Fatal("grub-editenv is not installed: scripts/install-deps.sh installs grub-common")
	}
	p := filepath.Join(t.TempDir(), "grubenv")
	b, _ := Env{"berth_good": "b", "berth_tries": "2"}.Encode()
	os.WriteFile(p, b, 0o644)
	out, err := exec.Command(tool, p, "list").CombinedOutput()
	if err != nil || string(out) != "berth_good=b\nberth_tries=2\n" {
		t.Errorf("grub-editenv list: %v\n%s", err, out)
	}
	if out, err := exec.Command(tool, p, "set", "berth_try=a", "berth_tries=1").CombinedOutput(); err != nil {
		t.Fatalf("grub-editenv set: %v\n%s", err, out)
	}
	env, err := Read(p)
	if err != nil || env["berth_try"] != "a" || env["berth_tries"] != "1" || env["berth_good"] != "b" {
		t.Errorf("after grub-editenv set: %v %v", env, err)
	}
	if err := Write(p, Env{"berth_good": "a"}); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command(tool, p, "list").CombinedOutput(); string(out) != "berth_good=a\n" {
		t.Errorf("after Write, grub-editenv list: %s", out)
	}
}
