// Command berth-dockerd starts dockerd as the docker service (the
// catalogue's docker entry, whose image is Debian's docker.io).
//
// Before it execs dockerd it does what Debian's maintainer scripts and a
// systemd unit would have done on a Debian host:
//   - it gives the service's cgroup's controllers to its children
//     (cgdelegate), so that containers' cgroups nest in the service's;
//   - it links iptables and ip6tables to their nftables variants, the
//     links update-alternatives makes (the image build runs no
//     maintainer script), since dockerd runs "iptables" from PATH;
//   - it links /etc/resolv.conf to the network service's resolv.conf, bound
//     read-only from the host, which dockerd gives its containers a copy
//     of (a bind of the file itself would keep the file of the service's
//     start, not the one the network service writes later);
//   - it adds berth.proxy, rendered by PID 1 as /etc/berth/proxy.env, to
//     dockerd's environment, read at every start (a restart after a
//     change of berth.proxy gives dockerd the new proxy);
//   - it copies the docker CLI of the image to a folder on the state
//     partition that the consoles see (/var/lib/docker/bin), so that
//     `docker` from a console is the same version as the daemon. A copy
//     is made only when the image's CLI differs from the one there.
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
	"time"

	"github.com/berth-os/berth/internal/cgdelegate"
	"github.com/berth-os/berth/internal/envfile"
)

func main() {
	if err := run(os.Args[1:], os.Stderr, syscall.Exec); err != nil {
		fmt.Fprintln(os.Stderr, "berth-dockerd:", err)
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	cgroup  string   // the service's cgroup, as mounted in its namespace
	dockerd string   // the dockerd binary
	sbin    string   // where the iptables links go
	cli     string   // the image's docker CLI
	cliDir  string   // where the consoles find it
	resolv  string   // the image's /etc/resolv.conf
	network string   // the network service's resolv.conf
	envFile string   // NAME=value lines added to dockerd's environment
	args    []string // dockerd's arguments
}

const usage = `usage: berth-dockerd [flags] [-- dockerd arguments]

Moves itself into a leaf of its cgroup, gives the cgroup's controllers to
its children (containers), links iptables to iptables-nft, copies the
docker CLI where the consoles find it, and execs dockerd.`

func parseFlags(args []string, log io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("berth-dockerd", flag.ContinueOnError)
	fs.SetOutput(log)
	fs.StringVar(&c.cgroup, "cgroup", "/sys/fs/cgroup", "the service's cgroup")
	fs.StringVar(&c.dockerd, "dockerd", "/usr/sbin/dockerd", "dockerd binary")
	fs.StringVar(&c.sbin, "sbin", "/usr/sbin", "folder of iptables-nft, where the iptables links go")
	fs.StringVar(&c.cli, "cli", "/usr/bin/docker", "the docker CLI to copy")
	fs.StringVar(&c.resolv, "resolv", "/etc/resolv.conf", "the resolv.conf dockerd reads")
	fs.StringVar(&c.network, "network-resolv", "/run/berth/network/resolv.conf", "the network service's resolv.conf, linked from -resolv")
	fs.StringVar(&c.envFile, "env-file", "/etc/berth/proxy.env", "NAME=value lines for dockerd's environment (berth.proxy); a missing file adds none")
	fs.StringVar(&c.cliDir, "cli-dir", "/var/lib/docker/bin", "folder the consoles find the docker CLI in")
	fs.Usage = func() {
		fmt.Fprintln(log, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	c.args = fs.Args()
	return c, nil
}

// execFunc replaces the process (syscall.Exec; tests record the call).
type execFunc func(argv0 string, argv, env []string) error

// run prepares the host side and execs dockerd; it returns only on error.
func run(args []string, log io.Writer, exec execFunc) error {
	c, err := parseFlags(args, log)
	if err != nil {
		return err
	}
	enabled, err := cgdelegate.Cgroup(c.cgroup)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "berth-dockerd: cgroup controllers for containers: %s\n", strings.Join(enabled, " "))
	if err := linkIptables(c.sbin); err != nil {
		return err
	}
	if err := linkResolv(c.resolv, c.network); err != nil {
		return err
	}
	if err := copyCLI(c.cli, c.cliDir); err != nil {
		return err
	}
	env, err := envfile.Merge(os.Environ(), c.envFile)
	if err != nil {
		return err
	}
	argv := append([]string{"dockerd"}, c.args...)
	if err := exec(c.dockerd, argv, env); err != nil {
		return fmt.Errorf("exec %s: %w", c.dockerd, err)
	}
	return nil
}

// iptablesLinks are the alternatives Debian's iptables package makes in
// its postinst, with the nftables backend (Debian's default since 10):
// link name and target, both in /usr/sbin.
var iptablesLinks = [][2]string{
	{"iptables", "iptables-nft"},
	{"iptables-save", "iptables-nft-save"},
	{"iptables-restore", "iptables-nft-restore"},
	{"ip6tables", "ip6tables-nft"},
	{"ip6tables-save", "ip6tables-nft-save"},
	{"ip6tables-restore", "ip6tables-nft-restore"},
}

// linkIptables makes each missing link of iptablesLinks in dir. A target
// that is not there is an error: dockerd would fail later, less clearly.
func linkIptables(dir string) error {
	for _, l := range iptablesLinks {
		link, target := filepath.Join(dir, l[0]), filepath.Join(dir, l[1])
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if _, err := os.Stat(target); err != nil {
			return fmt.Errorf("link %s: %w", link, err)
		}
		if err := os.Symlink(l[1], link); err != nil {
			return fmt.Errorf("link %s: %w", link, err)
		}
	}
	return nil
}

// linkResolv makes path a link to target, in place of what is there.
func linkResolv(path, target string) error {
	if got, err := os.Readlink(path); err == nil && got == target {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("link %s to %s: %w", path, target, err)
	}
	if err := os.Symlink(target, path); err != nil {
		return fmt.Errorf("link %s to %s: %w", path, target, err)
	}
	return nil
}

// copyCLI copies the docker CLI into dir, unless the copy there has its
// size and modification time. The copy replaces the old one in one rename:
// a docker command running in a console keeps its file.
func copyCLI(src, dir string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("docker CLI: %w", err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if old, err := os.Stat(dst); err == nil && old.Size() == fi.Size() && old.ModTime().Equal(fi.ModTime()) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("copy the docker CLI: %w", err)
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy the docker CLI: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, ".docker-*")
	if err != nil {
		return fmt.Errorf("copy the docker CLI: %w", err)
	}
	_, err = io.Copy(tmp, in)
	err = errors.Join(err, tmp.Chmod(0o755), tmp.Close())
	if err == nil {
		err = os.Chtimes(tmp.Name(), time.Time{}, fi.ModTime())
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("copy the docker CLI to %s: %w", dst, err)
	}
	return nil
}
