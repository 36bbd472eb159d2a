package containerd

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/cgdelegate/cgdelegatetest"
	"github.com/google/go-cmp/cmp"
)

var (
	cgroupDir = cgdelegatetest.Dir
	read      = cgdelegatetest.Read
)

// run delegates first, then execs containerd with the config.
func TestRun(t *testing.T) {
	dir := cgroupDir(t, "41\n", "memory pids\n")
	var argv0 string
	var argv, gotEnv []string
	exec := func(a0 string, av, env []string) error {
		if read(t, filepath.Join(dir, "cgroup.subtree_control")) == "" {
			t.Error("containerd exec'd before the controllers were given to the children")
		}
		argv0, argv, gotEnv = a0, av, env
		return errors.New("exec format error")
	}
	var log bytes.Buffer
	envFile := filepath.Join(t.TempDir(), "proxy.env")
	os.WriteFile(envFile, []byte("HTTPS_PROXY=http://proxy.lan:3128\n"), 0o644)
	_, err := run([]string{"-on-demand=false", "-cgroup", dir, "-containerd", "/bin/ctrd", "-config", "/c.toml", "-env-file", envFile}, &log, exec, nil)
	if err == nil || err.Error() != "exec /bin/ctrd: exec format error" {
		t.Errorf("run = %v, want the exec error naming the binary", err)
	}
	if argv0 != "/bin/ctrd" || !cmp.Equal(argv, []string{"containerd", "--config", "/c.toml"}) {
		t.Errorf("exec %s %q", argv0, argv)
	}
	if !slices.Contains(gotEnv, "HTTPS_PROXY=http://proxy.lan:3128") {
		t.Errorf("containerd's environment lacks berth.proxy's: %q", gotEnv)
	}
	if !strings.Contains(log.String(), "controllers for users' containers: memory pids") {
		t.Errorf("log %q, want the controllers enabled", log.String())
	}
	// A cgroup it cannot delegate: containerd does not start.
	argv0 = ""
	if _, err := run([]string{"-on-demand=false", "-cgroup", t.TempDir()}, &log, exec, nil); err == nil || argv0 != "" {
		t.Errorf("run in a bad cgroup = %v, exec'd %q; want an error and no exec", err, argv0)
	}
	if _, err := run([]string{"extra"}, &log, exec, nil); err == nil || !strings.Contains(err.Error(), `unexpected arguments ["extra"]`) {
		t.Errorf("run extra = %v", err)
	}
}
