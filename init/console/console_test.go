package console

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestActiveAndWriter(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(sys, "class/tty/console"), 0o755)
	os.WriteFile(filepath.Join(sys, "class/tty/console/active"), []byte("tty0 ttyS0\n"), 0o644)
	got := Active(sys, dev)
	want := []string{filepath.Join(dev, "tty0"), filepath.Join(dev, "ttyS0")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
	for _, p := range got {
		os.WriteFile(p, nil, 0o644)
	}
	w := Open(append(got, filepath.Join(dev, "missing")))
	w.Write([]byte("berth: ready in 1.00s (x)\n"))
	for _, p := range got {
		b, _ := os.ReadFile(p)
		if string(b) != "berth: ready in 1.00s (x)\n" {
			t.Errorf("%s got %q", p, b)
		}
	}
	if diff := cmp.Diff([]string{filepath.Join(dev, "console")}, Active(t.TempDir(), dev)); diff != "" {
		t.Errorf("fallback (-want +got)\n%s", diff)
	}
}
