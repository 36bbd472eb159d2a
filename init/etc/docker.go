package etc

import (
	"encoding/json"
	"net/url"
	"slices"

	"github.com/berth-os/berth/internal/images"
)

// DockerConfigFile is where, under /etc, dockerd's daemon.json is
// rendered; the docker service binds its folder and reads it with
// --config-file.
const DockerConfigFile = "berth/docker/daemon.json"

// DockerCLIDir is where the docker service puts the docker CLI of its
// image, on the state partition, for the consoles (in /etc/profile's PATH).
const DockerCLIDir = "/var/lib/docker/bin"

// DockerHost is the docker service's socket, as the docker CLI's
// DOCKER_HOST (in /etc/profile): the folder /run/docker is bound into the
// docker service and the consoles.
const DockerHost = "unix:///run/docker/docker.sock"

// dockerConfig is the part of dockerd's daemon.json Berth sets.
type dockerConfig struct {
	// The state partition's folder, where images, containers and volumes
	// survive reboots; overlay2 is the driver on the ext4 state partition.
	DataRoot      string `json:"data-root"`
	StorageDriver string `json:"storage-driver"`
	// Docker Hub's mirrors: dockerd 20.10 has mirrors for Docker Hub only.
	RegistryMirrors []string `json:"registry-mirrors"`
	// The hosts of plain-HTTP mirrors, which dockerd otherwise reaches
	// over TLS only.
	InsecureRegistries []string `json:"insecure-registries"`
	// Containers' logs on the state partition, bounded.
	LogDriver string            `json:"log-driver"`
	LogOpts   map[string]string `json:"log-opts"`
}

// DockerConfig renders dockerd's daemon.json from berth.registry_mirrors.
// Only docker.io's mirrors are dockerd's (it has no mirrors for other
// registries: those are pulled from the registry itself); a mirror with a
// path (https://mirror.lan/v2/hub) is left out, as dockerd refuses it.
// Every plain-HTTP mirror's host:port is an insecure registry, so that
// dockerd talks HTTP to it.
func DockerConfig(mirrors map[string][]string) string {
	c := dockerConfig{
		DataRoot: "/var/lib/docker", StorageDriver: "overlay2",
		RegistryMirrors: []string{}, InsecureRegistries: []string{},
		LogDriver: "json-file", LogOpts: map[string]string{"max-size": "10m", "max-file": "3"},
	}
	for reg, urls := range mirrors {
		for _, m := range urls {
			u, err := url.Parse(m)
			if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
				continue
			}
			if reg == images.DockerHub {
				c.RegistryMirrors = append(c.RegistryMirrors, u.Scheme+"://"+u.Host)
			}
			if u.Scheme == "http" && !slices.Contains(c.InsecureRegistries, u.Host) {
				c.InsecureRegistries = append(c.InsecureRegistries, u.Host)
			}
		}
	}
	slices.Sort(c.InsecureRegistries)
	b, _ := json.MarshalIndent(c, "", "  ")
	return string(b) + "\n"
}
