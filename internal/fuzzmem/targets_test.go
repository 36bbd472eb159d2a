package fuzzmem

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzFunc matches the declaration of a fuzz target.
var fuzzFunc = regexp.MustCompile(`(?m)^func (Fuzz\w*)\(\w+ \*testing\.F\)`)

// The list make fuzz runs (scripts/fuzz-targets) names every fuzz target
// of the module, and nothing else: a target added and not listed would
// only ever run its seeds.
func TestTargetsListed(t *testing.T) {
	root := filepath.Join("..", "..")
	var found []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// tools/ is a module of its own; testdata and dot folders hold no Go of ours,
			// and out/ only copies of it (the test variants' sources).
			if p != root && (d.Name() == "testdata" || (d.Name() == "tools" || d.Name() == "out") && filepath.Dir(p) == root || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		for _, m := range fuzzFunc.FindAllSubmatch(b, -1) {
			found = append(found, "./"+filepath.ToSlash(rel)+" "+string(m[1]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	listed, err := readTargets(filepath.Join(root, "scripts", "fuzz-targets"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(found)
	sort.Strings(listed)
	if len(found) == 0 {
		t.Fatal("no fuzz targets found in the tree")
	}
	if diff := cmp.Diff(found, listed); diff != "" {
		t.Errorf("scripts/fuzz-targets and the Fuzz functions of the tree differ (-tree +list)\n%s", diff)
	}
}

// readTargets reads "package function" lines, leaving out blank lines and
// comments.
func readTargets(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Join(strings.Fields(line), " "))
	}
	return out, sc.Err()
}
