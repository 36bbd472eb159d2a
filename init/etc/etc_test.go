package etc

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/timesync"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestRenderGolden(t *testing.T) {
	tmpl := t.TempDir()
	os.MkdirAll(filepath.Join(tmpl, "ssh"), 0o755)
	os.WriteFile(filepath.Join(tmpl, "ssh/moduli"), []byte("moduli"), 0o644)
	os.WriteFile(filepath.Join(tmpl, "hostname"), []byte("template-loses"), 0o644)
	dir := t.TempDir()
	c := Config{Hostname: "node1", MachineID: "0123456789abcdef0123456789abcdef", Version: "0.1.0",
		ResolvConf: "/run/berth/network/resolv.conf", SSHKeyDir: "/var/lib/berth/ssh",
		NTP:              timesync.Config{Enabled: true, Sources: []timesync.Source{{Host: "10.0.2.2", Port: 1230}, {Pool: true, Host: "pool.example.org", Port: 123}}},
		RegistryMirrors:  map[string][]string{"docker.io": {"http://10.0.2.2:5000"}},
		ProxyEnv:         []string{"HTTPS_PROXY=http://proxy:3128", "https_proxy=http://proxy:3128"},
		ContainerdAtBoot: true}
	if err := Render(dir, tmpl, c); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		rel, _ := filepath.Rel(dir, p)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			got.WriteString("== " + rel + " -> " + l + "\n")
		case info.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			got.WriteString("== " + rel + " " + info.Mode().Perm().String() + "\n" + string(b))
		}
		return nil
	})
	golden := filepath.Join("testdata", "etc.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, []byte(got.String()), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got.String() != string(want) {
		t.Errorf("rendered /etc differs from %s; got:\n%s", golden, got.String())
	}
}

func TestMachineIDPersists(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lib/berth/machine-id")
	a, err := MachineID(p)
	if err != nil || len(a) != 32 {
		t.Fatalf("%q %v", a, err)
	}
	b, _ := MachineID(p)
	if a != b {
		t.Errorf("machine id changed: %s then %s", a, b)
	}
}

func TestAccountsAndSSH(t *testing.T) {
	c := Config{Hostname: "h", Users: []User{
		{Name: "ops", UID: 1000, Home: "/home/ops", Shell: "/bin/sh", Groups: []string{"docker", "wheel"}, Passwd: "$6$salt$hash"},
		{Name: "ci", UID: 1001, Home: "/home/ci", Shell: "/bin/sh", Groups: []string{"wheel"}},
	}, RootPasswd: "$6$r$h", SSHPort: 2222, SSHListen: "10.0.0.5", SSHPasswords: true}
	files := map[string]string{}
	for _, f := range Files(c) {
		files[f.Path] = f.Content
	}
	for file, want := range map[string][]string{
		"passwd":          {"ops:x:1000:1000::/home/ops:/bin/sh\n", "ci:x:1001:1001::/home/ci:/bin/sh\n"},
		"shadow":          {"root:$6$r$h:", "ops:$6$salt$hash:", "ci:!:"},
		"group":           {"docker:x:999:ops\n", "ops:x:1000:\n", "wheel:x:1002:ops,ci\n"},
		"ssh/sshd_config": {"Port 2222\nListenAddress 10.0.0.5\n", "PasswordAuthentication yes\n", "PermitRootLogin yes\n"},
	} {
		for _, w := range want {
			if !strings.Contains(files[file], w) {
				t.Errorf("%s lacks %q:\n%s", file, w, files[file])
			}
		}
	}
}

// Host keys from cloud-config's ssh_keys are rendered for the console
// service, private ones readable by root only; a key no longer in config
// is gone after the next render.
func TestRenderGivenHostKeys(t *testing.T) {
	dir := t.TempDir()
	c := Config{Hostname: "h", SSHHostKeys: map[string]string{"ssh_host_ed25519_key": "PRIVATE\n", "ssh_host_ed25519_key.pub": "ssh-ed25519 AAAA"}}
	if err := Render(dir, "", c); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, HostKeysDir, "ssh_host_ed25519_key")
	st, err := os.Stat(key)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v %v", st, err)
	}
	if b, _ := os.ReadFile(key + ".pub"); string(b) != "ssh-ed25519 AAAA\n" {
		t.Errorf("public key %q", b)
	}
	c.SSHHostKeys = nil
	if err := Render(dir, "", c); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(key); !os.IsNotExist(err) {
		t.Errorf("a key no longer in config is still there: %v", err)
	}
}

// A registry taken out of berth.registry_mirrors loses its hosts.toml at
// the next render (a live config change), and pulls go to it directly.
func TestRenderDropsRegistryMirrors(t *testing.T) {
	dir := t.TempDir()
	c := Config{Hostname: "h", RegistryMirrors: map[string][]string{"docker.io": {"http://m:5000"}, "quay.io": {"http://q"}}}
	if err := Render(dir, "", c); err != nil {
		t.Fatal(err)
	}
	c.RegistryMirrors = map[string][]string{"docker.io": {"http://m:5000"}}
	if err := Render(dir, "", c); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "containerd/certs.d/quay.io")); !os.IsNotExist(err) {
		t.Errorf("quay.io's mirrors are no longer in config, but its folder is there: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "containerd/certs.d/docker.io/hosts.toml")); err != nil || !strings.Contains(string(b), `[host."http://m:5000"]`) {
		t.Errorf("docker.io/hosts.toml = %q, %v; want its mirror", b, err)
	}
}

// /etc/hosts names the host by its FQDN too, when config gives one.
func TestHostsFQDN(t *testing.T) {
	for _, f := range Files(Config{Hostname: "dev", FQDN: "dev.local"}) {
		if f.Path == "hosts" && !strings.Contains(f.Content, "127.0.1.1\tdev.local dev\n") {
			t.Errorf("hosts:\n%s", f.Content)
		}
	}
}

// The ids kept for users and their groups are the ones rendered: a user's
// own group may have a gid other than its uid, and a group the host lacks
// keeps its gid.
func TestAccountsKeptIDs(t *testing.T) {
	c := Config{Hostname: "h", GroupIDs: map[string]int{"wheel": 1500},
		Users: []User{{Name: "ops", UID: 1002, GID: 1000, Home: "/home/ops", Shell: "/bin/sh", Groups: []string{"wheel", "docker"}}}}
	passwd, _, group := accounts(c)
	for _, want := range []string{"ops:x:1002:1000::/home/ops:/bin/sh\n"} {
		if !strings.Contains(passwd, want) {
			t.Errorf("passwd lacks %q:\n%s", want, passwd)
		}
	}
	for _, want := range []string{"ops:x:1000:\n", "wheel:x:1500:ops\n", "docker:x:999:ops\n"} {
		if !strings.Contains(group, want) {
			t.Errorf("group lacks %q:\n%s", want, group)
		}
	}
}

var errInjected = errors.New("injected failure")

// failingWriter fails its n-th write, leaving dir as a crash between two
// steps of a render would.
type failingWriter struct {
	n, calls int
}

func (f *failingWriter) step() error {
	f.calls++
	if f.calls == f.n {
		return errInjected
	}
	return nil
}

func (f *failingWriter) WriteFile(p string, data []byte, mode os.FileMode) error {
	if err := f.step(); err != nil {
		return err
	}
	return atomicWriter{}.WriteFile(p, data, mode)
}

func (f *failingWriter) Symlink(target, p string) error {
	if err := f.step(); err != nil {
		return err
	}
	return atomicWriter{}.Symlink(target, p)
}

// snapshot maps each entry under dir to its content or link target.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "-> " + l
		case d.Type().IsRegular():
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		}
		return nil
	})
	return out
}

// A render that stops at any step (here: its n-th write fails) leaves every
// file of the previous render in place, old or new, never missing or torn;
// a file that goes (a host key no longer in config) goes only once all the
// new ones are written.
func TestRenderNeverRemovesBeforeReplacing(t *testing.T) {
	old := Config{Hostname: "old", MachineID: "0123456789abcdef0123456789abcdef", ResolvConf: "/run/a/resolv.conf",
		Users:       []User{{Name: "ops", UID: 1000, Home: "/home/ops", Shell: "/bin/sh"}},
		SSHHostKeys: map[string]string{"ssh_host_ed25519_key": "OLD", "ssh_host_ed25519_key.pub": "ssh-ed25519 OLD"}}
	next := Config{Hostname: "new", MachineID: "0123456789abcdef0123456789abcdef", ResolvConf: "/run/b/resolv.conf",
		Users:       []User{{Name: "ci", UID: 1001, Home: "/home/ci", Shell: "/bin/sh"}},
		SSHHostKeys: map[string]string{"ssh_host_rsa_key": "NEW"}}
	want := t.TempDir()
	if err := Render(want, "", next); err != nil {
		t.Fatal(err)
	}
	newFiles := snapshot(t, want)
	writes := len(Files(next))
	for n := 1; n <= writes; n++ {
		dir := t.TempDir()
		if err := Render(dir, "", old); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, dir)
		err := render(dir, "", next, &failingWriter{n: n})
		if !errors.Is(err, errInjected) {
			t.Fatalf("write %d failing: render returned %v", n, err)
		}
		after := snapshot(t, dir)
		for p, was := range before {
			got, ok := after[p]
			switch {
			case !ok:
				t.Errorf("write %d failed and /etc/%s is gone: removed before the render was complete", n, p)
			case got != was && got != newFiles[p]:
				t.Errorf("write %d failed and /etc/%s is neither old nor new: %q", n, p, got)
			}
		}
		for p := range after {
			if strings.HasPrefix(filepath.Base(p), ".") {
				t.Errorf("write %d failed and left %s", n, p)
			}
		}
	}
	// A render that completes removes the key no longer in config.
	dir := t.TempDir()
	Render(dir, "", old)
	if err := Render(dir, "", next); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(newFiles, snapshot(t, dir)); diff != "" {
		t.Errorf("a render over an old one differs from a fresh one (-fresh +over old)\n%s", diff)
	}
}

// Without berth.containerd.on_demand: false, the user containerd's
// settings say it starts on demand.
func TestContainerdSettingsDefault(t *testing.T) {
	for _, f := range Files(Config{}) {
		if f.Path == ContainerdSettingsFile {
			if !strings.Contains(f.Content, "\nON_DEMAND=true\n") {
				t.Errorf("%s:\n%s\nwant ON_DEMAND=true", f.Path, f.Content)
			}
			return
		}
	}
	t.Errorf("no %s among the rendered files", ContainerdSettingsFile)
}

// ssh_genkeytypes: sshd offers only the types given, in its order.
func TestSSHKeyTypes(t *testing.T) {
	got := sshdConfig(Config{SSHKeyDir: "/k", SSHKeyTypes: []string{"ed25519", "ecdsa"}})
	if !strings.Contains(got, "\nHostKey /k/ssh_host_ed25519_key\nHostKey /k/ssh_host_ecdsa_key\nPermitRootLogin") || strings.Contains(got, "rsa") {
		t.Errorf("sshd_config with ed25519 and ecdsa:\n%s", got)
	}
}
