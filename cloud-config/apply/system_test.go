package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/internal/servicetest"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// recKernel records System's privileged calls.
type recKernel struct {
	calls []string
	err   error
}

func (k *recKernel) Mount(source, target, fstype string, flags uintptr, data string) error {
	k.calls = append(k.calls, strings.Join([]string{"mount", source, target, fstype, flagString(flags), data}, " "))
	return k.err
}
func (k *recKernel) Sethostname(n string) error {
	k.calls = append(k.calls, "hostname "+n)
	return k.err
}
func (k *recKernel) Swapon(p string) error { k.calls = append(k.calls, "swapon "+p); return k.err }

func flagString(f uintptr) string {
	var out []string
	for _, n := range []struct {
		bit  uintptr
		name string
	}{{unix.MS_RDONLY, "ro"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"}, {unix.MS_NOEXEC, "noexec"}, {unix.MS_NOATIME, "noatime"}, {unix.MS_RELATIME, "relatime"}, {unix.MS_BIND, "bind"}} {
		if f&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return "[" + strings.Join(out, ",") + "]"
}

// testSystem is a System on a temp root with a sysfs holding one disk vdc
// whose partitions are filesystem images made with the host's tools.
func testSystem(t *testing.T) (*System, *recKernel) {
	t.Helper()
	root, sys, dev := t.TempDir(), t.TempDir(), t.TempDir()
	mkimg := func(name string, size int64, argv ...string) {
		p := filepath.Join(dev, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Truncate(p, size)
		if out, err := exec.Command(argv[0], append(argv[1:], p)...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", argv[0], err, out)
		}
	}
	mkimg("vdc1", 8<<20, "mke2fs", "-q", "-F", "-t", "ext4", "-L", "data", "-U", "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0")
	mkimg("vdc2", 16<<20, "mkfs.fat", "-F", "16", "-n", "STICK", "-i", "c0ffee42")
	diskDir := filepath.Join(sys, "devices/virtio/block/vdc")
	os.MkdirAll(filepath.Join(sys, "class/block"), 0o755)
	for name, uevent := range map[string]string{"vdc": "DEVTYPE=disk\n", "vdc1": "DEVTYPE=partition\nPARTNAME=one\n", "vdc2": "DEVTYPE=partition\nPARTNAME=two\n"} {
		d := diskDir
		if name != "vdc" {
			d = filepath.Join(diskDir, name)
		}
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "uevent"), []byte(uevent), 0o644)
		os.Symlink(d, filepath.Join(sys, "class/block", name))
	}
	k := &recKernel{}
	return &System{Root: root, Sysfs: sys, Dev: dev, ModprobePath: filepath.Join(root, "sbin/modprobe"), Spawn: servicetest.Spawn, Kernel: k}, k
}

func TestSystemMount(t *testing.T) {
	s, k := testSystem(t)
	dev := func(n string) string { return filepath.Join(s.Dev, n) }
	for _, tc := range []struct {
		name                      string
		source, target, typ, opts string
		want                      string
	}{
		{"by UUID, type probed", "UUID=0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", "/mnt/data", "auto", "defaults,nofail",
			"mount " + dev("vdc1") + " " + s.Root + "/mnt/data ext4 [] "},
		{"by FAT serial", "UUID=C0FF-EE42", "/media/stick", "vfat", "ro,noexec,uid=1000",
			"mount " + dev("vdc2") + " " + s.Root + "/media/stick vfat [ro,noexec] uid=1000"},
		{"by label, any case", "LABEL=DATA", "/var/data", "auto", "noatime,nosuid,nodev",
			"mount " + dev("vdc1") + " " + s.Root + "/var/data ext4 [nosuid,nodev,noatime] "},
		{"by partition name", "PARTLABEL=two", "/mnt/two", "vfat", "",
			"mount " + dev("vdc2") + " " + s.Root + "/mnt/two vfat [] "},
		{"a kernel name, as cloud-init writes it", "vdc1", "/mnt/k", "ext4", "relatime",
			"mount " + dev("vdc1") + " " + s.Root + "/mnt/k ext4 [relatime] "},
		{"a path", "/dev/vdz9", "/mnt/p", "xfs", "",
			"mount /dev/vdz9 " + s.Root + "/mnt/p xfs [] "},
		{"a filesystem's own source", "tmpfs", "/mnt/t", "tmpfs", "size=16m,mode=0755",
			"mount tmpfs " + s.Root + "/mnt/t tmpfs [] size=16m,mode=0755"},
		{"a network source", "10.0.2.2:/export", "/mnt/n", "nfs", "_netdev,vers=4",
			"mount 10.0.2.2:/export " + s.Root + "/mnt/n nfs [] vers=4"},
		{"a bind", "/var/lib/x", "/opt/x", "none", "bind",
			"mount /var/lib/x " + s.Root + "/opt/x none [bind] "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k.calls = nil
			if err := s.Mount(tc.source, tc.target, tc.typ, tc.opts); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{tc.want}, k.calls); diff != "" {
				t.Errorf("kernel calls (-want +got)\n%s", diff)
			}
		})
	}
	for _, tc := range []struct{ source, typ, want string }{
		{"UUID=0000-0000", "vfat", "mount UUID=0000-0000 on /mnt/x: UUID=0000-0000: no such device"},
		{"LABEL=nothing", "auto", "mount LABEL=nothing on /mnt/x: LABEL=nothing: no such device"},
		{"/nonexistent/dev", "auto", "mount /nonexistent/dev on /mnt/x: type auto: probe: open /nonexistent/dev"},
	} {
		k.calls = nil
		err := s.Mount(tc.source, "/mnt/x", tc.typ, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.source, err, tc.want)
		}
		if len(k.calls) > 0 {
			t.Errorf("%s: mounted anyway: %v", tc.source, k.calls)
		}
	}
	k.err = unix.EBUSY
	if err := s.Mount("tmpfs", "/mnt/t", "tmpfs", ""); !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), "on /mnt/t") {
		t.Errorf("a failing mount: %v", err)
	}
}

func TestSystemRun(t *testing.T) {
	s, _ := testSystem(t)
	var out strings.Builder
	ctx := context.Background()
	// Commands run in Root, with exactly the environment given.
	if err := s.Run(ctx, cloudconfig.Command{Shell: `pwd; echo "$GREETING"; echo err >&2`}, []string{"GREETING=hello"}, &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), s.Root+"\nhello\nerr\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	out.Reset()
	if err := s.Run(ctx, cloudconfig.Command{Argv: []string{"/bin/echo", "a b", "$HOME"}}, nil, &out); err != nil || out.String() != "a b $HOME\n" {
		t.Errorf("argv: %q, %v", out.String(), err)
	}
	var ee *ExitError
	err := s.Run(ctx, cloudconfig.Command{Shell: "exit 3"}, nil, &out)
	if !errors.As(err, &ee) || err.Error() != "exit status 3" {
		t.Errorf("exit 3: %v", err)
	}
	err = s.Run(ctx, cloudconfig.Command{Shell: "kill -TERM $$"}, nil, &out)
	if !errors.As(err, &ee) || err.Error() != "killed by terminated" {
		t.Errorf("killed: %v", err)
	}
	if err := s.Run(ctx, cloudconfig.Command{Argv: []string{"/nonexistent/cmd"}}, nil, &out); err == nil || !strings.Contains(err.Error(), "run /nonexistent/cmd") {
		t.Errorf("missing program: %v", err)
	}
	// modprobe is a program like any other; a missing one says which.
	if err := s.Modprobe("e1000e", nil); err == nil || !strings.Contains(err.Error(), s.ModprobePath) {
		t.Errorf("missing modprobe: %v", err)
	}
	os.MkdirAll(filepath.Dir(s.ModprobePath), 0o755)
	os.WriteFile(s.ModprobePath, []byte("#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/args\"\n"), 0o755)
	if err := s.Modprobe("bonding", []string{"max_bonds=0"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(filepath.Dir(s.ModprobePath), "args")); string(b) != "bonding max_bonds=0\n" {
		t.Errorf("modprobe args: %q", b)
	}
}

func TestSystemRootsPaths(t *testing.T) {
	s, k := testSystem(t)
	p := filepath.Join(s.Root, "home/u/.ssh")
	os.MkdirAll(p, 0o700)
	if err := s.Chown("/home/u/.ssh", os.Getuid(), os.Getgid()); err != nil {
		t.Errorf("chown under the root: %v", err)
	}
	if err := s.Chown("/home/nobody", os.Getuid(), os.Getgid()); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), s.Root) {
		t.Errorf("chown of a missing path: %v", err)
	}
	if err := s.Swapon("/var/swap.img"); err != nil {
		t.Fatal(err)
	}
	if err := s.Sethostname("h1"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"swapon " + s.Root + "/var/swap.img", "hostname h1"}, k.calls); diff != "" {
		t.Errorf("kernel calls (-want +got)\n%s", diff)
	}
	k.err = unix.EPERM
	if err := s.Sethostname("h2"); !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "set hostname h2") {
		t.Errorf("sethostname: %v", err)
	}
}

// The Applier over the real System: mounts from cloud-config reach the
// kernel with the devices resolved.
func TestApplierMountsOnSystem(t *testing.T) {
	s, k := testSystem(t)
	a := &Applier{Root: s.Root, Host: s, ProcSys: t.TempDir(), Out: &strings.Builder{}}
	err := a.Mounts([][]string{{"UUID=0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", "/mnt/u"}, {"LABEL=STICK", "/mnt/l", "vfat"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(k.calls) != 2 || !strings.HasPrefix(k.calls[0], "mount "+filepath.Join(s.Dev, "vdc1")+" ") || !strings.HasPrefix(k.calls[1], "mount "+filepath.Join(s.Dev, "vdc2")+" ") {
		t.Errorf("kernel calls: %q", k.calls)
	}
	for _, d := range []string{"mnt/u", "mnt/l"} {
		if _, err := os.Stat(filepath.Join(s.Root, d)); err != nil {
			t.Errorf("mount point %s not made: %v", d, err)
		}
	}
}

// gone says whether a process has ended (a zombie has).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// A bootcmd that leaves a daemon in the background is done when its own
// process is, though the daemon keeps its output open; one that runs past
// its timeout is killed, with what it started, and reported.
func TestBootcmdBackgroundAndTimeout(t *testing.T) {
	s, _ := testSystem(t)
	var out servicetest.Log
	a := &Applier{Root: s.Root, Host: s, Out: &out, CommandTimeout: 5 * time.Second}
	env := []string{"PATH=/usr/bin:/bin"}
	ctx := context.Background()

	// Whatever happens, no sleep outlives the test.
	t.Cleanup(func() {
		for _, f := range []string{"bg.pid", "child.pid"} {
			if b, err := os.ReadFile(filepath.Join(s.Root, f)); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
					unix.Kill(pid, unix.SIGKILL)
				}
			}
		}
	})
	// commands runs bootcmd, failing the test (not hanging it) when it
	// does not return within 10 s.
	commands := func(cmds ...cloudconfig.Command) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- a.Commands(ctx, "bootcmd", cmds, env) }()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatalf("bootcmd %q still running after 10 s", cmds)
			return nil
		}
	}

	start := time.Now()
	err := commands(cloudconfig.Command{Shell: "sleep 1000 & echo $! > bg.pid; echo started"})
	took := time.Since(start)
	bg := readPID(t, filepath.Join(s.Root, "bg.pid"))
	if err != nil || took > 2*time.Second {
		t.Errorf("a bootcmd that backgrounds sleep 1000: %v after %s, want done at once", err, took)
	}
	if !strings.Contains(out.String(), "started\n") {
		t.Errorf("output:\n%s", out.String())
	}
	if gone(bg) {
		t.Error("the daemon left in the background was killed")
	}

	a.CommandTimeout = 300 * time.Millisecond
	cmd := cloudconfig.Command{Shell: "sleep 1000 & echo $! > child.pid; sleep 1000"}
	start = time.Now()
	err = commands(cmd, cloudconfig.Command{Shell: "echo next"})
	took = time.Since(start)
	want := fmt.Sprintf("bootcmd[0] (%s): ran longer than 300ms: killed with its process group", cmd)
	if err == nil || err.Error() != want {
		t.Errorf("a bootcmd past its timeout: %v, want %q", err, want)
	}
	if took > 3*time.Second {
		t.Errorf("a bootcmd with a 300ms timeout took %s", took)
	}
	if !strings.Contains(out.String(), "next\n") {
		t.Errorf("the next bootcmd did not run:\n%s", out.String())
	}
	child := readPID(t, filepath.Join(s.Root, "child.pid"))
	deadline := time.Now().Add(3 * time.Second)
	for !gone(child) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !gone(child) {
		t.Errorf("the timed-out bootcmd's child %d still runs", child)
	}
}
