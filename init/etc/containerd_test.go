package etc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	srvconfig "github.com/containerd/containerd/v2/cmd/containerd/server/config"
	"github.com/containerd/containerd/v2/version"

	"github.com/berth-os/berth/internal/layout"
)

// loadContainerdConfig reads a rendered config with containerd's own
// loader. It is at containerd's config version: containerd migrates
// nothing when it starts, and warns of nothing.
func loadContainerdConfig(t *testing.T, text string) *srvconfig.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var c srvconfig.Config
	if err := srvconfig.LoadConfig(context.Background(), p, &c); err != nil {
		t.Fatalf("containerd cannot load the config: %v\n%s", err, text)
	}
	if err := c.ValidateVersion(); err != nil {
		t.Fatal(err)
	}
	if c.Version != version.ConfigVersion {
		t.Errorf("config version %d; containerd %s migrates it from that to %d at each start, with a warning", c.Version, version.Version, version.ConfigVersion)
	}
	if c.GRPC != (srvconfig.GRPCConfig{}) || c.TTRPC != (srvconfig.TTRPCConfig{}) {
		t.Errorf("deprecated [grpc] or [ttrpc] settings: %+v, %+v", c.GRPC, c.TTRPC)
	}
	return &c
}

// serverAddress is the address in the config of containerd's server
// plugin id (grpc, ttrpc).
func serverAddress(c *srvconfig.Config, id string) string {
	p, _ := c.Plugins["io.containerd.server.v1."+id].(map[string]any)
	a, _ := p["address"].(string)
	return a
}

// The two containerds share nothing: not the store, the state folder,
// the socket or the shims' sockets. The system one keeps all of its
// runtime files in the private folder; the user one is at the standard
// places ctr and docker look.
func TestContainerdConfigsApart(t *testing.T) {
	sys := loadContainerdConfig(t, SystemContainerdConfig)
	user := loadContainerdConfig(t, UserContainerdConfig)

	if sys.Root != layout.SystemContainerdRoot || user.Root != layout.UserContainerdRoot || sys.Root == user.Root {
		t.Errorf("roots: system %q, user %q; want %q and %q", sys.Root, user.Root, layout.SystemContainerdRoot, layout.UserContainerdRoot)
	}
	if sys.State != layout.SystemContainerdDir || user.State != "/run/containerd" {
		t.Errorf("state: system %q, user %q; want %q and /run/containerd", sys.State, user.State, layout.SystemContainerdDir)
	}
	sysGRPC, userGRPC := serverAddress(sys, "grpc"), serverAddress(user, "grpc")
	if sysGRPC != layout.SystemContainerdSocket || userGRPC != "/run/containerd/containerd.sock" {
		t.Errorf("sockets: system %q, user %q; want %q and /run/containerd/containerd.sock", sysGRPC, userGRPC, layout.SystemContainerdSocket)
	}
	// TTRPC, where the shims send their events, beside each gRPC socket:
	// in a version 4 config nothing derives it, and the system one left
	// out would be the user one's default.
	if sysTTRPC, userTTRPC := serverAddress(sys, "ttrpc"), serverAddress(user, "ttrpc"); sysTTRPC != sysGRPC+".ttrpc" || userTTRPC != userGRPC+".ttrpc" {
		t.Errorf("TTRPC sockets: system %q, user %q; want each beside its gRPC socket", sysTTRPC, userTTRPC)
	}
	// Without socket_dir the system shims' sockets would be in
	// /run/containerd/s, where the console sees them.
	shim, _ := sys.Plugins["io.containerd.shim.v1.manager"].(map[string]any)
	dir, _ := shim["socket_dir"].(string)
	if !strings.HasPrefix(dir, layout.SystemContainerdDir+"/") || len(dir) > 38 {
		t.Errorf("system shims' socket_dir = %q, want a folder of %s of at most 38 characters (containerd's limit)", dir, layout.SystemContainerdDir)
	}
	if !(sys.OOMScore < user.OOMScore) {
		t.Errorf("oom_score: system %d, user %d; want the user containerd chosen before the system one", sys.OOMScore, user.OOMScore)
	}
	transfer, _ := user.Plugins["io.containerd.transfer.v1.local"].(map[string]any)
	if got, _ := transfer["config_path"].(string); got != "/etc/containerd/certs.d" {
		t.Errorf("user containerd's registry hosts: config_path = %q, want /etc/containerd/certs.d", got)
	}
}

// The user config is at containerd's default path; the system one is not
// in /etc (PID 1 writes it in the system containerd's private folder).
func TestContainerdConfigFiles(t *testing.T) {
	want := map[string]os.FileMode{"containerd/config.toml": 0o644}
	for _, f := range Files(Config{}) {
		if f.Content == SystemContainerdConfig {
			t.Errorf("/etc/%s holds the system containerd's config", f.Path)
		}
		if mode, ok := want[f.Path]; ok {
			if f.Mode != mode {
				t.Errorf("/etc/%s: mode %o, want %o", f.Path, f.Mode, mode)
			}
			delete(want, f.Path)
		}
	}
	if len(want) > 0 {
		t.Errorf("not rendered: %v", want)
	}
}
