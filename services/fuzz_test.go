package services

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-os/berth/internal/fuzzmem"
)

// parseBound is what parsing one service document may allocate. A
// document comes from a file, a URL or cloud-config, so from outside; the
// seeds need well under 2 MiB. YAML trees cost about 250 bytes a byte of
// the densest input strictyaml lets through (as for user-data).
var parseBound = fuzzmem.Bound{Base: 8 * fuzzmem.MiB, PerByte: 512}

// A service document never panics Parse, is read within parseBound, and
// what Parse accepts validates again, checks as a set and gives a spec
// (built-ins) without a panic.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("*/service.yaml")
	entries, _ := filepath.Glob("catalogue/*.yaml")
	files = append(files, entries...)
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"services:\n  web: {image: nginx, command: 'a \"b c\" d\\\\ e', environment: {A: 1}, depends_on: {db: {condition: service_healthy}}}\n  db: {image: pg, healthcheck: {test: [CMD-SHELL, x], interval: 1s}}\n",
		"services:\n  a: {image: a, volumes: [{type: bind, source: /a, target: /b, bind: {propagation: rslave}}], tmpfs: '/t:size=1m,mode=700'}\n",
		"services:\n  a: {x-berth: {rootfs: {go: {/a: ./a}}, after: [b], kind: oneshot}, command: /a, cap_drop: [ALL], cap_add: [net_admin]}\n  b: {image: b, x-berth: {after: [a]}}\n",
		"x-a: &a {image: a}\nservices: {a: *a, b: *a}\n",
		"services: {a: {image: 'a@sha256:zz', user: 'x:y', mem_limit: 1g, cpus: '0.5', labels: [a=b]}}\n",
		"", "services: [", "services: {A: {}}\n",
		"x-0: &a0 [x, x, x, x, x, x, x, x, x, x]\nx-1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\nx-2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\n" +
			"x-3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]\nx-4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]\nservices: {s: {image: s, command: *a3, labels: *a3, x-y: *a3}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var defs []*Definition
		var err error
		fuzzmem.Check(t, parseBound, len(data), func() { defs, err = Parse(data, "f.yaml") })
		if err != nil {
			return
		}
		for _, d := range defs {
			if err := d.Validate(); err != nil {
				t.Errorf("Parse accepted %s, which does not validate: %v", d.Name, err)
			}
		}
		ValidateSet(defs)
		Runtimes(defs)
		for i, d := range defs {
			if d.XBerth.Rootfs != nil && i < 4 {
				if _, err := d.Spec(); err != nil {
					t.Errorf("spec of %s: %v", d.Name, err)
				}
			}
		}
	})
}
