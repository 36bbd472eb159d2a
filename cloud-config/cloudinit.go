package cloudconfig

import (
	"strings"

	"github.com/berth-os/berth/internal/pattern"
)

var indexRe = pattern.New(`\[[0-9]+\]`)

// What Berth does with each key of cloud-init's user-data. The list is
// cloud-init's published JSON schema, schema-cloud-config-v1.json of
// canonical/cloud-init at 04eacd06ee60 (2026-08-21): its 99 top-level
// properties, and the properties of a users[] entry. A test compares the
// two tables with that schema and with the README's table, which is made
// from them.

// Handling is what Berth does with a cloud-init key.
type Handling int

const (
	// Applied keys are decoded into Config and applied.
	Applied Handling = iota
	// Alias keys are another spelling of Target (cloud-init's deprecated
	// ones): read as Target, with a warning.
	Alias
	// Ignored keys are accepted and left out, with a warning giving Note:
	// why Berth does not honour the key and what to do instead.
	Ignored
)

func (h Handling) String() string {
	switch h {
	case Applied:
		return "applied"
	case Alias:
		return "alias"
	}
	return "ignored"
}

// CloudInitKey is one key of cloud-init's schema and Berth's handling of it.
type CloudInitKey struct {
	Key      string
	Handling Handling
	Target   string // for an Alias: the key it is read as
	Note     string // Applied: how (README); Ignored: why, and what instead
}

const (
	noPackages = "a container host installs no packages; run software in containers, or build an image variant"
	noCM       = "configuration management agents run as containers on Berth; start one with runcmd or a service"
	noDistro   = "Berth is not a distribution with this subsystem; there is nothing to configure"
	noSubscr   = "Berth has no vendor subscription or package repositories to register"
	noConsole  = "the console service prints no ssh keys or fingerprints; read them with hostctl or ssh-keyscan"
)

// CloudInitKeys is every top-level key of cloud-init's schema, sorted.
var CloudInitKeys = []CloudInitKey{
	{"allow_public_ssh_keys", Ignored, "", "Berth always installs the datasource's public keys for root; leave them out of meta-data to skip them"},
	{"ansible", Ignored, "", noCM},
	{"apk_repos", Ignored, "", "there is no apk on Berth; " + noPackages},
	{"apt", Ignored, "", "there is no apt on Berth; " + noPackages},
	{"apt_pipelining", Ignored, "", "there is no apt on Berth"},
	{"apt_reboot_if_required", Ignored, "", "there is no apt on Berth"},
	{"apt_update", Ignored, "", "there is no apt on Berth"},
	{"apt_upgrade", Ignored, "", "there is no apt on Berth; Berth upgrades as a whole image"},
	{"authkey_hash", Ignored, "", noConsole},
	{"autoinstall", Ignored, "", "Ubuntu's installer does not run on Berth; install with hostctl install"},
	{"bootcmd", Applied, "", "every boot, before services; an entry still running after 5 minutes is killed with its process group (cloud-config has no key for this); a daemon it starts in the background does not hold boot; a null entry is skipped"},
	{"byobu_by_default", Ignored, "", "there is no byobu on Berth"},
	{"ca-certs", Alias, "ca_certs", ""},
	{"ca_certs", Applied, "", "CA bundle (trusted, remove_defaults; remove-defaults read as remove_defaults)"},
	{"chef", Ignored, "", noCM},
	{"chpasswd", Applied, "", "users (new form) and list (old form): a hashed password sets that user's passwd; plain text and RANDOM are warnings (give a hash); expire is ignored"},
	{"cloud_config_modules", Ignored, "", "Berth runs no cloud-init modules; its boot phases are fixed"},
	{"cloud_final_modules", Ignored, "", "Berth runs no cloud-init modules; its boot phases are fixed"},
	{"cloud_init_modules", Ignored, "", "Berth runs no cloud-init modules; its boot phases are fixed"},
	{"create_hostname_file", Ignored, "", "Berth renders /etc/hostname from config at every boot"},
	{"device_aliases", Ignored, "", "Berth does not partition or format disks from user-data; use bootcmd, then mounts"},
	{"disable_ec2_metadata", Ignored, "", "Berth does not block the metadata service; use a firewall rule in a container"},
	{"disable_root", Ignored, "", "root is the login on Berth; give users their own keys to log in as them"},
	{"disable_root_opts", Ignored, "", "root is the login on Berth; its keys get no forced command"},
	{"disk_setup", Ignored, "", "Berth does not partition disks from user-data; use bootcmd, then mounts"},
	{"drivers", Ignored, "", "Berth's kernel carries its drivers; there are no vendor driver packages"},
	{"fan", Ignored, "", "there is no Ubuntu fan networking on Berth; use an overlay network of your container runtime"},
	{"final_message", Ignored, "", "Berth prints its own ready line"},
	{"fqdn", Applied, "", "host name and /etc/hosts, at boot and live"},
	{"fs_setup", Ignored, "", "Berth does not format disks from user-data; use bootcmd, then mounts"},
	{"groups", Ignored, "", "Berth has a fixed set of groups; list the user's groups in users[].groups"},
	{"growpart", Applied, "", "the state partition grows to the end of its disk (mode, devices / or /var)"},
	{"grub-dpkg", Ignored, "", "Berth's bootloader is not managed by dpkg"},
	{"grub_dpkg", Ignored, "", "Berth's bootloader is not managed by dpkg"},
	{"hostname", Applied, "", "host name, at boot and live"},
	{"keyboard", Ignored, "", "Berth keeps the kernel's keymap"},
	{"landscape", Ignored, "", "there is no Landscape client on Berth; " + noCM},
	{"launch-index", Ignored, "", "Berth does not filter user-data by launch index: every part applies"},
	{"locale", Ignored, "", "Berth runs in the C.UTF-8 locale; containers bring their own"},
	{"locale_configfile", Ignored, "", "Berth runs in the C.UTF-8 locale; containers bring their own"},
	{"lxd", Ignored, "", "there is no LXD on Berth; run containers with containerd or docker"},
	{"manage_etc_hosts", Ignored, "", "Berth renders /etc/hosts at every boot from hostname and fqdn"},
	{"manage_resolv_conf", Ignored, "", "set berth.network.dns instead"},
	{"mcollective", Ignored, "", noCM},
	{"merge_how", Ignored, "", "Berth merges layers its own way: maps merge, lists and values replace"},
	{"merge_type", Ignored, "", "Berth merges layers its own way: maps merge, lists and values replace"},
	{"migrate", Ignored, "", "Berth keeps no cloud-init semaphores to migrate"},
	{"mount_default_fields", Ignored, "", "Berth's defaults for a short mounts entry are type auto, options defaults,nofail; give the fields in each entry"},
	{"mounts", Applied, "", "apply phase; a failing entry is reported and skipped; a swap entry's mount point may be empty"},
	{"no_ssh_fingerprints", Ignored, "", noConsole},
	{"ntp", Applied, "", "servers, pools (HOST or HOST:PORT) and enabled configure the ntp service, live; with neither servers nor pools it uses 0-3.debian.pool.ntp.org; peers, allow, ntp_client and config are warnings"},
	{"output", Ignored, "", "Berth's logging service keeps script output: hostctl logs cloud-config"},
	{"package_reboot_if_required", Ignored, "", noPackages},
	{"package_update", Ignored, "", noPackages},
	{"package_upgrade", Ignored, "", "a container host installs no packages; Berth upgrades as a whole image"},
	{"packages", Ignored, "", noPackages},
	{"password", Ignored, "", "Berth takes no plain-text passwords; give root's crypt(3) hash in users (name: root, passwd: $6$...)"},
	{"phone_home", Ignored, "", "Berth does not phone home; post from runcmd with curl in a container"},
	{"power_state", Applied, "", "once per instance, after runcmd; condition a boolean, a shell string or an argv list (exit 0 goes ahead); delay now, minutes or +minutes"},
	{"prefer_fqdn_over_hostname", Ignored, "", "Berth uses hostname as the host name and fqdn in /etc/hosts"},
	{"preserve_hostname", Ignored, "", "Berth sets the host name from config at every boot; change it with hostctl config set hostname"},
	{"puppet", Ignored, "", noCM},
	{"random_seed", Ignored, "", "the kernel seeds its own random pool (virtio-rng where present)"},
	{"reporting", Ignored, "", "Berth does not post boot events; read hostctl config status"},
	{"resize_rootfs", Applied, "", "the state filesystem grows online (true, false; noblock is true)"},
	{"resolv_conf", Ignored, "", "set berth.network.dns instead"},
	{"rh_subscription", Ignored, "", noSubscr},
	{"rpi", Ignored, "", "Berth has no Raspberry Pi interface settings; it runs on x86-64"},
	{"rsyslog", Ignored, "", "Berth's logging service writes /var/log; forward it with a container"},
	{"runcmd", Applied, "", "once per instance, after ready, output in hostctl logs cloud-config; a null or empty entry is skipped with a warning"},
	{"salt_minion", Ignored, "", noCM},
	{"snap", Ignored, "", "there is no snapd on Berth; " + noPackages},
	{"spacewalk", Ignored, "", noSubscr},
	{"ssh", Ignored, "", noConsole},
	{"ssh_authorized_keys", Applied, "", "appended to root's keys, never removed"},
	{"ssh_deletekeys", Ignored, "", "Berth keeps its ssh host keys on the state partition; give your own in ssh_keys"},
	{"ssh_fp_console_blacklist", Ignored, "", noConsole},
	{"ssh_genkeytypes", Applied, "", "the host key types sshd offers and the console makes (ecdsa, ed25519 and rsa by default; dsa is ignored with a warning): ed25519 before sshd starts, the others after it, at nice 19 (RSA takes seconds of CPU), then sshd reloads them"},
	{"ssh_import_id", Ignored, "", "Berth does not fetch keys from Launchpad or GitHub; list them in ssh_authorized_keys"},
	{"ssh_key_console_blacklist", Ignored, "", noConsole},
	{"ssh_keys", Applied, "", "the console service installs the given private keys as sshd host keys instead of making its own; certificates are warnings"},
	{"ssh_publish_hostkeys", Ignored, "", "Berth does not publish host keys to a datasource"},
	{"ssh_pwauth", Applied, "", "sshd config (a boolean; a string is read as true or false)"},
	{"ssh_quiet_keygen", Ignored, "", "the console service logs one line per host key it makes"},
	{"swap", Applied, "", "a swap file under /var made and turned on (filename, size, maxsize)"},
	{"system_info", Ignored, "", "Berth has no distribution settings: the default user is root"},
	{"timezone", Applied, "", "/etc/localtime, live"},
	{"ubuntu_advantage", Ignored, "", noSubscr},
	{"ubuntu_pro", Ignored, "", noSubscr},
	{"updates", Ignored, "", "the network service applies the network config at boot and on hotplug"},
	{"user", Ignored, "", "Berth's default user is root; list other users in users"},
	{"users", Applied, "", "/etc rendered at every boot; a list, a comma-separated string or a map of names; the entry default is root; entry keys are the users[] rows"},
	{"vendor_data", Ignored, "", "Berth reads no vendor-data"},
	{"version", Ignored, "", "Berth reads one cloud-config format; the version is not needed"},
	{"wireguard", Ignored, "", "Berth does not set up WireGuard from user-data; run it in a container with the host network"},
	{"write_files", Applied, "", "apply phase (defer: after services); source is a warning (give content)"},
	{"yum_repo_dir", Ignored, "", "there is no yum on Berth"},
	{"yum_repos", Ignored, "", "there is no yum on Berth; " + noPackages},
	{"zypper", Ignored, "", "there is no zypper on Berth; " + noPackages},
}

// CloudInitUserKeys is every key of a users[] entry in cloud-init's schema.
// An entry may also be the string default (root on Berth: top-level
// ssh_authorized_keys go to root), a user name, or a map from names to
// entries.
var CloudInitUserKeys = []CloudInitKey{
	{"create-groups", Alias, "create_groups", ""},
	{"create_groups", Ignored, "", "Berth has a fixed set of groups"},
	{"doas", Ignored, "", "there is no doas on Berth; the console logs in as root"},
	{"expiredate", Ignored, "", "Berth does not expire accounts; remove the user from users"},
	{"gecos", Applied, "", "/etc/passwd"},
	{"groups", Applied, "", "a list, a comma-separated string, or a map of names"},
	{"hashed-passwd", Alias, "hashed_passwd", ""},
	{"hashed_passwd", Applied, "", "read as passwd (Berth renders /etc at every boot: the hash applies to an existing user too)"},
	{"homedir", Applied, "", "made at boot; one on the read-only root (not under /home, /var, /opt or /root) is a warning, and the home is /home/<name>"},
	{"inactive", Ignored, "", "Berth does not expire accounts"},
	{"lock-passwd", Alias, "lock_passwd", ""},
	{"lock_passwd", Applied, "", "default true: the password cannot log in"},
	{"name", Applied, "", "the login name"},
	{"no-create-home", Alias, "no_create_home", ""},
	{"no-log-init", Alias, "no_log_init", ""},
	{"no-user-group", Alias, "no_user_group", ""},
	{"no_create_home", Ignored, "", "Berth always makes the home folder"},
	{"no_log_init", Ignored, "", "Berth keeps no lastlog or faillog"},
	{"no_user_group", Ignored, "", "Berth has a fixed set of groups"},
	{"passwd", Applied, "", "a crypt(3) hash"},
	{"plain-text-passwd", Alias, "plain_text_passwd", ""},
	{"plain_text_passwd", Ignored, "", "Berth takes no plain-text passwords; give a crypt(3) hash in passwd (mkpasswd -m sha-512)"},
	{"primary-group", Alias, "primary_group", ""},
	{"primary_group", Applied, "", "/etc/passwd"},
	{"selinux-user", Alias, "selinux_user", ""},
	{"selinux_user", Ignored, "", "there is no SELinux policy on Berth"},
	{"shell", Applied, "", "an absolute path; default /bin/sh; a shell Berth lacks (bash, zsh...) is /bin/sh, with a warning"},
	{"snapuser", Ignored, "", "there is no snapd on Berth; give name and ssh_authorized_keys instead"},
	{"ssh-authorized-keys", Alias, "ssh_authorized_keys", ""},
	{"ssh-import-id", Alias, "ssh_import_id", ""},
	{"ssh-redirect-user", Alias, "ssh_redirect_user", ""},
	{"ssh_authorized_keys", Applied, "", "~/.ssh/authorized_keys"},
	{"ssh_import_id", Ignored, "", "Berth does not fetch keys from Launchpad or GitHub; list them in ssh_authorized_keys"},
	{"ssh_redirect_user", Ignored, "", "Berth does not redirect ssh logins; give the user its own keys"},
	{"sudo", Ignored, "", "there is no sudo on Berth; the console logs in as root"},
	{"system", Applied, "", "a system account (uid below 1000)"},
	{"uid", Applied, "", "a number (a string of digits is read as one)"},
}

// lookupKey finds key in a table.
func lookupKey(table []CloudInitKey, key string) (CloudInitKey, bool) {
	for _, k := range table {
		if k.Key == key {
			return k, true
		}
	}
	return CloudInitKey{}, false
}

// ignore tells the strict decoder which unknown keys are warnings: the
// cloud-init keys Berth does not honour. Aliases are renamed before
// decoding (see normalize).
func ignore(path, key string) string {
	var table []CloudInitKey
	switch {
	case path == "":
		table = CloudInitKeys
	case strings.HasPrefix(path, "users[") && !strings.Contains(path[len("users["):], "."):
		table = CloudInitUserKeys
	default:
		if r, ok := ignoredSubKeys[indexRe.ReplaceAllString(path, "[]")+"."+key]; ok {
			return "ignored: " + r
		}
		return ""
	}
	k, ok := lookupKey(table, key)
	if !ok || k.Handling != Ignored {
		return ""
	}
	return "ignored: " + k.Note
}

// ignoredSubKeys are keys inside applied cloud-init keys that Berth does
// not honour.
var ignoredSubKeys = map[string]string{
	"ntp.peers":            "Berth's time service takes servers and pools only",
	"ntp.allow":            "Berth serves no time to other hosts",
	"ntp.ntp_client":       "Berth chooses its own time client",
	"ntp.config":           "Berth chooses its own time client",
	"write_files[].source": "Berth does not download files at boot; give content",
}

// knownKeys lists, for "did you mean", the cloud-init keys at path that
// the Config type does not have.
func knownKeys(path string) []string {
	var table []CloudInitKey
	switch {
	case path == "":
		table = CloudInitKeys
	case strings.HasPrefix(path, "users[") && !strings.Contains(path[len("users["):], "."):
		table = CloudInitUserKeys
	}
	var out []string
	if path == "" {
		out = append(out, "rancher") // RancherOS's namespace, read by rancher.go
	}
	for _, k := range table {
		out = append(out, k.Key)
	}
	return out
}
