package main

import (
	"strings"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/cloud-config/apply"
	"github.com/berth-os/berth/init/etc"
	"github.com/berth-os/berth/internal/layout"
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
	if h.cfg == nil || h.cfg.merged == nil {
		if c.Hostname == "" {
			c.Hostname = "berth"
		}
		return c
	}
	cfg := h.cfg.merged.Config
	c.Hostname, c.FQDN = hostNames(c.Hostname, cfg.Hostname, cfg.FQDN)
	c.SSHPort = cfg.Berth.SSH.Port
	c.SSHListen = cfg.Berth.SSH.ListenAddress
	c.SSHPasswords = cfg.SSHPwauth != nil && *cfg.SSHPwauth
	c.SSHHostKeys = hostKeyFiles(cfg.SSHKeys)
	ids := apply.UserIDs(cfg.Users)
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
		c.Users = append(c.Users, etc.User{Name: u.Name, UID: ids[u.Name], Gecos: u.Gecos, Home: apply.Home(u), Shell: shell, Groups: u.Groups, Passwd: passwd})
	}
	return c
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
