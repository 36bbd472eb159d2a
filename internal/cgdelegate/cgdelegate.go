// Package cgdelegate gives a cgroup v2 cgroup's controllers to its
// children, as a container runtime running as a service needs: the
// runtime's processes move into a leaf first, because a cgroup cannot both
// hold processes and give controllers to its children. The user
// containerd (services/containerd) and dockerd (services/dockerd) do this
// before they exec, so that their containers' cgroups nest in the
// service's.
package cgdelegate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Leaf is the cgroup, under the service's, of the runtime and its shims.
// Containers get cgroups beside it; a containerd namespace or a docker
// cgroup parent starts with a letter or a digit: none is named _daemon.
const Leaf = "_daemon"

// Cgroup moves every process of the cgroup at dir into its leaf
// (dir/_daemon) and enables, for the cgroup's children, every controller
// the cgroup has. It returns the controllers enabled.
func Cgroup(dir string) ([]string, error) {
	daemon := filepath.Join(dir, Leaf)
	if err := os.Mkdir(daemon, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("make cgroup %s: %w", daemon, err)
	}
	procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("read the cgroup's processes: %w", err)
	}
	pids := strings.Fields(string(procs))
	if len(pids) == 0 {
		// This process is in the service's cgroup: dir is another one.
		return nil, fmt.Errorf("%s lists no process, not even this one (pid %d): is %s the service's cgroup?", filepath.Join(dir, "cgroup.procs"), os.Getpid(), dir)
	}
	// One PID per write: the kernel moves one process per write(2).
	f, err := os.OpenFile(filepath.Join(daemon, "cgroup.procs"), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", filepath.Join(daemon, "cgroup.procs"), err)
	}
	for _, pid := range pids {
		if _, err := f.WriteString(pid + "\n"); err != nil && !errors.Is(err, syscall.ESRCH) {
			f.Close()
			return nil, fmt.Errorf("move process %s into %s: %w", pid, daemon, err)
		}
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("move processes into %s: %w", daemon, err)
	}
	ctrl, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("read the cgroup's controllers: %w", err)
	}
	names := strings.Fields(string(ctrl))
	if len(names) == 0 {
		return nil, nil
	}
	plus := make([]string, len(names))
	for i, n := range names {
		plus[i] = "+" + n
	}
	sub := filepath.Join(dir, "cgroup.subtree_control")
	if err := os.WriteFile(sub, []byte(strings.Join(plus, " ")), 0o644); err != nil {
		return nil, fmt.Errorf("enable %s in %s: %w", strings.Join(names, " "), sub, err)
	}
	return names, nil
}
