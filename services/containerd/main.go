// Package containerd is berth-containerd, which starts the user containerd as the containerd
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
package containerd

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/berth-os/berth/internal/cgdelegate"
	"github.com/berth-os/berth/internal/envfile"
)

// Main runs the program with the process's arguments; it exits the
// process on an error. cmd/berthbox runs it by the name it runs as.
func Main() {
	if err := run(os.Args[1:], os.Stderr, syscall.Exec); err != nil {
		fmt.Fprintln(os.Stderr, "berth-containerd:", err)
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	cgroup     string // the service's cgroup, as mounted in its namespace
	containerd string // the containerd binary
	config     string // containerd's config file
	envFile    string // NAME=value lines added to containerd's environment
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
	fs.StringVar(&c.envFile, "env-file", "/etc/berth/proxy.env", "NAME=value lines for containerd's environment (berth.proxy, for its pulls); a missing file adds none")
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
	enabled, err := cgdelegate.Cgroup(c.cgroup)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "berth-containerd: cgroup controllers for users' containers: %s\n", strings.Join(enabled, " "))
	env, err := envfile.Merge(os.Environ(), c.envFile)
	if err != nil {
		return err
	}
	argv := []string{"containerd", "--config", c.config}
	if err := exec(c.containerd, argv, env); err != nil {
		return fmt.Errorf("exec %s: %w", c.containerd, err)
	}
	return nil
}
