// Package layout is the contract between the build and the host: where
// things live in the root filesystem, under /run and on the state
// partition, the GPT names of the partitions, the image info the build
// leaves for PID 1, and the record stage 1 leaves for stage 2. Each fact is
// defined here once; the build writes what the host reads.
package layout

// GPT partition names of a Berth disk.
const (
	PartEFI   = "EFI"
	PartA     = "BERTH_A"
	PartB     = "BERTH_B"
	PartState = "BERTH_STATE"
	// PartBIOS is the BIOS boot partition: GRUB's core image, which the
	// MBR's boot code loads under BIOS firmware.
	PartBIOS = "BIOS"
)

// FactoryDiskGUID is the GPT disk GUID of every disk image the build
// writes: all copies of an image are alike until PID 1's first boot from
// one gives it GUIDs of its own (as Flatcar does with its disk GUID
// 00000000-0000-0000-0000-000000000001). The bootloader names the
// partition it booted from by its GUID (FlagBootPart), and a copy that
// still has the factory GUIDs cannot be told from its original.
const FactoryDiskGUID = "B3A70000-0000-4000-8000-000000000001"

// SlotPart is the GPT name of a root slot ("a" or "b").
func SlotPart(slot string) string {
	if slot == "b" {
		return PartB
	}
	return PartA
}

// In the read-only root filesystem.
const (
	// InfoPath is the image's Info.
	InfoPath = "/usr/share/berth/image.json"
	// UpgradeKeyPath is the public key (PEM) that the image's upgrade
	// bundles are signed with: a host accepts no others.
	UpgradeKeyPath = "/usr/share/berth/upgrade-key.pem"
	// ServicesDir holds a bundle (rootfs/, config.json, service.json) per
	// system service.
	ServicesDir = "/usr/lib/berth/services"
	// CatalogueDir holds the service catalogue: NAME.yaml per entry
	// (console-ubuntu, docker...), from the repository's services/catalogue.
	CatalogueDir = "/usr/share/berth/catalogue"
	// EtcTemplate is what /etc is rendered from at every boot.
	EtcTemplate = "/usr/share/berth/etc"
	// Init is PID 1 (stage 2); /usr/sbin/init links to it.
	Init = "/usr/lib/berth/init"
	// ISORoot is the root squashfs on an ISO, relative to the medium.
	ISORoot = "berth/rootfs.squashfs"
	// ISOLabel is the volume label of a Berth ISO; stage 1 looks for it.
	ISOLabel = "BERTH"
)

// Under /run, made at every boot.
const (
	RunDir = "/run/berth"
	// BootPath is where stage 1 leaves the Boot record.
	BootPath = "/run/berth/boot.json"
	// Media is where an ISO boot's medium stays mounted.
	Media = "/run/berth/media"
	// NetRootDir is where the tmpfs holding a downloaded root
	// (berth.root=URL) stays mounted.
	NetRootDir = "/run/berth/netroot"
	// APISocket is the host API's root-only socket.
	APISocket = "/run/berth/api.sock"
	// PowerDir holds PowerSocket, bound into the guest agents: a line
	// "poweroff" or "reboot" shuts the host down, and nothing else is
	// asked there.
	PowerDir    = "/run/berth/power"
	PowerSocket = PowerDir + "/power.sock"
	// NotifyDir holds the services' sd_notify sockets.
	NotifyDir = "/run/berth/notify"
	// LogDir holds the logging service's sockets.
	LogDir = "/run/berth/log"
	// LogIngest is where PID 1 sends service output to the logging service.
	LogIngest = "/run/berth/log/ingest.sock"
	// Syslog is the logging service's syslog socket (/dev/log links here).
	Syslog = "/run/berth/log/dev-log"
	// NetworkDir is shared by PID 1 and the network service.
	NetworkDir = "/run/berth/network"
	// NetworkConfig is berth.network as PID 1 writes it for the network
	// service.
	NetworkConfig = "/run/berth/network/config.json"
	// ResolvConf is written by the network service; /etc/resolv.conf
	// links here.
	ResolvConf = "/run/berth/network/resolv.conf"

	// SystemContainerdDir is the system containerd's private folder (mode
	// 0700, which no service binds): its state, its socket, its shims'
	// sockets and runc's state of the system services. No user ctr
	// command finds it: the console does not see this folder.
	SystemContainerdDir = "/run/system-containerd"
	// SystemContainerdSocket is where PID 1 reaches the system containerd.
	SystemContainerdSocket = "/run/system-containerd/containerd.sock"
	// SystemContainerdConfig is the system containerd's config, which PID 1
	// writes before it starts containerd: in the private folder, not /etc,
	// since containerd starts while /etc is still being rendered.
	SystemContainerdConfig = "/run/system-containerd/config.toml"
	// SystemRuncRoot is runc's state of the system services (runc's
	// default, /run/containerd/runc, is the user containerd's).
	SystemRuncRoot = "/run/system-containerd/runc"
	// SystemRuntime is the OCI runtime of the system services: crun, a C
	// program, whose create and start cost a fraction of runc's (a Go
	// program started two or three times per container). Users'
	// containers keep runc, containerd's default.
	SystemRuntime = "/usr/bin/crun"
	// UserContainerdDir is the user containerd's state and socket, at the
	// standard place where ctr and docker look: the containerd service and
	// the console bind it.
	UserContainerdDir = "/run/containerd"
)

// SSHHostKeyTypes are the ssh host key types Berth knows (ssh_keys,
// ssh_genkeytypes): those sshd offers by default, in the order it prefers
// them, each a key SSHKeyDir/ssh_host_TYPE_key. cloud-config checks
// against them, PID 1 renders sshd's HostKey lines from them, and the
// console makes the keys.
func SSHHostKeyTypes() []string { return []string{"ed25519", "ecdsa", "rsa"} }

// On the state partition, mounted on /var.
const (
	StateDir  = "/var/lib/berth"
	MachineID = "/var/lib/berth/machine-id"
	SSHKeyDir = "/var/lib/berth/ssh"
	// UsersFile keeps the uids and gids given to cloud-config's users.
	UsersFile = "/var/lib/berth/users.json"
	// ConfigDir is cloud-config's store (layers, status, last user-data).
	ConfigDir = "/var/lib/berth/config"
	// PreloadDir holds image tarballs (OCI layouts, as berth build writes
	// catalogue images) that PID 1 imports into the system containerd at
	// boot, as RancherOS did from /var/lib/rancher/preload: an air-gapped
	// host needs no registry for them.
	PreloadDir = "/var/lib/berth/preload"
	// UserServicesDir holds the user-defined services, one NAME.yaml each
	// (hostctl service enable FILE|URL).
	UserServicesDir = "/var/lib/berth/services"
	// ContainerdDir holds both containerds' stores, each in a folder of
	// its own: neither opens the other's database or snapshots, and the
	// user store can be wiped without touching the system one.
	ContainerdDir = "/var/lib/containerd"
	// SystemContainerdRoot is the system containerd's store.
	SystemContainerdRoot = "/var/lib/containerd/system"
	// UserContainerdRoot is the user containerd's store: users' images,
	// snapshots and containers, kept across reboots.
	UserContainerdRoot = "/var/lib/containerd/user"
)
