package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeImage is the docker image's files: the iptables-nft variants and
// the docker CLI, with a fake cgroup.
func fakeImage(t *testing.T) (cgroup, sbin, cli string) {
	t.Helper()
	root := t.TempDir()
	cgroup, sbin = filepath.Join(root, "cgroup"), filepath.Join(root, "sbin")
	os.MkdirAll(cgroup, 0o755)
	os.MkdirAll(sbin, 0o755)
	files := map[string]string{
		filepath.Join(cgroup, "cgroup.procs"): "41\n", filepath.Join(cgroup, "cgroup.controllers"): "memory pids\n",
		filepath.Join(cgroup, "cgroup.subtree_control"): "", filepath.Join(root, "docker"): "docker CLI v1",
	}
	for _, l := range iptablesLinks {
		files[filepath.Join(sbin, l[1])] = "xtables-nft-multi"
	}
	for p, data := range files {
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return cgroup, sbin, filepath.Join(root, "docker")
}

// run delegates the cgroup, links iptables, copies the CLI, and only then
// execs dockerd with the arguments after --.
func TestRun(t *testing.T) {
	cgroup, sbin, cli := fakeImage(t)
	cliDir := filepath.Join(t.TempDir(), "bin")
	var argv0 string
	var argv []string
	var gotEnv []string
	exec := func(a0 string, av, env []string) error {
		gotEnv = env
		if b, _ := os.ReadFile(filepath.Join(cgroup, "cgroup.subtree_control")); len(b) == 0 {
			t.Error("dockerd exec'd before the controllers were given to the children")
		}
		if _, err := os.Stat(filepath.Join(cliDir, "docker")); err != nil {
			t.Errorf("dockerd exec'd before the CLI was copied: %v", err)
		}
		argv0, argv = a0, av
		return errors.New("exec format error")
	}
	var log bytes.Buffer
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(resolv, []byte("nameserver 8.8.8.8\n"), 0o644)
	envFile := filepath.Join(t.TempDir(), "proxy.env")
	os.WriteFile(envFile, []byte("# berth.proxy\nHTTP_PROXY=http://proxy.lan:3128\nhttp_proxy=http://proxy.lan:3128\n"), 0o644)
	err := run([]string{"-cgroup", cgroup, "-sbin", sbin, "-cli", cli, "-cli-dir", cliDir, "-resolv", resolv, "-network-resolv", "/run/net/resolv.conf", "-env-file", envFile, "-dockerd", "/bin/dd", "--", "--host=unix:///run/docker/docker.sock", "--debug"}, &log, exec)
	if err == nil || err.Error() != "exec /bin/dd: exec format error" {
		t.Errorf("run = %v, want the exec error naming the binary", err)
	}
	if want := []string{"dockerd", "--host=unix:///run/docker/docker.sock", "--debug"}; argv0 != "/bin/dd" || !cmp.Equal(argv, want) {
		t.Errorf("exec %s %q, want /bin/dd %q", argv0, argv, want)
	}
	if !slices.Contains(gotEnv, "HTTP_PROXY=http://proxy.lan:3128") || !slices.Contains(gotEnv, "http_proxy=http://proxy.lan:3128") {
		t.Errorf("dockerd's environment lacks the proxy of %s: %q", envFile, gotEnv)
	}
	for _, l := range iptablesLinks {
		if got, err := os.Readlink(filepath.Join(sbin, l[0])); err != nil || got != l[1] {
			t.Errorf("%s links to %q (%v), want %s", l[0], got, err, l[1])
		}
	}
	if b, err := os.ReadFile(filepath.Join(cliDir, "docker")); err != nil || string(b) != "docker CLI v1" {
		t.Errorf("copied CLI: %q, %v", b, err)
	}
	if got, err := os.Readlink(resolv); err != nil || got != "/run/net/resolv.conf" {
		t.Errorf("%s links to %q (%v), want the network service's file", resolv, got, err)
	}
	if !strings.Contains(log.String(), "controllers for containers: memory pids") {
		t.Errorf("log %q, want the controllers enabled", log.String())
	}
	// A cgroup it cannot delegate: dockerd does not start.
	argv0 = ""
	if err := run([]string{"-cgroup", t.TempDir(), "-sbin", sbin, "-cli", cli, "-cli-dir", cliDir, "-resolv", resolv}, &log, exec); err == nil || argv0 != "" {
		t.Errorf("run in a bad cgroup = %v, exec'd %q; want an error and no exec", err, argv0)
	}
}

// A link that exists (a later start, or an image that has it) is kept; a
// missing target is an error naming the link.
func TestLinkIptables(t *testing.T) {
	_, sbin, _ := fakeImage(t)
	os.Symlink("iptables-legacy", filepath.Join(sbin, "iptables"))
	if err := linkIptables(sbin); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink(filepath.Join(sbin, "iptables")); got != "iptables-legacy" {
		t.Errorf("iptables links to %q, want the existing link kept", got)
	}
	if err := linkIptables(sbin); err != nil {
		t.Errorf("a second run: %v", err)
	}
	empty := t.TempDir()
	err := linkIptables(empty)
	if err == nil || !strings.Contains(err.Error(), "link "+filepath.Join(empty, "iptables")+": ") || !strings.Contains(err.Error(), "iptables-nft") {
		t.Errorf("no iptables-nft: %v, want an error naming the link and its target", err)
	}
}

// The CLI is copied again only when the image's differs (size or time).
func TestCopyCLI(t *testing.T) {
	_, _, cli := fakeImage(t)
	dir := filepath.Join(t.TempDir(), "bin")
	if err := copyCLI(cli, dir); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "docker")
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("copy: %v, %v; want mode 0755", fi, err)
	}
	// Same size and time: left alone (a mark shows it).
	os.WriteFile(dst, []byte("docker CLI v0"), 0o755)
	src, _ := os.Stat(cli)
	os.Chtimes(dst, time.Time{}, src.ModTime())
	if err := copyCLI(cli, dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "docker CLI v0" {
		t.Errorf("a copy with the image's size and time was replaced: %q", b)
	}
	// A newer image's CLI replaces it.
	os.WriteFile(cli, []byte("docker CLI v2 (longer)"), 0o755)
	if err := copyCLI(cli, dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "docker CLI v2 (longer)" {
		t.Errorf("the newer CLI was not copied: %q", b)
	}
	if err := copyCLI(filepath.Join(dir, "nosuch"), dir); err == nil || !strings.Contains(err.Error(), "docker CLI: ") || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("a missing CLI: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%s holds %d entries, want the CLI alone (no temp file left)", dir, len(ents))
	}
}

// The link is made once, and made again in place of a file.
func TestLinkResolv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	for i := 0; i < 2; i++ {
		if err := linkResolv(p, "/run/net/resolv.conf"); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := os.Readlink(p); got != "/run/net/resolv.conf" {
		t.Errorf("link %q", got)
	}
	bad := filepath.Join(t.TempDir(), "no", "resolv.conf")
	if err := linkResolv(bad, "/x"); err == nil || !strings.Contains(err.Error(), "link "+bad+" to /x: ") {
		t.Errorf("a missing folder: %v", err)
	}
}
