package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/google/go-cmp/cmp"
)

type fakeHost struct {
	calls  []string
	chowns map[string][2]int
	fail   map[string]error
}

func (f *fakeHost) Sethostname(n string) error { f.calls = append(f.calls, "hostname "+n); return nil }
func (f *fakeHost) Modprobe(m string, p []string) error {
	f.calls = append(f.calls, strings.TrimSpace("modprobe "+m+" "+strings.Join(p, " ")))
	return f.fail["modprobe "+m]
}
func (f *fakeHost) Mount(src, target, fstype, opts string) error {
	f.calls = append(f.calls, fmt.Sprintf("mount %s %s %s %s", src, filepath.Base(target), fstype, opts))
	return f.fail["mount "+src]
}
func (f *fakeHost) Run(ctx context.Context, c cloudconfig.Command, env []string, out io.Writer) error {
	f.calls = append(f.calls, "run "+c.String())
	fmt.Fprintln(out, "ran", c.String())
	return f.fail["run "+c.String()]
}
func (f *fakeHost) Chown(p string, uid, gid int) error {
	if f.chowns == nil {
		f.chowns = map[string][2]int{}
	}
	f.chowns[p] = [2]int{uid, gid}
	return nil
}

func (f *fakeHost) Swapon(p string) error {
	f.calls = append(f.calls, "swapon "+filepath.Base(p))
	return f.fail["swapon"]
}

func newApplier(t *testing.T) (*Applier, *fakeHost, *strings.Builder) {
	h := &fakeHost{fail: map[string]error{}}
	var out strings.Builder
	return &Applier{Root: t.TempDir(), Host: h, ProcSys: t.TempDir(), Out: &out}, h, &out
}

const k1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl one"
const k2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPjm2pHbW0qCvdUOH8ypG1nFYzFyhJRK8P/H/Uo3sHzS two"

// A user owns their home and may put links in it; root's writes for
// ssh keys and write_files follow none of them.
func TestNoLinkFollowedInHomes(t *testing.T) {
	a, h, _ := newApplier(t)
	outside := filepath.Join(a.Root, "etc/ssh")
	os.MkdirAll(outside, 0o755)
	os.MkdirAll(filepath.Join(a.Root, "home/ops"), 0o755)
	if err := os.Symlink("../../etc/ssh", filepath.Join(a.Root, "home/ops/.ssh")); err != nil {
		t.Fatal(err)
	}
	ops := []cloudconfig.User{{Name: "ops", SSHAuthorizedKeys: []string{k1}}}
	ids, _ := AssignIDs(ops, IDs{}, nil)
	err := a.AuthorizedKeys(nil, ops, ids)
	if !errors.Is(err, atomicfile.ErrSymlink) || !strings.Contains(err.Error(), "authorized keys: /home/ops/.ssh: a symbolic link on the way") {
		t.Errorf("keys through a linked .ssh: %v", err)
	}
	err = a.WriteFiles([]cloudconfig.WriteFile{{Path: "/home/ops/.ssh/config", Content: "x"}}, false, ids)
	if !errors.Is(err, atomicfile.ErrSymlink) || !strings.Contains(err.Error(), "write_files[0]") {
		t.Errorf("write_files through a linked .ssh: %v", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("root wrote %d files where the link points", len(entries))
	}
	if _, ok := h.chowns[filepath.Join(a.Root, "home/ops/.ssh")]; ok {
		t.Error("the linked .ssh was given to the user")
	}
}

func TestAuthorizedKeysKeepsExistingLines(t *testing.T) {
	a, h, _ := newApplier(t)
	os.MkdirAll(filepath.Join(a.Root, "root/.ssh"), 0o700)
	os.WriteFile(filepath.Join(a.Root, "root/.ssh/authorized_keys"), []byte("# added by hand\n"+k2+"\n"), 0o600)
	uid := 2000
	users := []cloudconfig.User{{Name: "ops", SSHAuthorizedKeys: []string{k1}}, {Name: "ci", UID: &uid}}
	ids, _ := AssignIDs(users, IDs{}, nil)
	if err := a.AuthorizedKeys([]string{k1, strings.Replace(k2, " two", " renamed", 1)}, users, ids); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(a.Root, "root/.ssh/authorized_keys"))
	if string(b) != "# added by hand\n"+k2+"\n"+k1+"\n" {
		t.Errorf("root keys:\n%s", b)
	}
	b, _ = os.ReadFile(filepath.Join(a.Root, "home/ops/.ssh/authorized_keys"))
	if string(b) != k1+"\n" {
		t.Errorf("ops keys:\n%s", b)
	}
	if h.chowns[filepath.Join(a.Root, "home/ops/.ssh/authorized_keys")] != [2]int{1000, 1000} || h.chowns[filepath.Join(a.Root, "home/ci")] != [2]int{2000, 2000} {
		t.Errorf("chowns %v", h.chowns)
	}
}

func TestWriteFiles(t *testing.T) {
	a, h, _ := newApplier(t)
	os.MkdirAll(filepath.Join(a.Root, "etc"), 0o755)
	os.WriteFile(filepath.Join(a.Root, "etc/app.conf"), []byte("a=1\n"), 0o644)
	files := []cloudconfig.WriteFile{
		{Path: "/etc/app.conf", Content: "b=2\n", Append: true},
		{Path: "/var/lib/x/secret", Content: "aGk=", Encoding: "b64", Permissions: 0o600, Owner: "ops:ops"},
		{Path: "/var/lib/late", Content: "later", Defer: true},
	}
	ids, _ := AssignIDs([]cloudconfig.User{{Name: "ops"}}, IDs{}, nil)
	if err := a.WriteFiles(files, false, ids); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(a.Root, "etc/app.conf"))
	if string(b) != "a=1\nb=2\n" {
		t.Errorf("append: %q", b)
	}
	st, err := os.Stat(filepath.Join(a.Root, "var/lib/x/secret"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("secret: %v %v", st, err)
	}
	if h.chowns[filepath.Join(a.Root, "var/lib/x/secret")] != [2]int{1000, 1000} {
		t.Errorf("owner: %v", h.chowns)
	}
	if _, err := os.Stat(filepath.Join(a.Root, "var/lib/late")); !os.IsNotExist(err) {
		t.Error("a deferred file was written early")
	}
	if err := a.WriteFiles(files, true, ids); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(a.Root, "var/lib/late")); string(b) != "later" {
		t.Errorf("deferred: %q", b)
	}
	err = a.WriteFiles([]cloudconfig.WriteFile{{Path: "/etc/x", Owner: "nobody-here"}}, false, IDs{})
	if err == nil || !strings.Contains(err.Error(), `owner "nobody-here": no such user`) {
		t.Errorf("bad owner: %v", err)
	}
}

func TestSysctlModulesTimezoneMounts(t *testing.T) {
	a, h, _ := newApplier(t)
	os.MkdirAll(filepath.Join(a.ProcSys, "net/ipv4"), 0o755)
	if err := a.Sysctl(map[string]string{"net.ipv4.ip_forward": "1"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(a.ProcSys, "net/ipv4/ip_forward")); string(b) != "1\n" {
		t.Errorf("sysctl: %q", b)
	}
	// A value the kernel refuses names its config key; the rest is applied.
	os.MkdirAll(filepath.Join(a.ProcSys, "vm/swappiness"), 0o755) // a write fails, as EINVAL would
	err := a.Sysctl(map[string]string{"vm.swappiness": "500", "net.ipv4.ip_forward": "0"})
	if err == nil || !strings.HasPrefix(err.Error(), `berth.sysctl."vm.swappiness" = 500: the kernel refused it: open `) {
		t.Errorf("refused sysctl: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(a.ProcSys, "net/ipv4/ip_forward")); string(b) != "0\n" {
		t.Errorf("sysctl after a refused one: %q", b)
	}
	h.fail["modprobe nope"] = errors.New("not found")
	err = a.Modules([]string{"br_netfilter", "nf_conntrack hashsize=131072", "nope"})
	if err == nil || !strings.Contains(err.Error(), "modprobe nope: not found") {
		t.Errorf("modules: %v", err)
	}
	os.MkdirAll(filepath.Join(a.Root, "usr/share/zoneinfo/Europe"), 0o755)
	os.WriteFile(filepath.Join(a.Root, "usr/share/zoneinfo/Europe/Paris"), []byte("TZif"), 0o644)
	os.MkdirAll(filepath.Join(a.Root, "etc"), 0o755)
	if err := a.Timezone("Europe/Paris"); err != nil {
		t.Fatal(err)
	}
	if l, _ := os.Readlink(filepath.Join(a.Root, "etc/localtime")); l != "/usr/share/zoneinfo/Europe/Paris" {
		t.Errorf("localtime -> %q", l)
	}
	if err := a.Timezone("Mars/Olympus"); err == nil || err.Error() != "timezone Mars/Olympus: not in /usr/share/zoneinfo" {
		t.Errorf("unknown zone: %v", err)
	}
	if l, _ := os.Readlink(filepath.Join(a.Root, "etc/localtime")); l != "/usr/share/zoneinfo/Europe/Paris" {
		t.Errorf("an unknown zone changed localtime -> %q", l)
	}
	h.fail["mount /dev/vdz"] = errors.New("no such device")
	err = a.Mounts([][]string{{"/dev/vdz", "/mnt/gone"}, {"/dev/vdb", "/mnt/data", "ext4", "defaults,nofail"}})
	if err == nil || !strings.Contains(err.Error(), "mounts[0]: mount /dev/vdz on /mnt/gone: no such device") {
		t.Errorf("mounts: %v", err)
	}
	want := []string{"modprobe br_netfilter", "modprobe nf_conntrack hashsize=131072", "modprobe nope", "mount /dev/vdz gone auto defaults", "mount /dev/vdb data ext4 defaults,nofail"}
	if diff := cmp.Diff(want, h.calls); diff != "" {
		t.Errorf("calls (-want +got)\n%s", diff)
	}
}

func TestCommandsGoOnAfterAFailureAndRunOnce(t *testing.T) {
	a, h, out := newApplier(t)
	h.fail["run false"] = errors.New("exit status 1")
	cmds := []cloudconfig.Command{{Shell: "false"}, {Argv: []string{"touch", "/var/lib/ran"}}}
	run := func() error { return a.Commands(context.Background(), "runcmd", cmds, nil) }
	ran, err := a.Once("i-1", "runcmd", run)
	if !ran || err == nil || !strings.Contains(err.Error(), "runcmd[0] (false): exit status 1") {
		t.Errorf("first: ran=%v err=%v", ran, err)
	}
	if !strings.Contains(out.String(), `ran "touch" "/var/lib/ran"`) {
		t.Errorf("the command after the failing one did not run:\n%s", out)
	}
	ran, err = a.Once("i-1", "runcmd", run)
	if ran || err != nil {
		t.Errorf("second boot, same instance: ran=%v err=%v", ran, err)
	}
	if ran, _ := a.Once("i-2", "runcmd", run); !ran {
		t.Error("a new instance did not run runcmd")
	}
}

func TestCACerts(t *testing.T) {
	a, _, _ := newApplier(t)
	os.MkdirAll(filepath.Join(a.Root, "usr/share/berth"), 0o755)
	os.WriteFile(filepath.Join(a.Root, "usr/share/berth/ca-certificates.crt"), []byte("DEFAULTS\n"), 0o644)
	if err := a.CACerts(&cloudconfig.CACerts{Trusted: []string{"-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(a.Root, "etc/ssl/certs/ca-certificates.crt"))
	if !strings.HasPrefix(string(b), "DEFAULTS\n-----BEGIN CERTIFICATE-----") {
		t.Errorf("bundle:\n%s", b)
	}
	a.CACerts(&cloudconfig.CACerts{RemoveDefaults: true, Trusted: []string{"-----BEGIN CERTIFICATE-----\nY\n-----END CERTIFICATE-----"}})
	b, _ = os.ReadFile(filepath.Join(a.Root, "etc/ssl/certs/ca-certificates.crt"))
	if strings.Contains(string(b), "DEFAULTS") {
		t.Error("remove_defaults kept the defaults")
	}
}

// root may be listed in users (for its password, or by chpasswd): it keeps
// uid 0 and /root, and takes no uid from the others.
func TestRootInUsers(t *testing.T) {
	uid := 1000
	users := []cloudconfig.User{{Name: "ops"}, {Name: "root"}, {Name: "dev", UID: &uid}}
	ids, _ := AssignIDs(users, IDs{}, nil)
	if got := ids.UIDs(); got["root"] != 0 || got["dev"] != 1000 || got["ops"] != 1001 {
		t.Errorf("ids %v", got)
	}
	if _, ok := ids.Users["root"]; ok {
		t.Errorf("root is recorded: %v", ids.Users)
	}
	if Home(users[1]) != "/root" || Home(users[0]) != "/home/ops" {
		t.Errorf("homes %s %s", Home(users[1]), Home(users[0]))
	}
}
