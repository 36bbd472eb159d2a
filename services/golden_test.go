package services

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// builtins are the services of this folder, in the default image's order.
var builtins = []string{"udev", "logging", "network", "containerd", "console", "ntp"}

// golden compares got with testdata/name, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to make it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", p, diff)
	}
}

// The OCI spec of every built-in, as the build writes it to config.json.
func TestSpecGolden(t *testing.T) {
	for _, name := range builtins {
		t.Run(name, func(t *testing.T) {
			d, err := Load(".", name)
			if err != nil {
				t.Fatal(err)
			}
			s, err := d.Spec()
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.MarshalIndent(s, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".spec.json", append(b, '\n'))
		})
	}
}
