package cloudconfig

import (
	"bytes"
	"compress/gzip"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/berth-os/berth/internal/pattern"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/berth-os/berth/cloud-config/datasource"
	"github.com/berth-os/berth/internal/blockdev"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/netconfig"
	"github.com/berth-os/berth/internal/strictyaml"
	"github.com/berth-os/berth/internal/timesync"
	"github.com/berth-os/berth/sysctl"
)

var (
	hostLabelRe = pattern.New(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	userRe      = pattern.New(`^[a-z_][a-z0-9_-]{0,31}$`)
	hashRe      = pattern.New(`^(\$(1|2[abxy]?|5|6|y|gy|7)\$\S+|[!*]\S*)$`)
	moduleRe    = pattern.New(`^[A-Za-z0-9_-]+( [A-Za-z0-9_.-]+=\S+)*$`)
	tzRe        = pattern.New(`^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$`)
	envRe       = pattern.New(`^[A-Za-z_][A-Za-z0-9_]*$`)
	serviceRe   = pattern.New(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// readOnlyPrefixes are paths on the read-only root, where write_files and
// mounts cannot write.
var readOnlyPrefixes = []string{"/usr", "/bin", "/sbin", "/lib", "/lib64"}

// Validate checks every field of c and returns every problem at once, each
// with its path and (through dc) its line.
func Validate(c *Config, dc *strictyaml.Decoder) error {
	v := &validator{dc: dc}
	v.config(c)
	return v.errs.Err()
}

type validator struct {
	dc   *strictyaml.Decoder
	errs strictyaml.Errors
}

func (v *validator) bad(path, format string, args ...any) {
	v.errs = append(v.errs, v.dc.Error(path, format, args...))
}

func (v *validator) config(c *Config) {
	if c.Hostname != "" && !validHostname(c.Hostname, false) {
		v.bad("hostname", "%q is not a host name (letters, digits and dashes, 63 at most)", c.Hostname)
	}
	if c.FQDN != "" && !validHostname(c.FQDN, true) {
		v.bad("fqdn", "%q is not a fully qualified domain name", c.FQDN)
	}
	seen := map[string]bool{}
	uids := map[int]int{} // uid -> index of the first user given it
	for i, u := range c.Users {
		p := fmt.Sprintf("users[%d]", i)
		switch {
		case u.Name == "":
			v.bad(p+".name", "missing")
		case !userRe.MatchString(u.Name):
			v.bad(p+".name", "%q is not a user name (lowercase letters, digits, _ and -, 32 at most)", u.Name)
		case seen[u.Name]:
			v.bad(p+".name", "user %s is listed twice", u.Name)
		}
		seen[u.Name] = true
		for j, g := range u.Groups {
			if !userRe.MatchString(g) {
				v.bad(fmt.Sprintf("%s.groups[%d]", p, j), "%q is not a group name", g)
			}
		}
		// Each of these is a field of /etc/passwd: a colon or a line break
		// would add fields or whole lines (another root) to it. (A shell
		// Berth lacks is /bin/sh by then, with a warning.)
		for _, f := range []struct{ key, val string }{{"gecos", u.Gecos}, {"homedir", u.Homedir}} {
			if strings.ContainsFunc(f.val, func(r rune) bool { return r == ':' || unicode.IsControl(r) }) {
				v.bad(p+"."+f.key, "%q holds a colon or a control character, which /etc/passwd cannot hold", f.val)
			}
		}
		if u.Shell != "" && !path.IsAbs(u.Shell) {
			v.bad(p+".shell", "expected an absolute path, got %q", u.Shell)
		}
		if u.Homedir != "" && !path.IsAbs(u.Homedir) {
			v.bad(p+".homedir", "expected an absolute path, got %q", u.Homedir)
		}
		switch {
		case u.UID == nil:
		case *u.UID < 0 || *u.UID > 65533:
			v.bad(p+".uid", "expected 0 to 65533, got %d", *u.UID)
		case u.Name == "root" && *u.UID != 0:
			v.bad(p+".uid", "root's uid is 0, got %d", *u.UID)
		default:
			// Two users with one uid would own each other's files.
			if j, ok := uids[*u.UID]; ok {
				v.bad(p+".uid", "uid %d is users[%d]'s (%s) too: expected a uid of its own", *u.UID, j, c.Users[j].Name)
			} else {
				uids[*u.UID] = i
			}
		}
		switch {
		case u.Passwd == "":
		case strings.Contains(u.Passwd, ":"):
			// A field of /etc/shadow: a colon would set the next fields.
			v.bad(p+".passwd", "holds a colon, which /etc/shadow cannot hold (expected a crypt(3) hash such as $6$...)")
		case !hashRe.MatchString(u.Passwd):
			v.bad(p+".passwd", "expected a crypt(3) hash such as $6$..., not a plain password")
		}
		v.keys(p+".ssh_authorized_keys", u.SSHAuthorizedKeys)
	}
	v.keys("ssh_authorized_keys", c.SSHAuthorizedKeys)
	for i, f := range c.WriteFiles {
		v.writeFile(fmt.Sprintf("write_files[%d]", i), f)
	}
	for i, cmd := range c.Bootcmd {
		v.command(fmt.Sprintf("bootcmd[%d]", i), cmd)
	}
	for i, cmd := range c.Runcmd {
		v.command(fmt.Sprintf("runcmd[%d]", i), cmd)
	}
	if c.NTP != nil {
		v.ntpSources("ntp.servers", c.NTP.Servers)
		v.ntpSources("ntp.pools", c.NTP.Pools)
	}
	if c.Timezone != "" && (!tzRe.MatchString(c.Timezone) || strings.Contains(c.Timezone, "..")) {
		v.bad("timezone", "%q is not a time zone name such as Europe/Paris or UTC", c.Timezone)
	}
	for i, m := range c.Mounts {
		p := fmt.Sprintf("mounts[%d]", i)
		switch {
		case len(m) < 2 || len(m) > 6:
			v.bad(p, "expected [device, mount point, type, options, dump, pass] with at least two entries")
		case badDeviceSpec(m[0]) != nil:
			v.bad(p+"[0]", "%v", badDeviceSpec(m[0]))
		case !path.IsAbs(m[1]) && m[1] != "none" && m[1] != "swap":
			v.bad(p+"[1]", "expected an absolute mount point, got %q", m[1])
		case underReadOnly(m[1]):
			v.bad(p+"[1]", "%s is on Berth's read-only root; mount under /var, /mnt, /opt, /home or /media", m[1])
		}
	}
	if c.Swap != nil && c.Swap.Filename != "" {
		switch f := c.Swap.Filename; {
		case !path.IsAbs(f):
			v.bad("swap.filename", "expected an absolute path, got %q", f)
		case !strings.HasPrefix(path.Clean(f), "/var/"):
			v.bad("swap.filename", "%s is not on the state partition; Berth's root is read-only: use a path under /var, such as /var/swap.img", f)
		}
	}
	if c.CACerts != nil {
		for i, pemText := range c.CACerts.Trusted {
			if err := validCert(pemText); err != nil {
				v.bad(fmt.Sprintf("ca_certs.trusted[%d]", i), "%v", err)
			}
		}
	}
	if c.Growpart != nil {
		switch c.Growpart.Mode {
		case "", "auto", "growpart", "off", "false":
		default:
			v.bad("growpart.mode", "expected auto, growpart or off, got %q", c.Growpart.Mode)
		}
		for i, d := range c.Growpart.Devices {
			if d != "/" && d != "/var" {
				v.bad(fmt.Sprintf("growpart.devices[%d]", i), "expected / or /var (both are the state partition, the one that grows), got %q", d)
			}
		}
	}
	if c.PowerState != nil {
		switch c.PowerState.Mode {
		case "poweroff", "reboot", "halt":
		default:
			v.bad("power_state.mode", "expected poweroff, reboot or halt, got %q", c.PowerState.Mode)
		}
		if d := c.PowerState.Delay; d != "" && d != "now" && !regexp.MustCompile(`^\+?[0-9]+$`).MatchString(d) {
			v.bad("power_state.delay", "expected now, or minutes such as +5, got %q", d)
		}
	}
	v.sshKeys(c.SSHKeys)
	if c.SSHGenkeytypes != nil && len(c.SSHGenkeytypes) == 0 {
		v.bad("ssh_genkeytypes", "expected at least one of ecdsa, ed25519 and rsa: sshd needs a host key")
	}
	for i, t := range c.SSHGenkeytypes {
		if _, ok := sshKeyAlgos[t]; !ok {
			v.bad(fmt.Sprintf("ssh_genkeytypes[%d]", i), "expected ecdsa, ed25519 or rsa, got %q", t)
		}
	}
	v.berth(&c.Berth)
}

var sshKeyNameRe = pattern.New(`^(ecdsa|ed25519|rsa)_(public|private)$`)

// sshKeyAlgos are the public key algorithms of each ssh_keys type.
var sshKeyAlgos = map[string][]string{
	"ed25519": {"ssh-ed25519"},
	"ecdsa":   {"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"},
	"rsa":     {"ssh-rsa"},
}

// sshKeys checks ssh_keys: a private key is one PEM private key block, not
// encrypted; a public key is given with its private key and is of its
// type. (The console service, which has ssh-keygen, checks that the pair
// matches when it installs them.)
func (v *validator) sshKeys(keys SSHKeys) {
	for name, text := range keys {
		p := strictyaml.Join("ssh_keys", name)
		m := sshKeyNameRe.FindStringSubmatch(name)
		if m == nil {
			v.bad(p, "expected ecdsa, ed25519 or rsa, then _private or _public, such as ed25519_private")
			continue
		}
		typ := m[1]
		if m[2] == "public" {
			switch {
			case keys[typ+"_private"] == "":
				v.bad(p, "a public host key needs its private key, %s_private", typ)
			case validSSHKey(text) != nil:
				v.bad(p, "not an ssh public key: %v", validSSHKey(text))
			case !slices.Contains(sshKeyAlgos[typ], strings.Fields(text)[0]):
				v.bad(p, "expected a %s key, got %s", typ, strings.Fields(text)[0])
			}
			continue
		}
		b, rest := pem.Decode([]byte(strings.TrimSpace(text)))
		switch {
		case b == nil || !strings.HasSuffix(b.Type, "PRIVATE KEY"):
			v.bad(p, "expected a PEM private key (-----BEGIN OPENSSH PRIVATE KEY-----, as ssh-keygen writes)")
		case len(strings.TrimSpace(string(rest))) > 0:
			v.bad(p, "expected one PEM private key, got more after it")
		case b.Headers["Proc-Type"] != "" || b.Type == "ENCRYPTED PRIVATE KEY" || encryptedOpenSSH(b):
			v.bad(p, "the key has a passphrase; sshd needs host keys without one")
		}
	}
}

// encryptedOpenSSH says whether an OpenSSH private key block has a cipher.
func encryptedOpenSSH(b *pem.Block) bool {
	const magic = "openssh-key-v1\x00"
	if b.Type != "OPENSSH PRIVATE KEY" || len(b.Bytes) < len(magic)+4 || string(b.Bytes[:len(magic)]) != magic {
		return false
	}
	rest := b.Bytes[len(magic):]
	n := binary.BigEndian.Uint32(rest)
	return int(n)+4 <= len(rest) && string(rest[4:4+n]) != "none"
}

func (v *validator) keys(p string, keys []string) {
	for i, k := range keys {
		if err := validSSHKey(k); err != nil {
			v.bad(fmt.Sprintf("%s[%d]", p, i), "not an SSH public key: %v", err)
		}
	}
}

func (v *validator) writeFile(p string, f WriteFile) {
	switch {
	case f.Path == "":
		v.bad(p+".path", "missing")
	case !path.IsAbs(f.Path):
		v.bad(p+".path", "expected an absolute path, got %q", f.Path)
	case path.Clean(f.Path) != f.Path:
		v.bad(p+".path", "expected a clean path, got %q (did you mean %s?)", f.Path, path.Clean(f.Path))
	case underReadOnly(f.Path):
		v.bad(p+".path", "%s is on Berth's read-only root; write under /etc, /var, /opt, /home or /root", f.Path)
	}
	if _, err := DecodeContent(f.Content, f.Encoding); err != nil {
		if strings.HasPrefix(err.Error(), "encoding") {
			v.bad(p+".encoding", "%v", err)
		} else {
			v.bad(p+".content", "%v", err)
		}
	}
	if f.Owner != "" {
		u, g, _ := strings.Cut(f.Owner, ":")
		if !userRe.MatchString(u) || (g != "" && !userRe.MatchString(g)) {
			v.bad(p+".owner", "expected user or user:group, got %q", f.Owner)
		}
	}
}

// DecodeContent decodes write_files content by its encoding.
func DecodeContent(content, encoding string) ([]byte, error) {
	switch strings.ToLower(encoding) {
	case "", "text/plain":
		return []byte(content), nil
	case "b64", "base64":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(content), ""))
		if err != nil {
			return nil, fmt.Errorf("not valid base64: %v", err)
		}
		return b, nil
	case "gz", "gzip":
		return gunzip([]byte(content))
	case "gz+b64", "gzip+base64", "gz+base64", "gzip+b64":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(content), ""))
		if err != nil {
			return nil, fmt.Errorf("not valid base64: %v", err)
		}
		return gunzip(b)
	}
	return nil, fmt.Errorf("encoding %q: expected b64, gzip or gz+b64", encoding)
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not valid gzip: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxUserData))
	if err != nil {
		return nil, fmt.Errorf("not valid gzip: %v", err)
	}
	return out, nil
}

func (v *validator) command(p string, c Command) {
	if c.Argv == nil && strings.TrimSpace(c.Shell) == "" {
		v.bad(p, "empty command")
	}
}

func (v *validator) berth(b *Berth) {
	// berth.network is checked as the network service checks it, so that
	// what validates here is what the service takes.
	if _, err := netconfig.Validate(&b.Network, v.dc, "berth.network"); err != nil {
		var es strictyaml.Errors
		errors.As(err, &es)
		v.errs = append(v.errs, es...)
	}
	// Sysctls are checked against the kernel's table: the name, and that a
	// number goes where the kernel takes numbers.
	kernel := sysctl.Kernel()
	for _, k := range slices.Sorted(maps.Keys(b.Sysctl)) {
		p := strictyaml.Join("berth.sysctl", k)
		if !validSysctl(k) {
			v.bad(p, "%q is not a sysctl name such as net.ipv4.ip_forward", k)
			continue
		}
		if err := kernel.Check(k, string(b.Sysctl[k])); err != nil {
			v.bad(p, "%v", err)
		}
	}
	for i, m := range b.Modules {
		if !moduleRe.MatchString(m) {
			v.bad(fmt.Sprintf("berth.modules[%d]", i), "expected a module name with optional param=value settings, got %q", m)
		}
	}
	for i, s := range b.Services.Enable {
		if !serviceRe.MatchString(s) {
			v.bad(fmt.Sprintf("berth.services.enable[%d]", i), "%q is not a service name", s)
		}
	}
	for i, s := range b.Services.Disable {
		if !serviceRe.MatchString(s) {
			v.bad(fmt.Sprintf("berth.services.disable[%d]", i), "%q is not a service name", s)
		}
	}
	if b.Console != "" && !serviceRe.MatchString(b.Console) {
		v.bad("berth.console", "%q is not a console name such as default or ubuntu", b.Console)
	}
	if d := b.State.Dev; d != "" && !strings.HasPrefix(d, "/dev/") && !strings.HasPrefix(d, "LABEL=") && !strings.HasPrefix(d, "PARTLABEL=") && !strings.HasPrefix(d, "UUID=") {
		v.bad("berth.state.dev", "expected /dev/..., LABEL=, PARTLABEL= or UUID=, got %q", d)
	}
	if p := b.SSH.Port; p != 0 && (p < 1 || p > 65535) {
		v.bad("berth.ssh.port", "expected 1 to 65535, got %d", p)
	}
	if a := b.SSH.ListenAddress; a != "" {
		if _, err := netip.ParseAddr(a); err != nil {
			v.bad("berth.ssh.listen_address", "%q is not an IP address", a)
		}
	}
	for _, reg := range slices.Sorted(maps.Keys(b.RegistryMirrors)) {
		mirrors := b.RegistryMirrors[reg]
		if !validRegistry(reg) {
			v.bad(strictyaml.Join("berth.registry_mirrors", reg), "%q is not a registry host such as docker.io or registry.lan:5000", reg)
		}
		for i, m := range mirrors {
			if !validURL(m, "http", "https") {
				v.bad(fmt.Sprintf("%s[%d]", strictyaml.Join("berth.registry_mirrors", reg), i), "expected an http:// or https:// URL with a host, got %q", m)
			}
		}
	}
	for _, reg := range slices.Sorted(maps.Keys(b.RegistryAuths)) {
		v.registryAuth(strictyaml.Join("berth.registry_auths", reg), reg, b.RegistryAuths[reg])
	}
	for _, f := range []struct{ key, val string }{{"http_proxy", b.Proxy.HTTPProxy}, {"https_proxy", b.Proxy.HTTPSProxy}} {
		if f.val != "" && !validURL(f.val, "http", "https", "socks5") {
			v.bad("berth.proxy."+f.key, "expected an http://, https:// or socks5:// URL with a host, got %q", f.val)
		}
	}
	if np := b.Proxy.NoProxy; np != "" && strings.ContainsFunc(np, unicode.IsControl) {
		v.bad("berth.proxy.no_proxy", "expected a comma-separated list of hosts, domains and CIDRs, got %q", np)
	}
	if u := b.K3s.URL; u != "" && !validURL(u, "https") {
		v.bad("berth.k3s.url", "expected the k3s server's https:// URL with a host (https://server:6443), got %q", u)
	}
	if b.K3s.URL != "" && b.K3s.Token == "" {
		v.bad("berth.k3s.token", "missing: an agent joins its server with the cluster's token (berth.k3s.url is set)")
	}
	if strings.ContainsFunc(b.K3s.Token, unicode.IsControl) {
		v.bad("berth.k3s.token", "expected a token without control characters")
	}
	if in := b.Install; in.Device != "" || in.Wipe || in.Append != "" || in.Then != "" {
		if !strings.HasPrefix(in.Device, "/dev/") || strings.ContainsFunc(in.Device, unicode.IsSpace) {
			v.bad("berth.install.device", "expected the disk to install onto, as /dev/NAME or a /dev/disk/by-* link, got %q", in.Device)
		}
		if err := layout.CheckKernelArgs(in.Append); err != nil {
			v.bad("berth.install.append", "%v", err)
		}
		switch in.Then {
		case "", "poweroff", "reboot", "none":
		default:
			v.bad("berth.install.then", "expected poweroff, reboot or none, got %q", in.Then)
		}
	}
	if r := b.Upgrade.Repository; r != "" {
		if _, err := name.NewRepository(r); err != nil || !strings.Contains(r, "/") || strings.Contains(r, "://") {
			v.bad("berth.upgrade.repository", "expected a registry repository without a tag, such as registry.lan/berth/os, got %q", r)
		}
	}
	if t := b.Upgrade.HealthTimeout; t != "" {
		if d, err := time.ParseDuration(t); err != nil || d < 10*time.Second || d > time.Hour {
			v.bad("berth.upgrade.health_timeout", "expected a duration from 10s to 1h, such as 5m, got %q", t)
		}
	}
	for i, d := range b.CloudInit.Datasources {
		if err := datasource.CheckEntry(d); err != nil {
			v.bad(fmt.Sprintf("berth.cloud_init.datasources[%d]", i), "%v", err)
		}
	}
	for k := range b.Environment {
		if !envRe.MatchString(k) {
			v.bad(strictyaml.Join("berth.environment", k), "%q is not an environment variable name", k)
		}
	}
}

// ntpSources checks ntp.servers or ntp.pools: each a host name or an IP
// address, with a port after a colon when it is not 123 ([IPv6]:PORT).
func (v *validator) ntpSources(field string, entries []string) {
	for i, e := range entries {
		p := fmt.Sprintf("%s[%d]", field, i)
		host, _, err := timesync.SplitHostPort(e)
		switch {
		case err != nil:
			v.bad(p, "%v", err)
		case !validHostname(host, true) && net.ParseIP(host) == nil:
			v.bad(p, "%q is neither a host name nor an IP address (expected HOST or HOST:PORT)", e)
		}
	}
}

// registryAuth checks one entry of berth.registry_auths: a user name and
// password, or Docker's auth string, never both.
func (v *validator) registryAuth(p, reg string, a RegistryAuth) {
	if !validRegistry(reg) {
		v.bad(p, "%q is not a registry host such as docker.io or registry.lan:5000", reg)
	}
	hasUser := a.Username != "" || a.Password != ""
	switch {
	case a.Auth != "" && hasUser:
		v.bad(p, "give username and password, or auth, not both")
	case a.Auth != "":
		b, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil || !bytes.Contains(b, []byte(":")) {
			v.bad(p+".auth", "expected base64 of user:password")
		}
	case !hasUser:
		v.bad(p, "expected username and password, or auth")
	case a.Username == "":
		v.bad(p+".username", "missing (password is set)")
	case a.Password == "":
		v.bad(p+".password", "missing (username is set)")
	}
}

// validRegistry is a registry host, with a port or without.
func validRegistry(reg string) bool {
	host, port, hasPort := strings.Cut(reg, ":")
	if hasPort {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return validHostname(host, true)
}

// validURL is an absolute URL of one of schemes, with a host.
func validURL(s string, schemes ...string) bool {
	u, err := url.Parse(s)
	return err == nil && slices.Contains(schemes, u.Scheme) && u.Host != "" && !strings.ContainsAny(s, "\"\\ ")
}

func validHostname(h string, dots bool) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(strings.TrimSuffix(h, "."), ".")
	if !dots && len(labels) > 1 {
		return false
	}
	for _, l := range labels {
		if !hostLabelRe.MatchString(l) {
			return false
		}
	}
	return true
}

func validSysctl(k string) bool {
	if k == "" || strings.Contains(k, "..") || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") || strings.Contains(k, "/") {
		return false
	}
	for _, r := range k {
		if !(r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func underReadOnly(p string) bool {
	p = path.Clean(p)
	for _, ro := range readOnlyPrefixes {
		if p == ro || strings.HasPrefix(p, ro+"/") {
			return true
		}
	}
	return false
}

// sshKeyTypes are the public key algorithms sshd accepts.
var sshKeyTypes = map[string]bool{
	"ssh-ed25519": true, "ssh-rsa": true, "ecdsa-sha2-nistp256": true, "ecdsa-sha2-nistp384": true,
	"ecdsa-sha2-nistp521": true, "sk-ssh-ed25519@openssh.com": true, "sk-ecdsa-sha2-nistp256@openssh.com": true, "ssh-dss": true,
}

// validSSHKey checks an authorized_keys line: [options] type base64 [comment],
// where the base64 blob decodes and names the same type.
func validSSHKey(line string) error {
	f := strings.Fields(line)
	for len(f) > 0 && !sshKeyTypes[f[0]] {
		f = f[1:] // skip options such as from="..." (no spaces inside)
	}
	if len(f) < 2 {
		return fmt.Errorf("expected a key type such as ssh-ed25519 and a base64 key")
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return fmt.Errorf("the key is not base64")
	}
	if len(blob) < 4 {
		return fmt.Errorf("the key is too short")
	}
	n := binary.BigEndian.Uint32(blob)
	if int(n)+4 > len(blob) || string(blob[4:4+n]) != f[0] {
		return fmt.Errorf("the key data is not a %s key", f[0])
	}
	return nil
}

func validCert(text string) error {
	rest := []byte(text)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("expected PEM CERTIFICATE blocks, got %s", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("not a valid certificate: %v", err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no PEM certificate")
	}
	return nil
}

// badDeviceSpec checks a mount's device where it names one by a tag:
// KEY=value must be LABEL=, UUID= or PARTLABEL=, which Berth can find.
// Anything else (a path, a kernel name, tmpfs, host:/export) is the
// filesystem's to read.
func badDeviceSpec(dev string) error {
	tag, _, ok := strings.Cut(dev, "=")
	if !ok || tag == "" || strings.ToUpper(tag) != tag || strings.ContainsAny(tag, "/:") {
		return nil
	}
	_, err := blockdev.ParseSpec(dev)
	return err
}
