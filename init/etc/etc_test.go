package etc

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestRenderGolden(t *testing.T) {
	tmpl := t.TempDir()
	os.MkdirAll(filepath.Join(tmpl, "ssh"), 0o755)
	os.WriteFile(filepath.Join(tmpl, "ssh/moduli"), []byte("moduli"), 0o644)
	os.WriteFile(filepath.Join(tmpl, "hostname"), []byte("template-loses"), 0o644)
	dir := t.TempDir()
	c := Config{Hostname: "node1", MachineID: "0123456789abcdef0123456789abcdef", Version: "0.1.0",
		ResolvConf: "/run/berth/network/resolv.conf", SSHKeyDir: "/var/lib/berth/ssh"}
	if err := Render(dir, tmpl, c); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		rel, _ := filepath.Rel(dir, p)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			got.WriteString("== " + rel + " -> " + l + "\n")
		case info.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			got.WriteString("== " + rel + " " + info.Mode().Perm().String() + "\n" + string(b))
		}
		return nil
	})
	golden := filepath.Join("testdata", "etc.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, []byte(got.String()), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got.String() != string(want) {
		t.Errorf("rendered /etc differs from %s; got:\n%s", golden, got.String())
	}
}

func TestMachineIDPersists(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lib/berth/machine-id")
	a, err := MachineID(p)
	if err != nil || len(a) != 32 {
		t.Fatalf("%q %v", a, err)
	}
	b, _ := MachineID(p)
	if a != b {
		t.Errorf("machine id changed: %s then %s", a, b)
	}
}
