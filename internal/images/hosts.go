package images

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berth-os/berth/internal/atomicfile"
)

// HostsDir is where registry hosts are configured, in containerd's
// hosts.toml layout: <HostsDir>/<registry>/hosts.toml. PID 1 renders it
// from berth.registry_mirrors with /etc; Berth's pulls, both containerds
// and `ctr --hosts-dir` read the same folder.
const HostsDir = "/etc/containerd/certs.d"

// HostsFile is the name of a registry's file in its folder under HostsDir.
const HostsFile = "hosts.toml"

// DockerHub is the registry that references without a host name mean.
const DockerHub = "docker.io"

// upstream is the URL a registry's own endpoint is reached at once its
// mirrors have failed (Docker Hub's API is not at docker.io).
func upstream(registry string) string {
	if registry == DockerHub {
		return "https://registry-1.docker.io"
	}
	return "https://" + registry
}

// HostsFiles renders registry mirrors as containerd's hosts.toml files,
// by path relative to HostsDir. A registry's mirrors are tried in order
// for pulls and resolves, then the registry itself.
func HostsFiles(mirrors map[string][]string) map[string]string {
	out := map[string]string{}
	for reg, urls := range mirrors {
		var b strings.Builder
		fmt.Fprintf(&b, "# Rendered by Berth from berth.registry_mirrors.%s: mirrors first, then the registry.\n", reg)
		fmt.Fprintf(&b, "server = %s\n", tomlString(upstream(reg)))
		for _, u := range urls {
			fmt.Fprintf(&b, "\n[host.%s]\n  capabilities = [\"pull\", \"resolve\"]\n", tomlString(u))
		}
		out[reg+"/"+HostsFile] = b.String()
	}
	return out
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// WriteHosts puts the hosts.toml files of mirrors under dir, each file
// replaced in one rename, and then removes those of registries no longer
// configured (RemoveOtherHosts).
func WriteHosts(dir string, mirrors map[string][]string) error {
	files := HostsFiles(mirrors)
	names := make([]string, 0, len(files))
	for p := range files {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("registry hosts: %w", err)
		}
		if err := atomicfile.Write(full, []byte(files[p]), 0o644); err != nil {
			return fmt.Errorf("registry hosts: %w", err)
		}
	}
	return RemoveOtherHosts(dir, mirrors)
}

// RemoveOtherHosts removes the hosts.toml of registries that mirrors does
// not name from dir, and their folders when that leaves them empty
// (certificates the admin put there stay).
func RemoveOtherHosts(dir string, mirrors map[string][]string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("registry hosts: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if _, ok := mirrors[e.Name()]; ok {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		if err := os.Remove(filepath.Join(sub, HostsFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("registry hosts: %w", err))
			continue
		}
		os.Remove(sub) // only when empty: certificates stay
	}
	return errors.Join(errs...)
}
