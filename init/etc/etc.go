// Package etc renders /etc. On Berth /etc is a tmpfs made again at every
// boot: a template from the image (/usr/share/berth/etc) with the files
// generated from config written over it, so nothing in /etc drifts.
package etc

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berth-os/berth/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// Config is what the generated files are made from.
type Config struct {
	Hostname  string
	MachineID string
	Version   string // Berth version
	// ResolvConf is where the network service writes resolv.conf.
	ResolvConf string
	// SSHKeyDir holds the persistent host keys.
	SSHKeyDir string
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
	fs := []File{
		{Path: "hostname", Mode: 0o644, Content: c.Hostname + "\n"},
		{Path: "hosts", Mode: 0o644, Content: fmt.Sprintf("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n", c.Hostname)},
		{Path: "passwd", Mode: 0o644, Content: "root:x:0:0:root:/root:/bin/sh\n" +
			"sshd:x:100:65534:sshd privilege separation:/run/sshd:/usr/sbin/nologin\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
		{Path: "group", Mode: 0o644, Content: "root:x:0:\ntty:x:5:\ndisk:x:6:\nlp:x:7:\nkmem:x:15:\ndialout:x:20:\ncdrom:x:24:\nfloppy:x:25:\ntape:x:26:\naudio:x:29:\nvideo:x:44:\nutmp:x:43:\ninput:x:101:\nkvm:x:102:\nrender:x:103:\nsgx:x:106:\nnogroup:x:65534:\n"},
		// Root has no password: consoles need berth.autologin or keys (cloud-config).
		{Path: "shadow", Mode: 0o600, Content: "root:*:19000:0:99999:7:::\nsshd:!:19000::::::\nnobody:!:19000::::::\n"},
		{Path: "shells", Mode: 0o644, Content: "/bin/sh\n/bin/ash\n"},
		{Path: "os-release", Mode: 0o644, Content: fmt.Sprintf("NAME=Berth\nID=berth\nVERSION_ID=%s\nPRETTY_NAME=\"Berth %s\"\nHOME_URL=\"https://github.com/berth-os/berth\"\n", c.Version, c.Version)},
		{Path: "motd", Mode: 0o644, Content: fmt.Sprintf("Berth %s: an immutable container host. Manage it with hostctl.\n", c.Version)},
		{Path: "profile", Mode: 0o644, Content: "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nexport PS1='\\h:\\w\\$ '\numask 022\n"},
		{Path: "nsswitch.conf", Mode: 0o644, Content: "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n"},
		{Path: "machine-id", Mode: 0o444, Content: c.MachineID + "\n"},
		{Path: "mtab", Link: "../proc/self/mounts"},
		{Path: "resolv.conf", Link: c.ResolvConf},
		{Path: "ssh/sshd_config", Mode: 0o644, Content: sshdConfig(c.SSHKeyDir)},
		{Path: "containerd/config.toml", Mode: 0o644, Content: containerdConfig},
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].Path < fs[j].Path })
	return fs
}

func sshdConfig(keyDir string) string {
	return fmt.Sprintf(`# Rendered by Berth at boot. Keys only: no passwords, no keyboard-interactive.
Port 22
HostKey %[1]s/ssh_host_ed25519_key
HostKey %[1]s/ssh_host_ecdsa_key
HostKey %[1]s/ssh_host_rsa_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
PrintMotd no
X11Forwarding no
AllowAgentForwarding yes
ClientAliveInterval 60
Subsystem sftp /usr/lib/openssh/sftp-server
`, keyDir)
}

// containerdConfig is the system containerd's slim config: no CRI, no NRI,
// no tracing; its state on the state partition.
const containerdConfig = `# Rendered by Berth at boot: the system containerd.
version = 3
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.differ.v1.erofs",
]

[grpc]
  address = "/run/containerd/containerd.sock"

[debug]
  level = "warn"
`

// Render fills dir (an empty tmpfs) from the template and the generated files.
func Render(dir, template string, c Config) error {
	if template != "" {
		if err := copyTree(template, dir); err != nil {
			return fmt.Errorf("render /etc: copy template: %w", err)
		}
	}
	for _, f := range Files(c) {
		p := filepath.Join(dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		os.Remove(p)
		if f.Link != "" {
			if err := os.Symlink(f.Link, p); err != nil {
				return fmt.Errorf("render /etc/%s: %w", f.Path, err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(f.Content), f.Mode); err != nil {
			return fmt.Errorf("render /etc/%s: %w", f.Path, err)
		}
		if err := os.Chmod(p, f.Mode); err != nil {
			return err
		}
	}
	return nil
}

func copyTree(src, dst string) error {
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
			os.Remove(target)
			return os.Symlink(l, target)
		case d.Type().IsRegular():
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, in); err != nil {
				out.Close()
				return err
			}
			return out.Close()
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
