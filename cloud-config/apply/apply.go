// Package apply puts a host configuration into effect: files, keys,
// kernel settings, mounts and commands. Paths are rooted in Applier.Root
// and privileged calls go through the Host seam, so the logic is tested
// without root; PID 1 runs it with Root "/" and the real Host.
package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/berth-os/berth/internal/strictyaml"
	"github.com/berth-os/berth/sysctl"
)

// Host performs what needs privileges.
type Host interface {
	Sethostname(name string) error
	Modprobe(module string, params []string) error
	Mount(source, target, fstype, options string) error
	// Run runs a command (argv, or a shell line through sh -c) with its
	// output going to out.
	Run(ctx context.Context, c cloudconfig.Command, env []string, out io.Writer) error
	Chown(path string, uid, gid int) error
	// Swapon turns on the swap file at path.
	Swapon(path string) error
}

// Applier applies configuration under Root.
type Applier struct {
	Root string
	Host Host
	// ProcSys is the sysctl root, /proc/sys on a host.
	ProcSys string
	Out     io.Writer // command output and notes
	// CommandTimeout bounds each command Commands runs (0: none); one that
	// runs longer is killed and reported. PID 1 gives bootcmd
	// BootcmdTimeout, since boot waits for it.
	CommandTimeout time.Duration
}

// BootcmdTimeout is how long each bootcmd entry may run before it is
// killed: boot waits for bootcmd, and no getty runs yet. cloud-config has
// no key for it.
const BootcmdTimeout = 5 * time.Minute

func (a *Applier) path(p string) string { return filepath.Join(a.Root, p) }

// Home is a user's home folder.
func Home(u cloudconfig.User) string {
	if u.Homedir != "" {
		return u.Homedir
	}
	if u.Name == "root" {
		return "/root"
	}
	return "/home/" + u.Name
}

// AuthorizedKeys makes sure each user's keys (root's: rootKeys) are in its
// ~/.ssh/authorized_keys, keeping lines already there (a key added by hand
// stays; a key from config is never lost to a typo elsewhere). ids are the
// users' ids (AssignIDs).
func (a *Applier) AuthorizedKeys(rootKeys []string, users []cloudconfig.User, ids IDs) error {
	var errs []error
	if len(rootKeys) > 0 {
		errs = append(errs, a.addKeys("/root", 0, 0, rootKeys))
	}
	for _, u := range users {
		home := Home(u)
		uid, gid := ids.Owner(u.Name)
		d, err := atomicfile.MkdirIn(a.Root, home, 0o755)
		if err != nil {
			errs = append(errs, fmt.Errorf("users: %s: %w", u.Name, err))
			continue
		}
		d.Close()
		a.Host.Chown(a.path(home), uid, gid)
		if len(u.SSHAuthorizedKeys) > 0 {
			errs = append(errs, a.addKeys(home, uid, gid, u.SSHAuthorizedKeys))
		}
	}
	return errors.Join(errs...)
}

func (a *Applier) addKeys(home string, uid, gid int, keys []string) error {
	// The user owns home and may have put links in it: nothing on the way
	// to authorized_keys is followed (atomicfile's ...In functions).
	rel := filepath.Join(home, ".ssh", "authorized_keys")
	d, err := atomicfile.MkdirIn(a.Root, filepath.Dir(rel), 0o700)
	if err != nil {
		return fmt.Errorf("authorized keys: %w", err)
	}
	d.Close()
	dir, file := a.path(filepath.Dir(rel)), a.path(rel)
	old, err := atomicfile.ReadIn(a.Root, rel)
	if err != nil {
		return fmt.Errorf("authorized keys: %w", err)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(old), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			have[keyBody(l)] = true
		}
	}
	out := string(old)
	if out != "" && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	added := 0
	for _, k := range keys {
		if k = strings.TrimSpace(k); !have[keyBody(k)] {
			out += k + "\n"
			have[keyBody(k)] = true
			added++
		}
	}
	if added == 0 && len(old) > 0 {
		return nil
	}
	if err := atomicfile.WriteIn(a.Root, rel, []byte(out), 0o600, 0o700, -1, -1); err != nil {
		return err
	}
	a.Host.Chown(dir, uid, gid)
	a.Host.Chown(file, uid, gid)
	return nil
}

// keyBody is a key's type and data, without options or comment.
func keyBody(line string) string {
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if strings.HasPrefix(f[i], "ssh-") || strings.HasPrefix(f[i], "ecdsa-") || strings.HasPrefix(f[i], "sk-") {
			return f[i] + " " + f[i+1]
		}
	}
	return line
}

// WriteFiles writes the write_files entries whose defer flag is deferred;
// an owner names a user or group of ids (AssignIDs), or a number.
func (a *Applier) WriteFiles(files []cloudconfig.WriteFile, deferred bool, ids IDs) error {
	var errs []error
	for i, f := range files {
		if f.Defer != deferred {
			continue
		}
		data, err := cloudconfig.DecodeContent(f.Content, f.Encoding)
		if err != nil {
			errs = append(errs, fmt.Errorf("write_files[%d] %s: %w", i, f.Path, err))
			continue
		}
		mode := os.FileMode(f.Permissions)
		if mode == 0 {
			mode = 0o644
		}
		// No link on the way is followed: a path under a user's home must
		// not let that user point root's write elsewhere.
		p := a.path(f.Path)
		if f.Append {
			old, err := atomicfile.ReadIn(a.Root, f.Path)
			if err != nil {
				errs = append(errs, fmt.Errorf("write_files[%d] %s: %w", i, f.Path, err))
				continue
			}
			data = append(old, data...)
		}
		if err := atomicfile.WriteIn(a.Root, f.Path, data, mode, 0o755, -1, -1); err != nil {
			errs = append(errs, fmt.Errorf("write_files[%d]: %w", i, err))
			continue
		}
		if f.Owner != "" {
			uid, gid, err := owner(f.Owner, ids)
			if err != nil {
				errs = append(errs, fmt.Errorf("write_files[%d] %s: %w", i, f.Path, err))
				continue
			}
			a.Host.Chown(p, uid, gid)
		}
	}
	return errors.Join(errs...)
}

// owner is the uid and gid of write_files' owner: "user" (and its own
// group) or "user:group", each a name or a number.
func owner(s string, ids IDs) (int, int, error) {
	u, g, _ := strings.Cut(s, ":")
	number := func(name string) (int, bool) {
		n, err := strconv.Atoi(name)
		return n, err == nil && n >= 0
	}
	uid, gid, ok := 0, 0, true
	switch id, known := ids.Users[u]; {
	case u == "root":
	case known:
		uid, gid = id.UID, id.GID
	default:
		uid, ok = number(u)
		gid = uid
	}
	if !ok {
		return 0, 0, fmt.Errorf("owner %q: no such user", s)
	}
	if g == "" {
		return uid, gid, nil
	}
	switch id, known := ids.Users[g]; {
	case g == "root":
		gid = 0
	case known:
		gid = id.GID
	default:
		if gid, ok = ids.Groups[g]; !ok {
			gid, ok = number(g)
		}
	}
	if !ok {
		return 0, 0, fmt.Errorf("owner %q: no such group", s)
	}
	return uid, gid, nil
}

// Sysctl applies berth.sysctl, in key order. A value the kernel refuses
// (validation checked its name and shape, not its range) is an error that
// names its key, as hostctl config status shows it.
func (a *Applier) Sysctl(settings map[string]string) error {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		if err := sysctl.Write(a.ProcSys, k, settings[k]); err != nil {
			errs = append(errs, fmt.Errorf("%s = %s: the kernel refused it: %w", strictyaml.Join("berth.sysctl", k), settings[k], err))
		}
	}
	return errors.Join(errs...)
}

// Modules loads berth.modules ("name param=value...").
func (a *Applier) Modules(mods []string) error {
	var errs []error
	for _, m := range mods {
		f := strings.Fields(m)
		if err := a.Host.Modprobe(f[0], f[1:]); err != nil {
			errs = append(errs, fmt.Errorf("modprobe %s: %w", f[0], err))
		}
	}
	return errors.Join(errs...)
}

// Timezone points /etc/localtime at the zone (UTC when tz is empty).
func (a *Applier) Timezone(tz string) error {
	if tz == "" {
		tz = "UTC"
	}
	zone := filepath.Join("/usr/share/zoneinfo", tz)
	if _, err := os.Stat(a.path(zone)); err != nil {
		return fmt.Errorf("timezone %s: not in /usr/share/zoneinfo", tz)
	}
	// Replaced in one rename: /etc/localtime is never missing.
	if err := atomicfile.Symlink(zone, a.path("/etc/localtime")); err != nil {
		return fmt.Errorf("timezone %s: %w", tz, err)
	}
	return atomicfile.Write(a.path("/etc/timezone"), []byte(tz+"\n"), 0o644)
}

// CACerts adds trusted certificates to /etc/ssl/certs/ca-certificates.crt
// (after the image's bundle, unless remove_defaults).
func (a *Applier) CACerts(c *cloudconfig.CACerts) error {
	if c == nil {
		return nil
	}
	bundle := a.path("/etc/ssl/certs/ca-certificates.crt")
	var out []byte
	if !c.RemoveDefaults {
		out, _ = os.ReadFile(a.path("/usr/share/berth/ca-certificates.crt"))
	}
	for i, pem := range c.Trusted {
		p := a.path(fmt.Sprintf("/etc/ssl/certs/berth-%d.pem", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := atomicfile.Write(p, []byte(strings.TrimSpace(pem)+"\n"), 0o644); err != nil {
			return err
		}
		out = append(out, []byte(strings.TrimSpace(pem)+"\n")...)
	}
	if err := os.MkdirAll(filepath.Dir(bundle), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(bundle, out, 0o644)
}

// Mounts mounts the mounts entries; a failing entry is reported and the
// others go on ("nofail" in spirit: a missing disk must not stop boot).
func (a *Applier) Mounts(mounts [][]string) error {
	var errs []error
	for i, m := range mounts {
		dev, target := m[0], m[1]
		if target == "none" || target == "swap" {
			continue
		}
		fstype, opts := "auto", "defaults"
		if len(m) > 2 && m[2] != "" {
			fstype = m[2]
		}
		if len(m) > 3 && m[3] != "" {
			opts = m[3]
		}
		if err := os.MkdirAll(a.path(target), 0o755); err != nil {
			errs = append(errs, fmt.Errorf("mounts[%d]: %w", i, err))
			continue
		}
		if err := a.Host.Mount(dev, a.path(target), fstype, opts); err != nil {
			errs = append(errs, fmt.Errorf("mounts[%d]: mount %s on %s: %w", i, dev, target, err))
		}
	}
	return errors.Join(errs...)
}

// Commands runs bootcmd or runcmd entries in order, each for
// CommandTimeout at most; a failing one is reported and the next runs.
func (a *Applier) Commands(ctx context.Context, what string, cmds []cloudconfig.Command, env []string) error {
	var errs []error
	for i, c := range cmds {
		fmt.Fprintf(a.Out, "%s[%d]: %s\n", what, i, c)
		cctx, cancel := ctx, context.CancelFunc(func() {})
		if a.CommandTimeout > 0 {
			cctx, cancel = context.WithTimeoutCause(ctx, a.CommandTimeout, fmt.Errorf("ran longer than %s", a.CommandTimeout))
		}
		err := a.Host.Run(cctx, c, env, a.Out)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d] (%s): %w", what, i, c, err))
			fmt.Fprintf(a.Out, "%s[%d]: %v\n", what, i, err)
		}
	}
	return errors.Join(errs...)
}

// Once runs fn the first time it is called for an instance and name, and
// records that under the state partition, so that runcmd and user-data
// scripts run once per instance.
func (a *Applier) Once(instance, name string, fn func() error) (ran bool, err error) {
	marker := a.path(filepath.Join("/var/lib/berth/config/instances", safe(instance), safe(name)+".done"))
	if _, err := os.Stat(marker); err == nil {
		return false, nil
	}
	err = fn()
	if mkErr := os.MkdirAll(filepath.Dir(marker), 0o755); mkErr != nil {
		return true, errors.Join(err, mkErr)
	}
	// Recorded even when it failed: a failing runcmd is reported, not retried
	// at every boot.
	status := "ok\n"
	if err != nil {
		status = err.Error() + "\n"
	}
	return true, errors.Join(err, atomicfile.Write(marker, []byte(status), 0o644))
}

func safe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == 0 || r == '\\' {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		return "_"
	}
	return s
}
