package gobin

import (
	"go/build"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// builtinsPkg is containerd's own list of the plugins its daemon loads.
const builtinsPkg = "github.com/containerd/containerd/v2/cmd/containerd/builtins"

// droppedPlugins are the plugin packages of containerd's list for Linux
// that tools/containerd leaves out (plugins.go says why).
var droppedPlugins = []string{
	"github.com/containerd/containerd/v2/plugins/nri",
	"github.com/containerd/containerd/v2/plugins/diff/erofs/plugin",
	"github.com/containerd/containerd/v2/plugins/mount/erofs",
	"github.com/containerd/containerd/v2/plugins/mount/fsview/erofs",
	"github.com/containerd/containerd/v2/plugins/snapshots/erofs/plugin",
	"github.com/containerd/containerd/v2/plugins/snapshots/blockfile/plugin",
}

// imports lists the imports of a folder's Go files that build for Linux
// with the given tags.
func imports(t *testing.T, dir string, tags []string) []string {
	t.Helper()
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH, ctx.BuildTags = "linux", "amd64", tags
	p, err := ctx.ImportDir(dir, build.ImportComment)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	return p.Imports
}

// The containerd Berth builds loads containerd's own plugins for Linux,
// less the ones plugins.go drops: a containerd update that adds a plugin
// upstream fails here until plugins.go takes it or drops it.
func TestContainerdPluginsFollowUpstream(t *testing.T) {
	root := repoRoot(t)
	var tags []string
	for _, b := range Standard("test", Versions{Containerd: "v2", Runc: "v1"}) {
		if b.Name == "containerd" {
			tags = b.Tags
		}
	}
	if len(tags) == 0 {
		t.Fatal("Standard lists no containerd with build tags")
	}
	// The pinned containerd's source, as the build compiles it.
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/containerd/containerd/v2")
	cmd.Dir = filepath.Join(root, ToolsModule)
	out, err := cmd.Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Fatalf("go list -m github.com/containerd/containerd/v2 in tools/: %q, %v (make deps downloads it)", dir, err)
	}
	upstream := imports(t, filepath.Join(dir, "cmd", "containerd", "builtins"), tags)
	ours := imports(t, filepath.Join(root, ToolsModule, "containerd"), tags)
	if slices.Contains(ours, builtinsPkg) {
		t.Fatalf("tools/containerd imports %s: it would load every plugin, the dropped ones too", builtinsPkg)
	}
	for _, p := range droppedPlugins {
		if !slices.Contains(upstream, p) {
			t.Errorf("dropped plugin %s is no longer in containerd's list: take it off droppedPlugins and plugins.go's comment", p)
		}
		if slices.Contains(ours, p) {
			t.Errorf("tools/containerd imports %s, which it is to leave out", p)
		}
	}
	for _, p := range upstream {
		if !slices.Contains(ours, p) && !slices.Contains(droppedPlugins, p) {
			t.Errorf("containerd's list has %s, which tools/containerd/plugins.go neither imports nor drops", p)
		}
	}
	for _, p := range ours {
		if strings.Contains(p, "/plugins/") && !slices.Contains(upstream, p) {
			t.Errorf("tools/containerd imports %s, which is not in containerd's own list for Linux", p)
		}
	}
}
