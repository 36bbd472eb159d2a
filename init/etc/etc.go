// Package etc renders /etc. On Berth /etc is a tmpfs made again at every
// boot: a template from the image (/usr/share/berth/etc) with the files
// generated from config written over it, so nothing in /etc drifts.
package etc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/berth-os/berth/internal/images"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/timesync"
	"golang.org/x/sys/unix"
)

// Config is what the generated files are made from.
type Config struct {
	Hostname  string
	FQDN      string // with Hostname in /etc/hosts, when set
	MachineID string
	Version   string // Berth version
	// ResolvConf is where the network service writes resolv.conf.
	ResolvConf string
	// SSHKeyDir holds the persistent host keys.
	SSHKeyDir string
	// Users are accounts besides root, from cloud-config.
	Users []User
	// GroupIDs are the gids of supplementary groups the host lacks (the
	// ones kept with the users' ids); a group not here gets a free gid.
	GroupIDs map[string]int
	// RootPasswd is root's crypt(3) hash; "" keeps root's password locked.
	RootPasswd string
	// SSH settings: port (22 when 0), listen address ("" for all), and
	// whether password logins are allowed (off by default: keys only).
	SSHPort      int
	SSHListen    string
	SSHPasswords bool
	// SSHHostKeys are host keys given in cloud-config's ssh_keys, by file
	// name (ssh_host_ed25519_key, ssh_host_ed25519_key.pub...): rendered
	// in HostKeysDir, from which the console service installs them.
	SSHHostKeys map[string]string
	// SSHKeyTypes are the host key types sshd offers (HostKey lines),
	// which the console service makes when they are missing: ed25519,
	// ecdsa and rsa when empty.
	SSHKeyTypes []string
	// NTP is the ntp service's config (cloud-config's ntp).
	NTP timesync.Config
	// RegistryMirrors are berth.registry_mirrors, rendered in containerd's
	// hosts.toml layout under containerd/certs.d (images.HostsDir).
	RegistryMirrors map[string][]string
	// ProxyEnv is berth.proxy as environment lines (NAME=value), rendered
	// as ProxyEnvFile for the services that fetch over HTTP.
	ProxyEnv []string
	// ContainerdAtBoot is berth.containerd.on_demand: false, rendered as
	// ContainerdSettingsFile.
	ContainerdAtBoot bool
}

// ProxyEnvFile is where, under /etc, berth.proxy is rendered as NAME=value
// lines, upper and lower case: an environment file the user containerd,
// dockerd and the consoles can read. It is there, maybe empty, on every
// host.
const ProxyEnvFile = "berth/proxy.env"

// ContainerdSettingsFile is where, under /etc, berth.containerd is
// rendered as NAME=value lines for the containerd service's program
// (berth-containerd), which reads them at its start: ON_DEMAND=true or
// false.
const ContainerdSettingsFile = "berth/containerd.conf"

// ProfileFile is the login shells' part of Berth's environment, which
// /etc/profile reads and a distribution console gets as
// /etc/profile.d/berth.sh: the docker CLI's socket and berth.proxy.
const ProfileFile = "etc/berth/profile.sh"

// Profile renders ProfileFile: export lines, each value quoted for sh.
func Profile(c Config) string {
	var b strings.Builder
	b.WriteString("# Rendered by Berth: the docker service's socket and berth.proxy for login shells.\n")
	lines := append([]string{"DOCKER_HOST=" + DockerHost}, c.ProxyEnv...)
	for _, l := range lines {
		name, value, _ := strings.Cut(l, "=")
		fmt.Fprintf(&b, "export %s='%s'\n", name, strings.ReplaceAll(value, "'", `'\''`))
	}
	return b.String()
}

// certsDir is images.HostsDir under /etc.
const certsDir = "containerd/certs.d"

// HostKeysDir is where, under /etc, the host keys of cloud-config are
// rendered for the console service.
const HostKeysDir = "ssh/given-host-keys"

// User is an account in /etc/passwd, /etc/shadow and /etc/group.
type User struct {
	Name string
	UID  int
	// GID is the user's own group's gid; 0 means UID. (A user with the
	// name of one of the host's groups is in that group.)
	GID    int
	Gecos  string
	Home   string
	Shell  string
	Groups []string // supplementary groups (made when missing)
	Passwd string   // crypt(3) hash; "" or "!" locks the password
}

// baseGroups are the groups every Berth host has, by name and gid.
var baseGroups = []struct {
	name string
	gid  int
}{
	{"root", 0}, {"tty", 5}, {"disk", 6}, {"lp", 7}, {"kmem", 15}, {"dialout", 20}, {"cdrom", 24},
	{"floppy", 25}, {"tape", 26}, {"audio", 29}, {"video", 44}, {"utmp", 43}, {"input", 101},
	{"kvm", 102}, {"render", 103}, {"sgx", 106}, {"docker", 999}, {"nogroup", 65534},
}

// BaseGroupIDs are the host's own groups by name: what cloud-config's
// users and groups do not get ids of their own for.
func BaseGroupIDs() map[string]int {
	m := map[string]int{}
	for _, g := range baseGroups {
		m[g.name] = g.gid
	}
	return m
}

// accounts renders passwd, shadow and group.
func accounts(c Config) (passwd, shadow, group string) {
	var pw, sh, gr strings.Builder
	rootHash := c.RootPasswd
	if rootHash == "" {
		rootHash = "*"
	}
	pw.WriteString("root:x:0:0:root:/root:/bin/sh\n")
	pw.WriteString("sshd:x:100:65534:sshd privilege separation:/run/sshd:/usr/sbin/nologin\n")
	pw.WriteString("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
	fmt.Fprintf(&sh, "root:%s:19000:0:99999:7:::\nsshd:!:19000::::::\nnobody:!:19000::::::\n", rootHash)
	members := map[string][]string{}
	gids := map[string]int{}
	for _, g := range baseGroups {
		gids[g.name] = g.gid
	}
	nextGID := 1000
	// Each user has a group of its own name and id; supplementary groups
	// that do not exist yet get free ids after those.
	for _, u := range c.Users {
		if _, ok := gids[u.Name]; !ok {
			gids[u.Name] = u.GID
			if u.GID == 0 {
				gids[u.Name] = u.UID
			}
		}
	}
	for _, u := range c.Users {
		for _, g := range u.Groups {
			if _, ok := gids[g]; !ok {
				if gid, ok := c.GroupIDs[g]; ok && !taken(gids, gid) {
					gids[g] = gid
				}
			}
		}
	}
	for _, u := range c.Users {
		for _, g := range u.Groups {
			if _, ok := gids[g]; !ok {
				for taken(gids, nextGID) {
					nextGID++
				}
				gids[g] = nextGID
			}
			members[g] = append(members[g], u.Name)
		}
	}
	for _, u := range c.Users {
		hash := u.Passwd
		if hash == "" {
			hash = "!"
		}
		fmt.Fprintf(&pw, "%s:x:%d:%d:%s:%s:%s\n", u.Name, u.UID, gids[u.Name], u.Gecos, u.Home, u.Shell)
		fmt.Fprintf(&sh, "%s:%s:19000:0:99999:7:::\n", u.Name, hash)
	}
	names := make([]string, 0, len(gids))
	for n := range gids {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		return gids[names[i]] < gids[names[j]] || gids[names[i]] == gids[names[j]] && names[i] < names[j]
	})
	for _, n := range names {
		fmt.Fprintf(&gr, "%s:x:%d:%s\n", n, gids[n], strings.Join(members[n], ","))
	}
	return pw.String(), sh.String(), gr.String()
}

func taken(gids map[string]int, gid int) bool {
	for _, g := range gids {
		if g == gid {
			return true
		}
	}
	return false
}

// File is one generated file.
type File struct {
	Path    string // relative to /etc
	Mode    os.FileMode
	Content string
	Link    string // symlink target instead of content
}

// Files returns the generated files, sorted by path.
func Files(c Config) []File {
	passwd, shadow, group := accounts(c)
	fs := []File{
		{Path: "hostname", Mode: 0o644, Content: c.Hostname + "\n"},
		{Path: "hosts", Mode: 0o644, Content: fmt.Sprintf("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n", strings.TrimSpace(c.FQDN+" "+c.Hostname))},
		{Path: "passwd", Mode: 0o644, Content: passwd},
		{Path: "group", Mode: 0o644, Content: group},
		// Root has no password unless cloud-config gives a hash: consoles
		// need berth.autologin, ssh needs a key.
		{Path: "shadow", Mode: 0o600, Content: shadow},
		{Path: "shells", Mode: 0o644, Content: "/bin/sh\n/bin/ash\n"},
		{Path: "os-release", Mode: 0o644, Content: fmt.Sprintf("NAME=Berth\nID=berth\nVERSION_ID=%s\nPRETTY_NAME=\"Berth %s\"\nHOME_URL=\"https://github.com/berth-os/berth\"\n", c.Version, c.Version)},
		{Path: "motd", Mode: 0o644, Content: fmt.Sprintf("Berth %s: an immutable container host. Manage it with hostctl.\n", c.Version)},
		// The docker service's CLI (copied to the state partition by
		// berth-dockerd) and socket.
		{Path: "profile", Mode: 0o644, Content: "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" + DockerCLIDir + "\n. /" + ProfileFile + "\nexport PS1='\\h:\\w\\$ '\numask 022\n"},
		{Path: strings.TrimPrefix(ProfileFile, "etc/"), Mode: 0o644, Content: Profile(c)},
		{Path: "nsswitch.conf", Mode: 0o644, Content: "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n"},
		{Path: "machine-id", Mode: 0o444, Content: c.MachineID + "\n"},
		{Path: "mtab", Link: "../proc/self/mounts"},
		{Path: "resolv.conf", Link: c.ResolvConf},
		{Path: "ssh/sshd_config", Mode: 0o644, Content: sshdConfig(c)},
		{Path: "containerd/config.toml", Mode: 0o644, Content: UserContainerdConfig},
		{Path: timesync.ConfigFile, Mode: 0o644, Content: c.NTP.Render()},
	}
	proxy := "# Rendered by Berth from berth.proxy: the proxy of image pulls and of the services that fetch.\n"
	for _, l := range c.ProxyEnv {
		proxy += l + "\n"
	}
	fs = append(fs, File{Path: ProxyEnvFile, Mode: 0o644, Content: proxy})
	fs = append(fs, File{Path: ContainerdSettingsFile, Mode: 0o644, Content: fmt.Sprintf(
		"# Rendered by Berth from berth.containerd: the user containerd's settings, read at its start.\nON_DEMAND=%t\n", !c.ContainerdAtBoot)})
	fs = append(fs, File{Path: DockerConfigFile, Mode: 0o644, Content: DockerConfig(c.RegistryMirrors)})
	for p, content := range images.HostsFiles(c.RegistryMirrors) {
		fs = append(fs, File{Path: certsDir + "/" + p, Mode: 0o644, Content: content})
	}
	for name, key := range c.SSHHostKeys {
		mode := os.FileMode(0o600)
		if strings.HasSuffix(name, ".pub") {
			mode = 0o644
		}
		fs = append(fs, File{Path: HostKeysDir + "/" + filepath.Base(name), Mode: mode, Content: strings.TrimSpace(key) + "\n"})
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].Path < fs[j].Path })
	return fs
}

func sshdConfig(c Config) string {
	port := c.SSHPort
	if port == 0 {
		port = 22
	}
	listen := ""
	if c.SSHListen != "" {
		listen = "ListenAddress " + c.SSHListen + "\n"
	}
	pw, root := "no", "prohibit-password"
	if c.SSHPasswords {
		pw, root = "yes", "yes"
	}
	types := c.SSHKeyTypes
	if len(types) == 0 {
		types = layout.SSHHostKeyTypes()
	}
	var hostKeys strings.Builder
	for _, t := range types {
		fmt.Fprintf(&hostKeys, "HostKey %s/ssh_host_%s_key\n", c.SSHKeyDir, t)
	}
	return fmt.Sprintf(`# Rendered by Berth at boot. By default keys only: no passwords, no keyboard-interactive.
Port %[2]d
%[3]s%[6]sPermitRootLogin %[5]s
PubkeyAuthentication yes
PasswordAuthentication %[4]s
KbdInteractiveAuthentication no
PermitEmptyPasswords no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
PrintMotd no
X11Forwarding no
AllowAgentForwarding yes
ClientAliveInterval 60
Subsystem sftp /usr/lib/openssh/sftp-server
`, c.SSHKeyDir, port, listen, pw, root, hostKeys.String())
}

// The plugins neither containerd uses. The binary has none of them (NRI,
// erofs and blockfile by tools/containerd's plugin list; CRI, devmapper,
// btrfs, zfs and the tracing exporter by build/gobin's tags): the list
// keeps them off should a build of containerd's whole list come back.
const disabledPlugins = `disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.differ.v1.erofs",
]`

// SystemContainerdConfig is the system containerd's slim config: no CRI,
// no NRI, no tracing; its store on the state partition, and its state,
// socket and shims' sockets in a folder that only PID 1 and the host root
// see (layout.SystemContainerdDir), so that no user ctr reaches it.
var SystemContainerdConfig = `# Rendered by Berth at boot: the system containerd, PID 1's, which runs
# Berth's own services. Users' containers run on the user containerd
# (config.toml), whose socket is /run/containerd/containerd.sock.
version = 4
root = "` + layout.SystemContainerdRoot + `"
# Last but PID 1 for the OOM killer: a runaway service dies first.
oom_score = -999
state = "` + layout.SystemContainerdDir + `"
` + disabledPlugins + `

# Its sockets: gRPC, and TTRPC beside it, where the shims send events (a
# version 4 config derives nothing from the gRPC address: TTRPC would take
# the user containerd's default).
[plugins."io.containerd.server.v1.grpc"]
  address = "` + layout.SystemContainerdSocket + `"
[plugins."io.containerd.server.v1.ttrpc"]
  address = "` + layout.SystemContainerdSocket + `.ttrpc"

# The shims' sockets would go to /run/containerd/s, the user side's.
[plugins."io.containerd.shim.v1.manager"]
  socket_dir = "` + layout.SystemContainerdDir + `/s"

[debug]
  level = "warn"
`

// UserContainerdConfig is the config of the user containerd (the
// containerd service), where ctr and docker find it: the standard socket
// and state folder, its store on the state partition. No CRI: ctr and
// docker do not use it, and k3s brings its own containerd. Registry hosts
// (mirrors, CAs) are read from /etc/containerd/certs.d, as on any host.
var UserContainerdConfig = `# Rendered by Berth at boot: the user containerd (the containerd service),
# which ctr and docker reach at /run/containerd/containerd.sock. Berth's own
# services run on the system containerd (/run/system-containerd), out of its reach.
version = 4
root = "` + layout.UserContainerdRoot + `"
# Above the system containerd (-999) and the system services (-900), below
# the console (-500) and users' containers (0): when it dies, the service
# stops and its containers with it.
oom_score = -800
state = "` + layout.UserContainerdDir + `"
` + disabledPlugins + `

[plugins."io.containerd.server.v1.grpc"]
  address = "` + layout.UserContainerdDir + `/containerd.sock"
[plugins."io.containerd.server.v1.ttrpc"]
  address = "` + layout.UserContainerdDir + `/containerd.sock.ttrpc"

[plugins."io.containerd.transfer.v1.local"]
  config_path = "/etc/containerd/certs.d"

[debug]
  level = "warn"
`

// writer puts one file in place. Each write replaces the file in one
// rename, so a reader (sshd, a login, a service starting) finds the old
// file or the new one, never none; tests put a failing writer here to
// show that no file goes before its replacement is in place.
type writer interface {
	WriteFile(path string, data []byte, mode os.FileMode) error
	Symlink(target, path string) error
}

// atomicWriter writes through atomicfile: temp file, fsync, rename.
type atomicWriter struct{}

func (atomicWriter) WriteFile(path string, data []byte, mode os.FileMode) error {
	return atomicfile.Write(path, data, mode)
}

func (atomicWriter) Symlink(target, path string) error { return atomicfile.Symlink(target, path) }

// Render fills dir from the template (at boot: an empty tmpfs) and writes
// the generated files over it. A file is only ever replaced, never removed
// and written again; files that should go (host keys no longer in config)
// are removed once every new file is in place.
func Render(dir, template string, c Config) error {
	return render(dir, template, c, atomicWriter{})
}

func render(dir, template string, c Config, w writer) error {
	if template != "" {
		if err := copyTree(template, dir, w); err != nil {
			return fmt.Errorf("render /etc: copy template: %w", err)
		}
	}
	keys := map[string]bool{}
	for _, f := range Files(c) {
		p := filepath.Join(dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("render /etc/%s: %w", f.Path, err)
		}
		var err error
		if f.Link != "" {
			err = w.Symlink(f.Link, p)
		} else {
			err = w.WriteFile(p, []byte(f.Content), f.Mode)
		}
		if err != nil {
			return fmt.Errorf("render /etc/%s: %w", f.Path, err)
		}
		if filepath.Dir(f.Path) == HostKeysDir {
			keys[filepath.Base(f.Path)] = true
		}
	}
	// The new set is complete: host keys and registries no longer in
	// config go.
	if err := images.RemoveOtherHosts(filepath.Join(dir, certsDir), c.RegistryMirrors); err != nil {
		return fmt.Errorf("render /etc: %w", err)
	}
	return removeOthers(filepath.Join(dir, HostKeysDir), keys)
}

// removeOthers removes what dir holds besides keep.
func removeOthers(dir string, keep map[string]bool) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("render /etc: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if !keep[e.Name()] {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, fmt.Errorf("render /etc: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// copyTree copies the template's folders, files and links into dst, each
// file replaced in place.
func copyTree(src, dst string, w writer) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return w.Symlink(l, target)
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return w.WriteFile(target, b, info.Mode().Perm())
		}
		return nil
	})
}

// MachineID returns the persistent machine id stored at path, making one
// (128 random bits, hex) on first boot.
func MachineID(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		id := strings.TrimSpace(string(b))
		if len(id) == 32 {
			return id, nil
		}
	}
	// A machine id need not be secret: do not wait for the kernel's
	// entropy pool, which under emulation takes a second or more.
	b := make([]byte, 16)
	if _, err := unix.Getrandom(b, unix.GRND_INSECURE); err != nil {
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
	}
	id := hex.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return id, err
	}
	return id, atomicfile.Write(path, []byte(id+"\n"), 0o444)
}
