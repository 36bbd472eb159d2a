package layering

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/berth-os/berth/"

// rank is each host-side folder's layer; a package may import packages of
// its own layer or below. Folders not listed are the build side.
var rank = map[string]int{
	"internal":     0,
	"cloud-config": 1,
	"installer":    1,
	"sysctl":       1,
	"init":         2,
	"services":     2,
	"cmd/hostctl":  3,
	"cmd/berthbox": 3,
	"cmd/shutdown": 3,
	"cmd/internal": 3, // what berth and hostctl share
}

// buildSide may import anything; nothing on the host side imports it.
var buildSide = []string{"build", "kernel", "cmd/berth", "bench", "test", "internal/qemu"}

func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

// layerOf returns a package's layer, and false for the build side.
func layerOf(pkg string) (int, bool) {
	for _, b := range buildSide {
		if under(pkg, b) {
			return 0, false
		}
	}
	best, r, ok := "", 0, false
	for dir, n := range rank {
		if under(pkg, dir) && len(dir) > len(best) {
			best, r, ok = dir, n, true
		}
	}
	return r, ok
}

type listed struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func list(t *testing.T) []listed {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json=ImportPath,Imports,Deps", "-tags", "qemu privileged", "github.com/berth-os/berth/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listed
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 40 {
		t.Fatalf("go list found %d packages; expected Berth's whole tree", len(pkgs))
	}
	return pkgs
}

func TestImportsPointOneWay(t *testing.T) {
	for _, p := range list(t) {
		from := strings.TrimPrefix(p.ImportPath, module)
		fr, host := layerOf(from)
		if !host {
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to := strings.TrimPrefix(imp, module)
			tr, toHost := layerOf(to)
			switch {
			case !toHost:
				t.Errorf("%s (host side) imports %s (build side)", from, to)
			case tr > fr:
				t.Errorf("%s (layer %d) imports %s (layer %d): imports point down", from, fr, to, tr)
			case fr == rank["services"] && under(from, "services") && under(to, "init"):
				t.Errorf("%s imports %s: services are containers, not part of PID 1", from, to)
			}
		}
	}
}

// What runs on a host never pulls in the build pipeline, even indirectly.
func TestNothingOnTheHostDependsOnTheBuild(t *testing.T) {
	checked := 0
	for _, p := range list(t) {
		from := strings.TrimPrefix(p.ImportPath, module)
		if _, host := layerOf(from); !host {
			continue
		}
		checked++
		for _, d := range p.Deps {
			to := strings.TrimPrefix(d, module)
			if !strings.HasPrefix(d, module) {
				continue
			}
			if _, toHost := layerOf(to); !toHost {
				t.Errorf("%s depends on %s (build side)", from, to)
			}
		}
	}
	if checked < 30 {
		t.Errorf("checked %d host packages; expected init, services, cloud-config and the rest", checked)
	}
}

func TestLayerOf(t *testing.T) {
	for pkg, want := range map[string]int{"internal/layout": 0, "cloud-config/apply": 1, "init/supervise": 2, "init": 2, "services/network": 2, "cmd/hostctl": 3, "cmd/internal/cli": 3} {
		if got, ok := layerOf(pkg); !ok || got != want {
			t.Errorf("layerOf(%s) = %d, %v; want %d", pkg, got, ok, want)
		}
	}
	for _, pkg := range []string{"build", "build/image", "kernel", "cmd/berth", "internal/qemu", "test"} {
		if _, ok := layerOf(pkg); ok {
			t.Errorf("%s is on the host side", pkg)
		}
	}
}
