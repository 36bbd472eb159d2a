package kernel

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The probe must change what the fragments set, one built-in and one
// module: a probe the fragments already agree with builds nothing and
// proves nothing.
func TestProbeChangesTheConfig(t *testing.T) {
	want := Wanted()
	kinds := map[string]bool{}
	for sym, v := range ParseConfig(probe.Data) {
		got, ok := want[sym]
		if !ok {
			t.Errorf("probe sets %s, which no fragment sets", sym)
			continue
		}
		if got == v {
			t.Errorf("probe sets %s=%s, as the fragments do", sym, v)
		}
		kinds[got] = true
	}
	if !kinds["y"] || !kinds["m"] {
		t.Errorf("probe changes options the fragments set to %v; want one built-in (y) and one module (m)", kinds)
	}
}

func TestCompareBuilds(t *testing.T) {
	mk := func(files map[string]string) string {
		root := t.TempDir()
		for p, s := range files {
			p = filepath.Join(root, p)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := writeFile(p, s); err != nil {
				t.Fatal(err)
			}
		}
		return root
	}
	base := map[string]string{
		"vmlinuz":                                "kernel",
		"modules/lib/modules/6.12/kernel/a.ko":   "a",
		"modules/lib/modules/6.12/modules.dep":   "dep",
		"modules/lib/modules/6.12/kernel/b/b.ko": "b",
	}
	with := func(change map[string]string, drop ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range change {
			m[k] = v
		}
		for _, k := range drop {
			delete(m, k)
		}
		return m
	}
	want := mk(base)
	for _, tc := range []struct {
		name  string
		got   map[string]string
		n     int
		diffs []string
	}{
		{"same", base, 4, nil},
		{"kernel differs", with(map[string]string{"vmlinuz": "kernel2"}), 4, []string{"vmlinuz: differs (6 bytes, 7 in the incremental build)"}},
		{"module differs", with(map[string]string{"modules/lib/modules/6.12/kernel/a.ko": "A"}), 4,
			[]string{"modules/lib/modules/6.12/kernel/a.ko: differs (1 bytes, 1 in the incremental build)"}},
		{"extra and missing", with(map[string]string{"modules/lib/modules/6.12/kernel/c.ko": "c"}, "modules/lib/modules/6.12/kernel/b/b.ko"), 5, []string{
			"modules/lib/modules/6.12/kernel/b/b.ko: missing from the incremental build",
			"modules/lib/modules/6.12/kernel/c.ko: only in the incremental build",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, diffs, err := compareBuilds(want, mk(tc.got))
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.n {
				t.Errorf("compared %d files, want %d", n, tc.n)
			}
			if d := cmp.Diff(tc.diffs, diffs); d != "" {
				t.Errorf("diffs (-want +got):\n%s", d)
			}
		})
	}
}
