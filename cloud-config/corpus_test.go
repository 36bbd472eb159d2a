package cloudconfig

import (
	"os"
	"path/filepath"
	"testing"
)

// conformanceDir finds ../shared/conformance beside the repository (as CI
// has it), or beside a folder that holds the repository (a worktree), or
// $BERTH_CONFORMANCE. The corpus is test data these tests cannot do
// without: a missing one is a failure, not a skip.
func conformanceDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("BERTH_CONFORMANCE"); d != "" {
		return d
	}
	dir, err := filepath.Abs("..") // the module root
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		c := filepath.Join(filepath.Dir(d), "shared", "conformance")
		if st, err := os.Stat(filepath.Join(c, "cloud-config")); err == nil && st.IsDir() {
			return c
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	t.Fatalf("conformance corpus not found: expected shared/conformance beside %s or a folder above it (or set BERTH_CONFORMANCE)", dir)
	return ""
}
