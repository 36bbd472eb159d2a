package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/progress"
)

// checkVersion changes whenever the check below changes what it proves.
const checkVersion = 1

// probe is the config change the incremental check makes and takes back:
// a built-in driver (vmlinux is linked again) and a module (the module
// tree and its index change).
var probe = Fragment{Name: "99-incremental-probe.config", Data: []byte(
	"# CONFIG_VIRTIO_BALLOON is not set\n# CONFIG_PCNET32 is not set\n")}

// IncrementalReport is what CheckIncremental found.
type IncrementalReport struct {
	Kernel      string  `json:"kernel"`       // the kernel stage's key
	StageFrom   string  `json:"stage_from"`   // how the stage was built: clean, incremental or unknown
	Probe       string  `json:"probe"`        // the config change made and taken back
	AwaySeconds float64 `json:"away_seconds"` // the incremental build with the probe
	BackSeconds float64 `json:"back_seconds"` // the incremental build back to the stage's config
	Compared    int     `json:"compared"`     // files compared: vmlinuz and the module tree
	Cached      bool    `json:"-"`
}

// CheckIncremental proves that the kernel work tree's incremental build
// gives the same bytes as the build in the cache: in the tree it builds
// the kernel's config with a probe change on top, then the config itself
// again, and compares vmlinuz and every file of the module tree with the
// kernel stage. When that stage was built from a clean tree (a cold cache,
// as in CI's cold runs), this is the promise that a config change built
// incrementally equals a clean build. The verdict is cached by the kernel
// stage's key, so it costs two incremental builds once per kernel.
func CheckIncremental(ctx context.Context, c *cache.Cache, rep progress.Reporter) (IncrementalReport, error) {
	k, err := Build(ctx, c, rep)
	if err != nil {
		return IncrementalReport{}, err
	}
	key, err := cache.NewKey("kernel-incremental", checkVersion).
		String("kernel", k.Key).
		Bytes("probe", probe.Data).Key()
	if err != nil {
		return IncrementalReport{}, err
	}
	step := cache.Step{Stage: "kernel-incremental", Key: key, Title: "kernel incremental build check", Made: "checked"}
	dir, hit, err := c.Reported(rep, step, func(out string, _ progress.Task) error {
		r, err := checkIncremental(ctx, c, rep, k, out)
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, "report.json"), append(b, '\n'), 0o644)
	})
	if err != nil {
		return IncrementalReport{}, err
	}
	var r IncrementalReport
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	if err != nil {
		return IncrementalReport{}, fmt.Errorf("kernel incremental check: %w", err)
	}
	r.Cached = hit
	return r, nil
}

// checkIncremental does the check in out, the check's stage entry: the two
// build logs stay there.
func checkIncremental(ctx context.Context, c *cache.Cache, rep progress.Reporter, k Result, out string) (IncrementalReport, error) {
	r := IncrementalReport{Kernel: k.Key, StageFrom: "unknown", Probe: strings.TrimSpace(string(probe.Data))}
	if b, err := os.ReadFile(filepath.Join(k.Dir, "built-from")); err == nil {
		r.StageFrom = strings.TrimSpace(string(b))
	}
	pin, err := LoadPin("")
	if err != nil {
		return r, err
	}
	sk, err := loadSigningKey(c)
	if err != nil {
		return r, err
	}
	m, unlock, err := openTree(ctx, c, rep, pin.Source, sk)
	if err != nil {
		return r, err
	}
	defer unlock()
	// Away: the probe on top of the fragments.
	began := time.Now()
	if _, err := m.configure(append(Fragments(), probe)); err != nil {
		return r, err
	}
	if err := m.compile(rep, filepath.Join(out, "away.log")); err != nil {
		return r, err
	}
	r.AwaySeconds = time.Since(began).Round(time.Second).Seconds()

	// Back: the kernel's own config, which must come out as the stage's.
	began = time.Now()
	cfg, err := m.configure(Fragments())
	if err != nil {
		return r, err
	}
	want, err := os.ReadFile(k.Config)
	if err != nil {
		return r, err
	}
	if !bytes.Equal(cfg, want) {
		return r, fmt.Errorf("kernel incremental check: the fragments give another .config than the kernel stage's %s", k.Config)
	}
	if err := m.compile(rep, filepath.Join(out, "back.log")); err != nil {
		return r, err
	}
	back := filepath.Join(out, "back")
	defer cache.RemoveAll(back)
	if _, err := m.install(back); err != nil {
		return r, err
	}
	r.BackSeconds = time.Since(began).Round(time.Second).Seconds()

	n, diffs, err := compareBuilds(k.Dir, back)
	r.Compared = n
	if err != nil {
		return r, err
	}
	if len(diffs) > 0 {
		return r, fmt.Errorf("kernel incremental check: the incremental build differs from the kernel stage (built %s) %s in %d of %d files:\n  %s",
			r.StageFrom, k.Dir, len(diffs), n, strings.Join(diffs, "\n  "))
	}
	return r, nil
}

// compareBuilds compares vmlinuz and the module tree of two kernel builds
// byte for byte. It returns how many files it compared and one line per
// file that differs or is in one build only.
func compareBuilds(want, got string) (int, []string, error) {
	files := func(root string) (map[string]bool, error) {
		set := map[string]bool{"vmlinuz": true}
		err := filepath.WalkDir(filepath.Join(root, "modules"), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				rel, _ := filepath.Rel(root, p)
				set[rel] = true
			}
			return nil
		})
		return set, err
	}
	a, err := files(want)
	if err != nil {
		return 0, nil, fmt.Errorf("kernel incremental check: %w", err)
	}
	b, err := files(got)
	if err != nil {
		return 0, nil, fmt.Errorf("kernel incremental check: %w", err)
	}
	all := map[string]bool{}
	for p := range a {
		all[p] = true
	}
	for p := range b {
		all[p] = true
	}
	names := make([]string, 0, len(all))
	for p := range all {
		names = append(names, p)
	}
	sort.Strings(names)
	var diffs []string
	for _, p := range names {
		switch {
		case !a[p]:
			diffs = append(diffs, p+": only in the incremental build")
		case !b[p]:
			diffs = append(diffs, p+": missing from the incremental build")
		default:
			x, err := os.ReadFile(filepath.Join(want, p))
			if err != nil {
				return 0, nil, err
			}
			y, err := os.ReadFile(filepath.Join(got, p))
			if err != nil {
				return 0, nil, err
			}
			if !bytes.Equal(x, y) {
				diffs = append(diffs, fmt.Sprintf("%s: differs (%d bytes, %d in the incremental build)", p, len(x), len(y)))
			}
		}
	}
	return len(names), diffs, nil
}
