// Command berth-containerd starts the user containerd as the containerd
// service.
//
// Users' containers are to get cgroups inside the service's cgroup, which
// is the root of the service's cgroup namespace, so that their memory
// counts against the service and stopping the service stops them all. A
// cgroup v2 cgroup cannot both hold processes and give controllers to its
// children, so this program first moves the processes of that cgroup (its
// own) into a leaf, <cgroup>/_daemon, then gives the controllers of the
// cgroup to its children, then execs containerd, which stays in the leaf
// with its shims. Containers get cgroups beside it, /<namespace>/<id>. A
// containerd namespace starts with a letter or a digit: none is named
// _daemon.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

func main() {
	if err := run(os.Args[1:], os.Stderr, syscall.Exec); err != nil {
		fmt.Fprintln(os.Stderr, "berth-containerd:", err)
		os.Exit(1)
	}
}

// leaf is the cgroup, under the service's, of containerd and its shims.
const leaf = "_daemon"

// config is what the flags set.
type config struct {
	cgroup     string // the service's cgroup, as mounted in its namespace
	containerd string // the containerd binary
	config     string // containerd's config file
}

const usage = `usage: berth-containerd [flags]

Moves itself into a leaf of its cgroup, gives the cgroup's controllers to
its children (users' containers), and execs containerd.`

func parseFlags(args []string, log io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("berth-containerd", flag.ContinueOnError)
	fs.SetOutput(log)
	fs.StringVar(&c.cgroup, "cgroup", "/sys/fs/cgroup", "the service's cgroup")
	fs.StringVar(&c.containerd, "containerd", "/usr/bin/containerd", "containerd binary")
	fs.StringVar(&c.config, "config", "/etc/containerd/config.toml", "containerd's config")
	fs.Usage = func() {
		fmt.Fprintln(log, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, nil
}

// execFunc replaces the process (syscall.Exec; tests record the call).
type execFunc func(argv0 string, argv, env []string) error

// run delegates the cgroup and execs containerd; it returns only on error.
func run(args []string, log io.Writer, exec execFunc) error {
	c, err := parseFlags(args, log)
	if err != nil {
		return err
	}
	enabled, err := delegate(c.cgroup)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "berth-containerd: cgroup controllers for users' containers: %s\n", strings.Join(enabled, " "))
	argv := []string{"containerd", "--config", c.config}
	if err := exec(c.containerd, argv, os.Environ()); err != nil {
		return fmt.Errorf("exec %s: %w", c.containerd, err)
	}
	return nil
}

// delegate moves every process of the cgroup at dir into its leaf
// (dir/_daemon) and enables, for the cgroup's children, every controller
// the cgroup has. It returns the controllers enabled.
func delegate(dir string) ([]string, error) {
	daemon := filepath.Join(dir, leaf)
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
