// Package containerd is berth-containerd, which starts the user containerd as the containerd
// service.
//
// Users' containers are to get cgroups inside the service's cgroup, which
// is the root of the service's cgroup namespace, so that their memory
// counts against the service and stopping the service stops them all. A
// cgroup v2 cgroup cannot both hold processes and give controllers to its
// children, so this program first moves the processes of that cgroup (its
// own) into a leaf, <cgroup>/_daemon, then gives the controllers of the
// cgroup to its children, then runs containerd, which stays in the leaf
// with its shims: at the first connection to containerd's socket, or at
// once (ondemand.go). Containers get cgroups beside it, /<namespace>/<id>. A
// containerd namespace starts with a letter or a digit: none is named
// _daemon.
package containerd

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/berth-os/berth/internal/cgdelegate"
	"github.com/berth-os/berth/internal/envfile"
	"github.com/berth-os/berth/internal/layout"
)

// Main runs the program with the process's arguments, and exits the
// process with containerd's exit status (1 on an error of its own).
// cmd/berthbox runs it by the name it runs as.
func Main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	code, err := run(os.Args[1:], os.Stderr, syscall.Exec, sigs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-containerd:", err)
	}
	os.Exit(code)
}

// config is what the flags set.
type config struct {
	cgroup     string // the service's cgroup, as mounted in its namespace
	containerd string // the containerd binary
	config     string // containerd's config file
	envFile    string // NAME=value lines added to containerd's environment
	settings   string // berth.containerd, as PID 1 renders it (ON_DEMAND=...)
	socket     string // containerd's socket (its config's gRPC address)
	db         string // containerd's metadata database
	onDemand   bool   // start containerd at the socket's first connection
	// why says where onDemand comes from when it is false.
	why string
}

const usage = `usage: berth-containerd [flags]

Moves itself into a leaf of its cgroup, gives the cgroup's controllers to
its children (users' containers), and runs containerd: at the first
connection to its socket (-on-demand), or at once (exec) when
berth.containerd.on_demand is false (-settings) or its store holds a
container labelled containerd.io/restart.status=running.`

func parseFlags(args []string, log io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("berth-containerd", flag.ContinueOnError)
	fs.SetOutput(log)
	fs.StringVar(&c.cgroup, "cgroup", "/sys/fs/cgroup", "the service's cgroup")
	fs.StringVar(&c.containerd, "containerd", "/usr/bin/containerd", "containerd binary")
	fs.StringVar(&c.config, "config", "/etc/containerd/config.toml", "containerd's config")
	fs.StringVar(&c.envFile, "env-file", "/etc/berth/proxy.env", "NAME=value lines for containerd's environment (berth.proxy, for its pulls); a missing file adds none")
	fs.StringVar(&c.socket, "socket", layout.UserContainerdDir+"/containerd.sock", "containerd's socket, its config's gRPC address")
	fs.StringVar(&c.db, "db", layout.UserContainerdRoot+"/io.containerd.metadata.v1.bolt/meta.db", "containerd's metadata database")
	fs.StringVar(&c.settings, "settings", "/etc/berth/containerd.conf", "berth.containerd as NAME=value lines: ON_DEMAND=false starts containerd at once, unless -on-demand is given; a missing file is ON_DEMAND=true")
	fs.BoolVar(&c.onDemand, "on-demand", true, "bind the socket and start containerd at its first connection (default: the settings' ON_DEMAND)")
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
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "on-demand" })
	if given {
		if !c.onDemand {
			c.why = "-on-demand=false"
		}
		return c, nil
	}
	// A settings file it cannot read leaves the default: the service
	// still serves users' containers, and the log says why.
	kvs, err := envfile.Read(c.settings)
	if err != nil {
		fmt.Fprintf(log, "berth-containerd: %v; containerd starts on demand\n", err)
		return c, nil
	}
	if v, ok := envfile.Lookup(kvs, "ON_DEMAND"); ok {
		on, err := strconv.ParseBool(v)
		if err != nil {
			fmt.Fprintf(log, "berth-containerd: %s: ON_DEMAND=%s is not true or false; containerd starts on demand\n", c.settings, v)
			return c, nil
		}
		if c.onDemand = on; !on {
			c.why = "berth.containerd.on_demand is false"
		}
	}
	return c, nil
}

// execFunc replaces the process (syscall.Exec; tests record the call).
type execFunc func(argv0 string, argv, env []string) error

// run delegates the cgroup and runs containerd: on demand (onDemand, which
// returns its exit status), or by exec, which returns only on error. sigs
// carries the signals the on-demand parent passes to containerd.
func run(args []string, log io.Writer, exec execFunc, sigs <-chan os.Signal) (int, error) {
	c, err := parseFlags(args, log)
	if err != nil {
		return 2, err
	}
	enabled, err := cgdelegate.Cgroup(c.cgroup)
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(log, "berth-containerd: cgroup controllers for users' containers: %s\n", strings.Join(enabled, " "))
	env, err := envfile.Merge(os.Environ(), c.envFile)
	if err != nil {
		return 1, err
	}
	argv := []string{"containerd", "--config", c.config}
	if c.onDemand {
		found, err := restartLabelled(c.db)
		switch {
		case err != nil:
			fmt.Fprintf(log, "berth-containerd: containerd starts now: %v\n", err)
		case found != "":
			fmt.Fprintf(log, "berth-containerd: containerd starts now: its container %s has %s=running\n", found, restartStatusLabel)
		default:
			return onDemand(c, argv, env, sigs, log)
		}
	} else {
		fmt.Fprintf(log, "berth-containerd: containerd starts now: %s\n", c.why)
	}
	// containerd takes over the process and its signals: from here a
	// SIGTERM has its default action, and one that came before is
	// honoured rather than lost in the exec.
	signal.Reset(syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sigs:
		fmt.Fprintf(log, "berth-containerd: %v before containerd started\n", s)
		return 0, nil
	default:
	}
	if err := exec(c.containerd, argv, env); err != nil {
		return 1, fmt.Errorf("exec %s: %w", c.containerd, err)
	}
	return 1, nil
}
