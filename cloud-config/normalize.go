package cloudconfig

import (
	"fmt"
	"path"
	"strings"

	"github.com/berth-os/berth/internal/pattern"
	"go.yaml.in/yaml/v3"

	"github.com/berth-os/berth/internal/strictyaml"
)

// normalize rewrites, in place and before strict decoding, the forms
// cloud-init accepts for keys Berth applies into the one form Berth's types
// take: deprecated spellings, users given as names or a map, hashed_passwd,
// chpasswd, numbers written as strings and strings written as numbers,
// null commands. What it drops it returns as warnings, each with its path
// in the document as written.
func normalize(source string, root *yaml.Node) strictyaml.Errors {
	if root.Kind != yaml.MappingNode {
		return nil
	}
	n := &normalizer{source: source}
	n.aliases(root, "", CloudInitKeys)
	// As in cloud-init, fqdn without hostname names the host by its first
	// label; in this layer, so it wins over the image's default name.
	if f := valueOf(root, "fqdn"); f != nil && f.Kind == yaml.ScalarNode && valueOf(root, "hostname") == nil {
		if short, _, _ := strings.Cut(f.Value, "."); short != "" {
			root.Content = append(root.Content, scalar("hostname", f.Line), scalar(short, f.Line))
		}
	}
	if cc := valueOf(root, "ca_certs"); cc != nil && cc.Kind == yaml.MappingNode {
		n.rename(cc, "ca_certs", "remove-defaults", "remove_defaults")
	}
	if u := valueOf(root, "users"); u != nil {
		n.users(u)
	}
	if c := valueOf(root, "chpasswd"); c != nil {
		n.chpasswd(root, c)
		deleteKey(root, "chpasswd")
	}
	for _, key := range []string{"bootcmd", "runcmd"} {
		if c := valueOf(root, key); c != nil && c.Kind == yaml.SequenceNode {
			n.commands(key, c)
		}
	}
	if ps := valueOf(root, "power_state"); ps != nil && ps.Kind == yaml.MappingNode {
		if d := valueOf(ps, "delay"); d != nil && d.Kind == yaml.ScalarNode && d.Tag == "!!int" {
			d.Tag = "!!str"
		}
	}
	if p := valueOf(root, "ssh_pwauth"); p != nil && p.Kind == yaml.ScalarNode && p.Tag == "!!str" {
		switch strings.ToLower(p.Value) {
		case "yes", "true", "on", "1":
			p.Value, p.Tag = "true", "!!bool"
		case "no", "false", "off", "0":
			p.Value, p.Tag = "false", "!!bool"
		case "unchanged":
			n.warn(p, "ssh_pwauth", "ignored: unchanged keeps Berth's default, keys only")
			deleteKey(root, "ssh_pwauth")
		}
	}
	if r := valueOf(root, "resize_rootfs"); r != nil && r.Kind == yaml.ScalarNode && r.Value == "noblock" {
		// Berth grows the state filesystem online: it never blocks boot.
		r.Value, r.Tag = "true", "!!bool"
	}
	if g := valueOf(root, "growpart"); g != nil && g.Kind == yaml.MappingNode {
		if m := valueOf(g, "mode"); m != nil && m.Tag == "!!bool" && strings.EqualFold(m.Value, "false") {
			m.Value, m.Tag = "off", "!!str"
		}
	}
	if m := valueOf(root, "mounts"); m != nil && m.Kind == yaml.SequenceNode {
		for _, e := range m.Content {
			if e.Kind != yaml.SequenceNode {
				continue
			}
			for _, f := range e.Content {
				if f.Kind == yaml.ScalarNode && (f.Tag == "!!int" || f.Tag == "!!bool") {
					f.Tag = "!!str" // dump and pass are often numbers
				}
			}
			// A swap entry has no mount point: cloud-init's and RancherOS's
			// examples leave it empty.
			if len(e.Content) >= 3 && e.Content[2].Value == "swap" && e.Content[1].Value == "" {
				e.Content[1].Value = "none"
			}
		}
	}
	if k := valueOf(root, "ssh_keys"); k != nil && k.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(k.Content); i += 2 {
			if name := k.Content[i].Value; strings.HasSuffix(name, "_certificate") {
				n.warn(k.Content[i], "ssh_keys."+name, "ignored: Berth's sshd takes no host certificates; the host key is used without one")
			}
		}
		for _, t := range []string{"ecdsa", "ed25519", "rsa"} {
			deleteKey(k, t+"_certificate")
		}
	}
	if g := valueOf(root, "ssh_genkeytypes"); g != nil && g.Kind == yaml.SequenceNode {
		n.genkeytypes(root, g)
	}
	return n.warnings
}

// genkeytypes drops dsa from ssh_genkeytypes (cloud-init's default listed
// it until 2023; OpenSSH 9 offers no DSA host key), with a warning; a list
// of dsa alone is dropped whole, and the default types are made.
func (n *normalizer) genkeytypes(root, g *yaml.Node) {
	kept := g.Content[:0:0]
	for i, t := range g.Content {
		if t.Kind == yaml.ScalarNode && t.Value == "dsa" {
			n.warn(t, fmt.Sprintf("ssh_genkeytypes[%d]", i), "ignored: OpenSSH 9 offers no DSA host key")
			continue
		}
		kept = append(kept, t)
	}
	if len(kept) == 0 && len(g.Content) > 0 {
		n.warn(g, "ssh_genkeytypes", "ignored: no type but dsa; the console makes ecdsa, ed25519 and rsa host keys")
		deleteKey(root, "ssh_genkeytypes")
		return
	}
	g.Content = kept
}

type normalizer struct {
	source   string
	warnings strictyaml.Errors
}

func (n *normalizer) warn(at *yaml.Node, path, msg string) {
	line := 0
	if at != nil {
		line = at.Line
	}
	n.warnings = append(n.warnings, &strictyaml.FieldError{Source: n.source, Line: line, Path: path, Msg: msg})
}

// aliases renames the deprecated spellings of a table's keys in mapping m.
func (n *normalizer) aliases(m *yaml.Node, path string, table []CloudInitKey) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, ok := lookupKey(table, m.Content[i].Value)
		if ok && k.Handling == Alias {
			n.rename(m, path, k.Key, k.Target)
		}
	}
}

// rename reads key old of mapping m as key new, with a warning; when both
// are given, old is dropped.
func (n *normalizer) rename(m *yaml.Node, path, old, new string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind != yaml.ScalarNode || k.Value != old {
			continue
		}
		if valueOf(m, new) != nil {
			n.warn(k, strictyaml.Join(path, old), fmt.Sprintf("ignored: %s is given too, and is used", strictyaml.Join(path, new)))
			m.Content = append(m.Content[:i:i], m.Content[i+2:]...)
			return
		}
		n.warn(k, strictyaml.Join(path, old), fmt.Sprintf("deprecated spelling, read as %s", strictyaml.Join(path, new)))
		k.Value = new
		return
	}
}

// users turns every form of users cloud-init takes into a list of maps:
// "a, b" and [a, b] name users; a map names users by its keys; the entry
// default, the distribution's default user, is root on Berth and is left
// out (root exists; top-level ssh_authorized_keys are root's).
func (n *normalizer) users(u *yaml.Node) {
	var items []*yaml.Node
	switch u.Kind {
	case yaml.ScalarNode:
		if u.Tag != "!!str" {
			return // the decoder says what it expected
		}
		for _, s := range strings.Split(u.Value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Line: u.Line, Column: u.Column})
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(u.Content); i += 2 {
			entry := u.Content[i+1]
			if entry.Kind != yaml.MappingNode {
				entry = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: u.Content[i].Line}
			}
			if valueOf(entry, "name") == nil {
				entry.Content = append([]*yaml.Node{scalar("name", entry.Line), scalar(u.Content[i].Value, u.Content[i].Line)}, entry.Content...)
			}
			items = append(items, entry)
		}
	case yaml.SequenceNode:
		for _, it := range u.Content {
			if it.Kind == yaml.SequenceNode {
				items = append(items, it.Content...)
				continue
			}
			items = append(items, it)
		}
	default:
		return
	}
	var out []*yaml.Node
	for i, it := range items {
		p := fmt.Sprintf("users[%d]", i) // of the list as written
		switch it.Kind {
		case yaml.ScalarNode:
			if it.Value == "default" {
				n.warn(it, p, "default is root on Berth, which has no distribution user: top-level ssh_authorized_keys are root's; log in as root")
				continue
			}
			out = append(out, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: it.Line, Column: it.Column,
				Content: []*yaml.Node{scalar("name", it.Line), it}})
			continue
		case yaml.MappingNode:
		default:
			out = append(out, it) // the decoder says what it expected
			continue
		}
		if valueOf(it, "name") == nil && valueOf(it, "snapuser") != nil {
			n.warn(it, p+".snapuser", "ignored: there is no snapd on Berth, so no snap user is made; give name and ssh_authorized_keys instead")
			continue
		}
		// The entry's keys are named by its place in the list Berth keeps,
		// as the decoder names them.
		p = fmt.Sprintf("users[%d]", len(out))
		n.aliases(it, p, CloudInitUserKeys)
		// hashed_passwd is the hash cloud-init sets even on an existing
		// user; Berth renders /etc at every boot, so it is passwd.
		if valueOf(it, "hashed_passwd") != nil {
			deleteKey(it, "passwd")
			for j := 0; j < len(it.Content); j += 2 {
				if it.Content[j].Value == "hashed_passwd" {
					it.Content[j].Value = "passwd"
				}
			}
		}
		if sh := valueOf(it, "shell"); sh != nil && sh.Kind == yaml.ScalarNode && strings.HasPrefix(sh.Value, "/") && !berthShells[sh.Value] {
			n.warn(sh, p+".shell", fmt.Sprintf("%s is not on Berth: the login shell is /bin/sh (busybox ash); run other shells in a container", sh.Value))
			sh.Value = "/bin/sh"
		}
		if h := valueOf(it, "homedir"); h != nil && h.Kind == yaml.ScalarNode && path.IsAbs(h.Value) && !writableHome(h.Value) {
			name := "<name>"
			if nm := valueOf(it, "name"); nm != nil {
				name = nm.Value
			}
			n.warn(h, p+".homedir", fmt.Sprintf("ignored: %s is on Berth's read-only root, so the home is /home/%s; give one under /home, /var, /opt or /root", h.Value, name))
			deleteKey(it, "homedir")
		}
		if uid := valueOf(it, "uid"); uid != nil && uid.Kind == yaml.ScalarNode && uid.Tag == "!!str" && digitsRe.MatchString(uid.Value) {
			uid.Tag = "!!int"
		}
		if g := valueOf(it, "groups"); g != nil && g.Kind == yaml.MappingNode {
			seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: g.Line}
			for j := 0; j < len(g.Content); j += 2 {
				seq.Content = append(seq.Content, g.Content[j])
			}
			*g = *seq
		}
		out = append(out, it)
	}
	*u = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: u.Line, Column: u.Column, Content: out}
}

// berthShells are the login shells of Berth's console (and the ones that
// refuse a login, for system users).
var berthShells = map[string]bool{
	"/bin/sh": true, "/bin/ash": true, "/usr/bin/sh": true,
	"/bin/false": true, "/usr/bin/false": true, "/sbin/nologin": true, "/usr/sbin/nologin": true,
}

// writableHome says whether a home folder is on the state partition.
func writableHome(p string) bool {
	p = path.Clean(p)
	for _, dir := range []string{"/home", "/root", "/var", "/opt"} {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			return true
		}
	}
	return false
}

var digitsRe = pattern.New(`^[0-9]+$`)

// chpasswd applies cloud-init's chpasswd (the users form, and the older
// list form) to users: a hashed password becomes that user's passwd, and
// unlocks it as chpasswd does; root need not be listed. Berth takes no
// plain-text or random passwords: those are warnings.
func (n *normalizer) chpasswd(root, c *yaml.Node) {
	if c.Kind != yaml.MappingNode {
		n.warn(c, "chpasswd", "ignored: expected a map of users, list and expire")
		return
	}
	type entry struct {
		name, password, typ, path string
		at                        *yaml.Node
	}
	var entries []entry
	for i := 0; i+1 < len(c.Content); i += 2 {
		k, v := c.Content[i], c.Content[i+1]
		switch k.Value {
		case "expire":
			if v.Value != "false" && v.Value != "False" {
				n.warn(k, "chpasswd.expire", "ignored: Berth does not expire passwords")
			}
		case "users":
			if v.Kind != yaml.SequenceNode {
				n.warn(v, "chpasswd.users", "ignored: expected a list of name, password and type")
				continue
			}
			for j, u := range v.Content {
				var e struct{ Name, Password, Type string }
				p := fmt.Sprintf("chpasswd.users[%d]", j)
				if u.Kind != yaml.MappingNode || u.Decode(&e) != nil || e.Name == "" {
					n.warn(u, p, "ignored: expected a map of name, password and type")
					continue
				}
				if e.Type == "" {
					e.Type = "hash"
				}
				entries = append(entries, entry{e.Name, e.Password, e.Type, p, u})
			}
		case "list":
			var lines []string
			var at []*yaml.Node
			switch v.Kind {
			case yaml.ScalarNode:
				for _, l := range strings.Split(v.Value, "\n") {
					if l = strings.TrimSpace(l); l != "" {
						lines, at = append(lines, l), append(at, v)
					}
				}
			case yaml.SequenceNode:
				for _, l := range v.Content {
					lines, at = append(lines, l.Value), append(at, l)
				}
			}
			for j, l := range lines {
				name, pw, ok := strings.Cut(l, ":")
				p := "chpasswd.list"
				if v.Kind == yaml.SequenceNode {
					p = fmt.Sprintf("chpasswd.list[%d]", j)
				}
				if !ok || name == "" {
					n.warn(at[j], p, "ignored: expected user:password lines")
					continue
				}
				typ := "text"
				switch {
				case pw == "R" || pw == "RANDOM":
					typ = "RANDOM"
				case hashRe.MatchString(pw):
					typ = "hash"
				}
				entries = append(entries, entry{name, pw, typ, p, at[j]})
			}
		default:
			n.warn(k, "chpasswd."+k.Value, "ignored: not a chpasswd key (expected users, list or expire)")
		}
	}
	for _, e := range entries {
		switch {
		case e.typ == "RANDOM":
			n.warn(e.at, e.path, fmt.Sprintf("ignored: Berth sets no random passwords (%s's password stays as it is); log in with ssh keys", e.name))
			continue
		case e.typ != "hash" || !hashRe.MatchString(e.password):
			n.warn(e.at, e.path, fmt.Sprintf("ignored: Berth takes no plain-text passwords (%s's password stays as it is); give a crypt(3) hash (mkpasswd -m sha-512)", e.name))
			continue
		}
		users := valueOf(root, "users")
		var u *yaml.Node
		if users != nil && users.Kind == yaml.SequenceNode {
			for _, it := range users.Content {
				if nm := valueOf(it, "name"); it.Kind == yaml.MappingNode && nm != nil && nm.Value == e.name {
					u = it
				}
			}
		}
		if u == nil && e.name != "root" {
			n.warn(e.at, e.path, fmt.Sprintf("ignored: user %s is not in users; Berth makes only the users listed there, and root", e.name))
			continue
		}
		if users == nil {
			users = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			root.Content = append(root.Content, scalar("users", e.at.Line), users)
		}
		if u == nil {
			u = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: e.at.Line, Content: []*yaml.Node{scalar("name", e.at.Line), scalar("root", e.at.Line)}}
			users.Content = append(users.Content, u)
		}
		deleteKey(u, "passwd")
		u.Content = append(u.Content, scalar("passwd", e.at.Line), scalar(e.password, e.at.Line))
		if e.name != "root" && valueOf(u, "lock_passwd") == nil {
			u.Content = append(u.Content, scalar("lock_passwd", e.at.Line), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false", Line: e.at.Line})
		}
	}
}

// commands leaves out the null and empty entries of bootcmd or runcmd,
// which cloud-init runs as nothing.
func (n *normalizer) commands(key string, c *yaml.Node) {
	var keep []*yaml.Node
	for i, e := range c.Content {
		if (e.Kind == yaml.ScalarNode && e.Tag == "!!null") || (e.Kind == yaml.SequenceNode && len(e.Content) == 0) {
			n.warn(e, fmt.Sprintf("%s[%d]", key, i), "ignored: an empty command runs nothing")
			continue
		}
		keep = append(keep, e)
	}
	c.Content = keep
}

func scalar(v string, line int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Line: line}
}

// deleteKey removes key from mapping m.
func deleteKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			m.Content = append(m.Content[:i:i], m.Content[i+2:]...)
			return
		}
	}
}
