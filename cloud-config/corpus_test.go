package cloudconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// conformanceDir finds ../shared/conformance beside the repository (as CI
// has it), or beside a folder that holds the repository (a worktree), or
// $BERTH_CONFORMANCE. Without it the test says loudly that it did not run
// (a newcomer's clone has no ../shared); where BERTH_REQUIRE_CONFORMANCE
// is set, as .ci/run sets it, a missing corpus is a failure.
func conformanceDir(t testing.TB) string {
	t.Helper()
	dir, err := findConformance()
	if err != nil {
		if os.Getenv("BERTH_REQUIRE_CONFORMANCE") != "" {
			t.Fatalf("%v; BERTH_REQUIRE_CONFORMANCE is set", err)
		}
		t.Skipf("NOT RUN: %v", err)
	}
	return dir
}

// findConformance is where the corpus is, or why it is not there.
func findConformance() (string, error) {
	if d := os.Getenv("BERTH_CONFORMANCE"); d != "" {
		return d, nil
	}
	dir, err := filepath.Abs("..") // the module root
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		c := filepath.Join(filepath.Dir(d), "shared", "conformance")
		if st, err := os.Stat(filepath.Join(c, "cloud-config")); err == nil && st.IsDir() {
			return c, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", fmt.Errorf("conformance corpus not found: expected shared/conformance beside %s or a folder above it (or set BERTH_CONFORMANCE)", dir)
}
