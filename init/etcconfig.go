package main

import (
	"reflect"
	"slices"
	"strings"
	"sync"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/cloud-config/apply"
	"github.com/berth-os/berth/init/etc"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/timesync"
)

// etcConfig turns the merged configuration into what /etc is made of.
func (h *host) etcConfig() etc.Config {
	id, err := etc.MachineID(layout.MachineID)
	if err != nil {
		h.logf("machine id: %v", err)
	}
	c := etc.Config{
		Hostname:   h.info.Hostname,
		MachineID:  id,
		Version:    h.info.Versions.Berth,
		ResolvConf: resolvConf,
		SSHKeyDir:  layout.SSHKeyDir,
	}
	c.NTP, _ = timesync.FromCloudConfig(nil, nil, nil)
	if h.cfg == nil || h.cfg.merged == nil {
		if c.Hostname == "" {
			c.Hostname = "berth"
		}
		return c
	}
	cfg := h.cfg.merged.Config
	c.NTP = ntpConfig(cfg.NTP, h.logf)
	c.Hostname, c.FQDN = hostNames(c.Hostname, cfg.Hostname, cfg.FQDN)
	c.SSHPort = cfg.Berth.SSH.Port
	c.SSHListen = cfg.Berth.SSH.ListenAddress
	c.SSHPasswords = cfg.SSHPwauth != nil && *cfg.SSHPwauth
	c.SSHHostKeys = hostKeyFiles(cfg.SSHKeys)
	c.SSHKeyTypes = hostKeyTypes(cfg.SSHGenkeytypes, cfg.SSHKeys)
	c.RegistryMirrors = cfg.Berth.RegistryMirrors
	c.ProxyEnv = imageProxy(cfg.Berth.Proxy).Env()
	c.ContainerdAtBoot = cfg.Berth.Containerd.AtBoot()
	ids := h.userIDs(cfg.Users)
	c.GroupIDs = ids.Groups
	for _, u := range cfg.Users {
		if u.Name == "root" {
			c.RootPasswd = u.Passwd
			continue
		}
		shell := u.Shell
		if shell == "" {
			shell = "/bin/sh"
		}
		// As in cloud-init, the password is locked unless lock_passwd: false.
		// Locked with "*", not "!": sshd without PAM refuses even key logins
		// to an account whose hash starts with "!"; no password matches
		// either.
		passwd := u.Passwd
		if u.LockPasswd == nil || *u.LockPasswd {
			passwd = "*" + passwd
		}
		c.Users = append(c.Users, etc.User{Name: u.Name, UID: ids.Users[u.Name].UID, GID: ids.Users[u.Name].GID, Gecos: u.Gecos, Home: apply.Home(u), Shell: shell, Groups: u.Groups, Passwd: passwd})
	}
	return c
}

// ntpConfig is the ntp service's config from cloud-config's ntp. The
// merged config was validated; an entry that still cannot be read is
// logged and left out.
func ntpConfig(n *cloudconfig.NTP, logf func(string, ...any)) timesync.Config {
	if n == nil {
		n = &cloudconfig.NTP{}
	}
	c, err := timesync.FromCloudConfig(n.Enabled, n.Servers, n.Pools)
	if err != nil {
		logf("ntp: %v", err)
	}
	return c
}

// idsMu makes reading, assigning and saving the users' ids one step.
var idsMu sync.Mutex

// userIDs are the uids and gids of cloud-config's users, as the state
// partition keeps them (layout.UsersFile): a user keeps their uid whatever
// the order of users. If the file cannot be read, ids are given in list
// order for this boot and the file is left for the admin to fix.
func (h *host) userIDs(users []cloudconfig.User) apply.IDs {
	idsMu.Lock()
	defer idsMu.Unlock()
	stored, err := apply.LoadIDs(layout.UsersFile)
	if err != nil {
		h.alertf("users: %v; uids follow the list of users until it is fixed or removed", err)
		ids, _ := apply.AssignIDs(users, apply.IDs{}, etc.BaseGroupIDs())
		return ids
	}
	ids, notes := apply.AssignIDs(users, stored, etc.BaseGroupIDs())
	for _, n := range notes {
		h.logf("users: %s", n)
	}
	if !reflect.DeepEqual(ids, stored) {
		if err := apply.SaveIDs(layout.UsersFile, ids); err != nil {
			h.alertf("users: keep uids: %v", err)
		}
	}
	return ids
}

// hostKeyFiles names the keys of ssh_keys by the files sshd reads:
// ed25519_private is ssh_host_ed25519_key, ed25519_public its .pub.
func hostKeyFiles(keys cloudconfig.SSHKeys) map[string]string {
	if len(keys) == 0 {
		return nil
	}
	out := map[string]string{}
	for name, key := range keys {
		typ, kind, _ := strings.Cut(name, "_")
		file := "ssh_host_" + typ + "_key"
		if kind == "public" {
			file += ".pub"
		}
		out[file] = key
	}
	return out
}

// hostKeyTypes are the host key types sshd offers: those of
// ssh_genkeytypes and those ssh_keys gives, in layout.SSHHostKeyTypes's
// order; none (the default types) without ssh_genkeytypes.
func hostKeyTypes(gen []string, given cloudconfig.SSHKeys) []string {
	if len(gen) == 0 {
		return nil
	}
	var out []string
	for _, t := range layout.SSHHostKeyTypes() {
		if slices.Contains(gen, t) || given[t+"_private"] != "" {
			out = append(out, t)
		}
	}
	return out
}

// hostNames is the host name and FQDN from config, as cloud-init sets
// them: hostname wins; without it, fqdn's first label is the host name.
// fallback is the name from meta-data or the default.
func hostNames(fallback, hostname, fqdn string) (string, string) {
	fqdn = strings.TrimSuffix(fqdn, ".")
	switch {
	case hostname != "":
		return hostname, fqdn
	case fqdn != "":
		short, _, _ := strings.Cut(fqdn, ".")
		return short, fqdn
	}
	return fallback, ""
}
