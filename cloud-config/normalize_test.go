package cloudconfig

import (
	"encoding/pem"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/berth-os/berth/internal/layout"
)

func warningsOf(d *Document) []string {
	var out []string
	for _, w := range d.Warnings {
		out = append(out, w.Error())
	}
	return out
}

const hash = "$6$rounds=4096$salt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789./abcdefghijklmnopqrstu"

// The forms cloud-init takes for keys Berth applies become Berth's model.
func TestCloudInitForms(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		check     func(c *Config) string
		warnings  []string
	}{
		{"users as a string", "users: 'default, ops'\n", func(c *Config) string {
			return cmp.Diff([]string{"ops"}, names(c))
		}, []string{"u:2: users[0]: default is root on Berth, which has no distribution user: top-level ssh_authorized_keys are root's; log in as root"}},
		{"users as a map", "users:\n  ops: {gecos: O}\n  dev: {}\n", func(c *Config) string {
			return cmp.Diff([]string{"ops", "dev"}, names(c)) + cmp.Diff("O", c.Users[0].Gecos)
		}, nil},
		{"fqdn without hostname", "fqdn: dev.local\n", func(c *Config) string {
			return cmp.Diff("dev", c.Hostname) + cmp.Diff("dev.local", c.FQDN)
		}, nil},
		{"fqdn with hostname", "fqdn: web.example.com\nhostname: www\n", func(c *Config) string {
			return cmp.Diff("www", c.Hostname)
		}, nil},
		{"a shell Berth lacks", "users:\n  - {name: ops, shell: /bin/bash}\n  - {name: svc, shell: /usr/sbin/nologin}\n", func(c *Config) string {
			return cmp.Diff("/bin/sh", c.Users[0].Shell) + cmp.Diff("/usr/sbin/nologin", c.Users[1].Shell)
		}, []string{"u:3: users[0].shell: /bin/bash is not on Berth: the login shell is /bin/sh (busybox ash); run other shells in a container"}},
		{"a home on the read-only root", "users:\n  - {name: ops, homedir: /local/ops}\n  - {name: dev, homedir: /var/dev}\n", func(c *Config) string {
			return cmp.Diff("", c.Users[0].Homedir) + cmp.Diff("/var/dev", c.Users[1].Homedir)
		}, []string{"u:3: users[0].homedir: ignored: /local/ops is on Berth's read-only root, so the home is /home/ops; give one under /home, /var, /opt or /root"}},
		{"user names and a snapuser", "users:\n  - ops\n  - [a, b]\n  - snapuser: joe@example.com\n", func(c *Config) string {
			return cmp.Diff([]string{"ops", "a", "b"}, names(c))
		}, []string{"u:5: users[3].snapuser: ignored: there is no snapd on Berth, so no snap user is made; give name and ssh_authorized_keys instead"}},
		{"deprecated spellings and hashed_passwd", "users:\n  - name: ops\n    lock-passwd: false\n    hashed_passwd: '" + hash + "'\n    uid: '1500'\n    groups: {docker: null}\n", func(c *Config) string {
			u := c.Users[0]
			return cmp.Diff(hash, u.Passwd) + cmp.Diff(false, *u.LockPasswd) + cmp.Diff(1500, *u.UID) + cmp.Diff(List{"docker"}, u.Groups)
		}, []string{"u:4: users[0].lock-passwd: deprecated spelling, read as users[0].lock_passwd"}},
		{"chpasswd users form", "users: [{name: ops}]\nchpasswd:\n  expire: false\n  users:\n    - {name: ops, password: '" + hash + "'}\n    - {name: root, password: '" + hash + "', type: hash}\n    - {name: ops, password: secret, type: text}\n    - {name: ops, type: RANDOM}\n", func(c *Config) string {
			return cmp.Diff([]string{"ops", "root"}, names(c)) + cmp.Diff(hash, c.Users[0].Passwd) + cmp.Diff(false, *c.Users[0].LockPasswd) + cmp.Diff(hash, c.Users[1].Passwd)
		}, []string{
			"u:8: chpasswd.users[2]: ignored: Berth takes no plain-text passwords (ops's password stays as it is); give a crypt(3) hash (mkpasswd -m sha-512)",
			"u:9: chpasswd.users[3]: ignored: Berth sets no random passwords (ops's password stays as it is); log in with ssh keys",
		}},
		{"chpasswd list form", "chpasswd:\n  list: |\n    root:" + hash + "\n    ubuntu:ubuntu\n", func(c *Config) string {
			return cmp.Diff([]string{"root"}, names(c)) + cmp.Diff(hash, c.Users[0].Passwd)
		}, []string{"u:3: chpasswd.list: ignored: Berth takes no plain-text passwords (ubuntu's password stays as it is); give a crypt(3) hash (mkpasswd -m sha-512)"}},
		{"chpasswd for a user Berth does not make", "chpasswd:\n  users: [{name: ubuntu, password: '" + hash + "'}]\n", func(c *Config) string {
			return cmp.Diff([]string(nil), names(c))
		}, []string{"u:3: chpasswd.users[0]: ignored: user ubuntu is not in users; Berth makes only the users listed there, and root"}},
		{"power_state condition as a string", "power_state: {mode: reboot, condition: '! ( modprobe binder_linux )', delay: 5}\n", func(c *Config) string {
			return cmp.Diff("! ( modprobe binder_linux )", c.PowerState.Condition.Command.Shell) + cmp.Diff("5", c.PowerState.Delay)
		}, nil},
		{"power_state condition as argv", "power_state: {mode: poweroff, condition: [test, -e, /x]}\n", func(c *Config) string {
			return cmp.Diff([]string{"test", "-e", "/x"}, c.PowerState.Condition.Command.Argv)
		}, nil},
		{"power_state condition as a boolean", "power_state: {mode: poweroff, condition: false}\n", func(c *Config) string {
			return cmp.Diff(false, *c.PowerState.Condition.Bool)
		}, nil},
		{"null and empty commands", "runcmd:\n  - []\n  - null\n  - [touch, /x]\n", func(c *Config) string {
			return cmp.Diff(1, len(c.Runcmd))
		}, []string{"u:3: runcmd[0]: ignored: an empty command runs nothing", "u:4: runcmd[1]: ignored: an empty command runs nothing"}},
		{"old spellings of other keys", "ca-certs: {remove-defaults: true}\nresize_rootfs: noblock\ngrowpart: {mode: false}\nssh_pwauth: 'yes'\nmounts:\n  - [/dev/vdb, '', swap, '', 0, 0]\n", func(c *Config) string {
			return cmp.Diff(true, c.CACerts.RemoveDefaults) + cmp.Diff(true, *c.ResizeRootfs) + cmp.Diff("off", c.Growpart.Mode) + cmp.Diff(true, *c.SSHPwauth) + cmp.Diff([]string{"/dev/vdb", "none", "swap", "", "0", "0"}, c.Mounts[0])
		}, []string{"u:2: ca-certs: deprecated spelling, read as ca_certs", "u:2: ca_certs.remove-defaults: deprecated spelling, read as ca_certs.remove_defaults"}},
		{"sub-keys Berth ignores", "ntp: {servers: [ntp.example.com], ntp_client: chrony}\nwrite_files:\n  - {path: /etc/x, source: {uri: 'http://example.com/x'}}\n", func(c *Config) string {
			return cmp.Diff([]string{"ntp.example.com"}, c.NTP.Servers)
		}, []string{"u:2: ntp.ntp_client: ignored: Berth chooses its own time client", "u:4: write_files[0].source: ignored: Berth does not download files at boot; give content"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Parse("u", []byte("#cloud-config\n"+tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if diff := tc.check(&doc.Config); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.warnings, warningsOf(doc)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func names(c *Config) []string {
	var out []string
	for _, u := range c.Users {
		out = append(out, u.Name)
	}
	return out
}

// What cloud-init's schema does not have stays an error, with the key it
// resembles; forms Berth cannot run are refused with the alternative.
func TestCloudInitRefused(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"hashed-password is not a cloud-init key", "#cloud-config\nusers:\n  - name: a\n    hashed-password: x\n", "u:4: users[0].hashed-password: unknown key (did you mean users[0].hashed-passwd?)"},
		{"a misspelt ignored key", "#cloud-config\nssh_import_ids: [gh:me]\n", "u:2: ssh_import_ids: unknown key (did you mean ssh_import_id?)"},
		{"condition of another type", "#cloud-config\npower_state: {mode: reboot, condition: {a: b}}\n", "u:2: power_state.condition: expected true, false, or a command: a string for the shell or a list of arguments"},
		{"jinja", "## template: jinja\n#cloud-config\nhostname: '{{ v1.local_hostname }}'\n", "render the template before you hand it over"},
		{"boothook", "#cloud-boothook\necho hi\n", "put the commands in bootcmd"},
		{"part handler", "#part-handler\ndef list_types(): pass\n", "give #cloud-config and #! script parts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("u", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// #cloud-config-archive is a list of parts: its cloud-config and script
// parts are used; parts of a type nothing handles are warnings.
func TestCloudConfigArchive(t *testing.T) {
	src := "#cloud-config-archive\n- type: text/cloud-config\n  content: |\n    #cloud-config\n    hostname: arch\n- |\n  #!/bin/sh\n  echo hi\n- type: foo/bar\n  filename: x\n  content: payload\n- just text\n"
	doc, err := Parse("u", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Config.Hostname != "arch" || len(doc.Scripts) != 1 {
		t.Errorf("hostname %q, %d scripts", doc.Config.Hostname, len(doc.Scripts))
	}
	want := []string{
		"u x: ignored: a part of type foo/bar has no handler, on Berth as in cloud-init",
		"u part-004: ignored: a part without a type or a #cloud-config or #! first line has no handler, on Berth as in cloud-init",
	}
	if diff := cmp.Diff(want, warningsOf(doc)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if _, err := Parse("u", []byte("#cloud-config-archive\n- {type: text/cloud-config, content: [1]}\n")); err == nil || !strings.Contains(err.Error(), "#cloud-config-archive: part-001 (line 2)") {
		t.Errorf("bad part: got %v", err)
	}
}

// A merged tree whose strings yaml.v3 cannot write and read back as text
// still decodes (FromTree builds the node itself).
func TestFromTreeBlankFirstLine(t *testing.T) {
	tree := map[string]any{"write_files": []any{map[string]any{"path": "/etc/x", "content": "\n  [[ -z \"$X\" ]] && y\n"}}}
	c, err := FromTree("t", tree)
	if err != nil {
		t.Fatal(err)
	}
	if c.WriteFiles[0].Content != "\n  [[ -z \"$X\" ]] && y\n" {
		t.Errorf("content %q", c.WriteFiles[0].Content)
	}
}

// opensshKey is a PEM block shaped like ssh-keygen's, with cipher.
func opensshKey(cipher string) string {
	b := []byte("openssh-key-v1\x00")
	b = append(b, 0, 0, 0, byte(len(cipher)))
	b = append(b, cipher...)
	return string(pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: b}))
}

// ssh_keys: host keys are checked offline; certificates are warnings.
func TestSSHKeys(t *testing.T) {
	pub := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl root@host"
	src := "#cloud-config\nssh_keys:\n  ed25519_private: |\n" + indent(opensshKey("none"), "    ") + "  ed25519_public: " + pub + "\n  ed25519_certificate: ssh-ed25519-cert-v01@openssh.com AAAA\n"
	doc, err := Parse("u", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Config.SSHKeys["ed25519_public"] != pub || !strings.HasPrefix(doc.Config.SSHKeys["ed25519_private"], "-----BEGIN OPENSSH PRIVATE KEY-----") {
		t.Errorf("ssh_keys %v", doc.Config.SSHKeys)
	}
	if diff := cmp.Diff([]string{"u:8: ssh_keys.ed25519_certificate: ignored: Berth's sshd takes no host certificates; the host key is used without one"}, warningsOf(doc)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ name, keys, want string }{
		{"placeholder", "  rsa_private: '-----BEGIN RSA PRIVATE KEY-----\n    ...'\n", "u:3: ssh_keys.rsa_private: expected a PEM private key (-----BEGIN OPENSSH PRIVATE KEY-----, as ssh-keygen writes)"},
		{"passphrase", "  ed25519_private: |\n" + indent(opensshKey("aes256-ctr"), "    "), "u:3: ssh_keys.ed25519_private: the key has a passphrase; sshd needs host keys without one"},
		{"public alone", "  rsa_public: " + pub + "\n", "u:3: ssh_keys.rsa_public: a public host key needs its private key, rsa_private"},
		{"public of another type", "  ecdsa_private: |\n" + indent(opensshKey("none"), "    ") + "  ecdsa_public: " + pub + "\n", "ssh_keys.ecdsa_public: expected a ecdsa key, got ssh-ed25519"},
		{"unknown type", "  dsa_private: x\n", "u:3: ssh_keys.dsa_private: expected ecdsa, ed25519 or rsa, then _private or _public, such as ed25519_private"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("u", []byte("#cloud-config\nssh_keys:\n"+tc.keys))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// ssh_genkeytypes: ecdsa, ed25519 and rsa; dsa (cloud-init's old default
// listed it) is a warning, and a list of dsa alone is dropped; anything
// else, or no type at all, is an error naming the entry.
func TestSSHGenkeytypes(t *testing.T) {
	doc, err := Parse("u", []byte("#cloud-config\nssh_genkeytypes: [rsa, dsa, ed25519]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"rsa", "ed25519"}, doc.Config.SSHGenkeytypes); diff != "" {
		t.Errorf("ssh_genkeytypes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"u:2: ssh_genkeytypes[1]: ignored: OpenSSH 9 offers no DSA host key"}, warningsOf(doc)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	doc, err = Parse("u", []byte("#cloud-config\nssh_genkeytypes: [dsa]\n"))
	if err != nil || doc.Config.SSHGenkeytypes != nil {
		t.Errorf("dsa alone: %q, %v; want the key dropped", doc.Config.SSHGenkeytypes, err)
	}
	if w := warningsOf(doc); len(w) != 2 || !strings.Contains(w[1], "ssh_genkeytypes: ignored: no type but dsa; the console makes ecdsa, ed25519 and rsa host keys") {
		t.Errorf("dsa alone: warnings %q", w)
	}
	for _, tc := range []struct{ name, src, want string }{
		{"unknown type", "ssh_genkeytypes: [ed25519, ed448]\n", `u:2: ssh_genkeytypes[1]: expected ecdsa, ed25519 or rsa, got "ed448"`},
		{"empty", "ssh_genkeytypes: []\n", "u:2: ssh_genkeytypes: expected at least one of ecdsa, ed25519 and rsa: sshd needs a host key"},
		{"not a list", "ssh_genkeytypes: rsa\n", "u:2: ssh_genkeytypes: expected a list"},
	} {
		if _, err := Parse("u", []byte("#cloud-config\n"+tc.src)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// cloud-config knows the host key types that PID 1 renders and the
// console makes (layout.SSHHostKeyTypes): each is accepted in ssh_keys and
// ssh_genkeytypes, and no other.
func TestSSHKeyTypesAreLayouts(t *testing.T) {
	var algos []string
	for typ := range sshKeyAlgos {
		algos = append(algos, typ)
	}
	if diff := cmp.Diff(layout.SSHHostKeyTypes(), algos, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("sshKeyAlgos's types (-layout +cloud-config):\n%s", diff)
	}
	for _, typ := range layout.SSHHostKeyTypes() {
		if !sshKeyNameRe.MatchString(typ+"_private") || !sshKeyNameRe.MatchString(typ+"_public") {
			t.Errorf("ssh_keys does not take %s_private and %s_public", typ, typ)
		}
		if _, err := Parse("u", []byte("#cloud-config\nssh_genkeytypes: ["+typ+"]\n")); err != nil {
			t.Errorf("ssh_genkeytypes: [%s]: %v", typ, err)
		}
	}
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}
