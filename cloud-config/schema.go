package cloudconfig

import (
	"time"

	"github.com/berth-os/berth/internal/netconfig"
)

// Config is one layer of configuration, or the merged result.
//
// The effect tag says what a change of the key takes; a field without one
// inherits its parent's. Values: live, reboot, stored (validated and kept,
// applied by a mechanism a later release brings), restart=<service>,
// services (the system services to run: PID 1 starts and stops the
// difference at once).
type Config struct {
	Hostname          string      `yaml:"hostname,omitempty" effect:"live"`
	FQDN              string      `yaml:"fqdn,omitempty" effect:"live"`
	Users             []User      `yaml:"users,omitempty" effect:"live"`
	SSHAuthorizedKeys []string    `yaml:"ssh_authorized_keys,omitempty" effect:"live"`
	SSHPwauth         *bool       `yaml:"ssh_pwauth,omitempty" effect:"restart=console"`
	WriteFiles        []WriteFile `yaml:"write_files,omitempty" effect:"reboot"`
	Bootcmd           []Command   `yaml:"bootcmd,omitempty" effect:"reboot"`
	Runcmd            []Command   `yaml:"runcmd,omitempty" effect:"reboot"`
	NTP               *NTP        `yaml:"ntp,omitempty" effect:"restart=ntp"`
	Timezone          string      `yaml:"timezone,omitempty" effect:"live"`
	Mounts            [][]string  `yaml:"mounts,omitempty" effect:"reboot"`
	Swap              *Swap       `yaml:"swap,omitempty" effect:"reboot"`
	CACerts           *CACerts    `yaml:"ca_certs,omitempty" effect:"live"`
	Growpart          *Growpart   `yaml:"growpart,omitempty" effect:"reboot"`
	ResizeRootfs      *bool       `yaml:"resize_rootfs,omitempty" effect:"reboot"`
	PowerState        *PowerState `yaml:"power_state,omitempty" effect:"reboot"`
	SSHKeys           SSHKeys     `yaml:"ssh_keys,omitempty" effect:"restart=console"`
	// SSHGenkeytypes are the host key types sshd offers, and the console
	// makes when ssh_keys gives none of a type: ecdsa, ed25519 and rsa by
	// default (cloud-init's ssh_genkeytypes).
	SSHGenkeytypes []string `yaml:"ssh_genkeytypes,omitempty" effect:"restart=console"`
	Berth          Berth    `yaml:"berth,omitempty"`
}

// User is one entry of users.
type User struct {
	Name              string   `yaml:"name"`
	Gecos             string   `yaml:"gecos,omitempty"`
	Groups            List     `yaml:"groups,omitempty"`
	PrimaryGroup      string   `yaml:"primary_group,omitempty"`
	Shell             string   `yaml:"shell,omitempty"`
	Homedir           string   `yaml:"homedir,omitempty"`
	UID               *int     `yaml:"uid,omitempty"`
	System            bool     `yaml:"system,omitempty"`
	LockPasswd        *bool    `yaml:"lock_passwd,omitempty"`
	Passwd            string   `yaml:"passwd,omitempty"`
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys,omitempty"`
}

// WriteFile is one entry of write_files.
type WriteFile struct {
	Path        string `yaml:"path"`
	Content     string `yaml:"content,omitempty"`
	Encoding    string `yaml:"encoding,omitempty"`
	Permissions Mode   `yaml:"permissions,omitempty"`
	Owner       string `yaml:"owner,omitempty"`
	Append      bool   `yaml:"append,omitempty"`
	Defer       bool   `yaml:"defer,omitempty"`
}

// NTP configures time synchronisation: the ntp service's servers and
// pools (HOST or HOST:PORT each). With neither, it uses the Debian pools
// of pool.ntp.org; enabled: false leaves the clock alone.
type NTP struct {
	Enabled *bool    `yaml:"enabled,omitempty"`
	Servers []string `yaml:"servers,omitempty"`
	Pools   []string `yaml:"pools,omitempty"`
}

// Swap makes a swap file.
type Swap struct {
	Filename string `yaml:"filename,omitempty"`
	Size     Size   `yaml:"size,omitempty"`
	MaxSize  Size   `yaml:"maxsize,omitempty"`
}

// CACerts adds trusted certificate authorities.
type CACerts struct {
	RemoveDefaults bool     `yaml:"remove_defaults,omitempty"`
	Trusted        []string `yaml:"trusted,omitempty"`
}

// Growpart grows the state partition to the end of its disk.
type Growpart struct {
	Mode                   string   `yaml:"mode,omitempty"`
	Devices                []string `yaml:"devices,omitempty"`
	IgnoreGrowrootDisabled bool     `yaml:"ignore_growroot_disabled,omitempty"`
}

// PowerState powers off or reboots once the config is applied.
type PowerState struct {
	Mode      string     `yaml:"mode"`
	Delay     string     `yaml:"delay,omitempty"`
	Message   string     `yaml:"message,omitempty"`
	Timeout   int        `yaml:"timeout,omitempty"`
	Condition *Condition `yaml:"condition,omitempty"`
}

// SSHKeys are ssh_keys: sshd host keys given by the user, by
// <type>_private and <type>_public with type ecdsa, ed25519 or rsa. The
// console service installs them instead of making its own.
type SSHKeys map[string]string

// Berth is the berth: namespace; keys follow RancherOS's rancher: where one exists.
type Berth struct {
	Network  Network           `yaml:"network,omitempty" effect:"live"`
	Sysctl   map[string]Scalar `yaml:"sysctl,omitempty" effect:"live"`
	Modules  []string          `yaml:"modules,omitempty" effect:"live"`
	Services Services          `yaml:"services,omitempty" effect:"services"`
	Console  string            `yaml:"console,omitempty" effect:"reboot"`
	State    State             `yaml:"state,omitempty" effect:"reboot"`
	SSH      SSH               `yaml:"ssh,omitempty" effect:"restart=console"`
	// RegistryMirrors are tried in order before a registry itself, by
	// registry host (docker.io): PID 1 renders them in containerd's
	// hosts.toml layout under /etc/containerd/certs.d, which every pull
	// reads.
	RegistryMirrors map[string][]string `yaml:"registry_mirrors,omitempty" effect:"live"`
	// RegistryAuths are credentials for pulls, by registry host: docker.io,
	// or a mirror's host[:port].
	RegistryAuths map[string]RegistryAuth `yaml:"registry_auths,omitempty" effect:"live"`
	// Proxy is the HTTP proxy of image pulls, also rendered as
	// /etc/berth/proxy.env for the services that pull or fetch.
	Proxy       Proxy             `yaml:"proxy,omitempty" effect:"live"`
	Environment map[string]Scalar `yaml:"environment,omitempty" effect:"reboot"`
	Autologin   Autologin         `yaml:"autologin,omitempty" effect:"reboot"`
	// K3s joins the catalogue's k3s service to a cluster: K3S_URL and
	// K3S_TOKEN in its environment, as k3s's own documentation gives them
	// to its container.
	K3s K3s `yaml:"k3s,omitempty" effect:"restart=k3s"`
	// CloudInit is where user-data comes from: berth.cloud_init, as
	// RancherOS's rancher.cloud_init (berth.datasources before config
	// schema 2).
	CloudInit CloudInit `yaml:"cloud_init,omitempty" effect:"reboot"`
	// HypervisorService starts the catalogue's guest agent of the
	// hypervisor the host runs on when its image is in the store; true
	// unless set false.
	HypervisorService *bool `yaml:"hypervisor_service,omitempty" effect:"services"`
	// Containerd is the user containerd's own settings (the containerd
	// service), read at its start: PID 1 renders them as
	// /etc/berth/containerd.conf at boot.
	Containerd Containerd `yaml:"containerd,omitempty"`
	// Install is an unattended hostctl install, run by a host booted from
	// the ISO once its user-data has run.
	Install Install `yaml:"install,omitempty" effect:"reboot"`
	// Upgrade is how a slot being tried (an upgrade, a rollback) proves
	// itself before PID 1 makes it the good one.
	Upgrade Upgrade `yaml:"upgrade,omitempty" effect:"reboot"`
}

// Upgrade is berth.upgrade: a tried slot is good once every enabled system
// service is running (and healthy, where it has a healthcheck) and
// HealthCheck, when given, exits 0, all within HealthTimeout (5m by
// default); otherwise PID 1 reboots, and the slot's tries run out into the
// good slot.
//
// Repository is where hostctl os upgrade and hostctl os list look for
// upgrade bundles when not given one: a registry repository that berth
// push pushed them to, such as registry.lan/berth/os.
type Upgrade struct {
	HealthTimeout string   `yaml:"health_timeout,omitempty"`
	HealthCheck   *Command `yaml:"health_check,omitempty"`
	Repository    string   `yaml:"repository,omitempty" effect:"live"`
}

// DefaultHealthTimeout is berth.upgrade.health_timeout's default.
const DefaultHealthTimeout = 5 * time.Minute

// Timeout is HealthTimeout, or its default.
func (u Upgrade) Timeout() time.Duration {
	if d, err := time.ParseDuration(u.HealthTimeout); err == nil && d > 0 {
		return d
	}
	return DefaultHealthTimeout
}

// Install is berth.install: the disk to install onto, as hostctl install
// takes it, and what the host does once installed. The installed disk's
// state partition gets the same user-data; a host booted from a disk never
// installs.
type Install struct {
	Device string `yaml:"device,omitempty"`
	Wipe   bool   `yaml:"wipe,omitempty"`
	Append string `yaml:"append,omitempty"`
	// Then is poweroff (by default), reboot or none.
	Then string `yaml:"then,omitempty"`
}

// Network is berth.network: the model the network service shares, with
// its checks (package netconfig).
type Network = netconfig.Network

// Interface configures one link, named by its kernel name or mac=<address>.
type Interface = netconfig.Interface

// DNS is berth.network.dns.
type DNS = netconfig.DNS

// Services is berth.services.
type Services struct {
	Enable  []string `yaml:"enable,omitempty"`
	Disable []string `yaml:"disable,omitempty"`
	// Define holds inline service definitions, by name: each a Compose
	// service (the value of services.NAME in a Compose file), as
	// RancherOS's rancher.services held them. They start at boot unless
	// disabled. PID 1 validates them (services.ParseNode): a bad one is
	// said in hostctl config status, and the rest of the config applies.
	Define map[string]any `yaml:"define,omitempty"`
}

// Containerd is berth.containerd.
type Containerd struct {
	// OnDemand starts the user containerd at the first connection to its
	// socket (true, the default) or with the boot (false). A container
	// with containerd's restart label starts it with the boot either way.
	OnDemand *bool `yaml:"on_demand,omitempty"`
}

// AtBoot says whether the user containerd starts with the boot.
func (c Containerd) AtBoot() bool { return c.OnDemand != nil && !*c.OnDemand }

// RegistryAuth is one registry's credentials in berth.registry_auths: a
// username and password, or auth, Docker's base64 of user:password (as
// its config.json and RancherOS's registry_auths hold it).
type RegistryAuth struct {
	Username string `yaml:"username,omitempty"`
	Password string `yaml:"password,omitempty"`
	Auth     string `yaml:"auth,omitempty"`
}

// K3s is berth.k3s. With URL, k3s runs as an agent of the server there
// (k3s agent); without, as a server, which Token, when given, makes the
// cluster's join token.
type K3s struct {
	URL   string `yaml:"url,omitempty"`
	Token string `yaml:"token,omitempty"`
}

// Env is k, as the k3s service's environment, and its command: [agent]
// with a URL, none (the entry's, server) without.
func (k K3s) Env() (env, command []string) {
	if k.Token != "" {
		env = append(env, "K3S_TOKEN="+k.Token)
	}
	if k.URL != "" {
		env = append(env, "K3S_URL="+k.URL)
		command = []string{"agent"}
	}
	return env, command
}

// CloudInit is berth.cloud_init.
type CloudInit struct {
	// Datasources is the order datasources are tried in from the next
	// boot: names, url:URL and file:PATH (berth.datasources= on the
	// kernel command line wins).
	Datasources []string `yaml:"datasources,omitempty"`
}

// Proxy is berth.proxy, in the environment's names.
type Proxy struct {
	HTTPProxy  string `yaml:"http_proxy,omitempty"`
	HTTPSProxy string `yaml:"https_proxy,omitempty"`
	NoProxy    string `yaml:"no_proxy,omitempty"`
}

// State is berth.state.
type State struct {
	Dev        string `yaml:"dev,omitempty"`
	Autoformat *bool  `yaml:"autoformat,omitempty"`
	Wait       *bool  `yaml:"wait,omitempty"`
}

// SSH is berth.ssh.
type SSH struct {
	Port          int    `yaml:"port,omitempty"`
	ListenAddress string `yaml:"listen_address,omitempty"`
}
