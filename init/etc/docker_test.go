package etc

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// daemon.json: Docker Hub's mirrors, each plain-HTTP mirror's host as an
// insecure registry (other registries' too), mirrors with a path left out,
// the store on the state partition with overlay2.
func TestDockerConfig(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mirrors  map[string][]string
		mirror   []string
		insecure []string
	}{
		{name: "none", mirror: []string{}, insecure: []string{}},
		{name: "hub over http and https", mirrors: map[string][]string{
			"docker.io": {"http://10.0.2.2:5000", "https://mirror.lan/"},
		}, mirror: []string{"http://10.0.2.2:5000", "https://mirror.lan"}, insecure: []string{"10.0.2.2:5000"}},
		{name: "other registries give insecure hosts only", mirrors: map[string][]string{
			"ghcr.io":          {"http://cache.lan:5001", "https://cache.lan"},
			"registry.lan:443": {"http://cache.lan:5001"},
		}, mirror: []string{}, insecure: []string{"cache.lan:5001"}},
		{name: "a mirror with a path is left out", mirrors: map[string][]string{
			"docker.io": {"https://mirror.lan/v2/hub", "http://plain.lan:80/x", "https://ok.lan"},
		}, mirror: []string{"https://ok.lan"}, insecure: []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := DockerConfig(tc.mirrors)
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("daemon.json is no JSON: %v\n%s", err, out)
			}
			want := map[string]any{
				"data-root": "/var/lib/docker", "storage-driver": "overlay2",
				"registry-mirrors": strs(tc.mirror), "insecure-registries": strs(tc.insecure),
				"log-driver": "json-file", "log-opts": map[string]any{"max-size": "10m", "max-file": "3"},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("daemon.json (-want +got)\n%s", diff)
			}
		})
	}
}

func strs(s []string) []any {
	out := []any{}
	for _, v := range s {
		out = append(out, v)
	}
	return out
}

// /etc has daemon.json, and the profile finds the docker CLI and socket.
func TestDockerFiles(t *testing.T) {
	files := map[string]string{}
	for _, f := range Files(Config{RegistryMirrors: map[string][]string{"docker.io": {"http://10.0.2.2:5000"}}}) {
		files[f.Path] = f.Content
	}
	if !strings.Contains(files["berth/docker/daemon.json"], `"http://10.0.2.2:5000"`) {
		t.Errorf("berth/docker/daemon.json lacks the mirror:\n%s", files["berth/docker/daemon.json"])
	}
	for _, want := range []string{":/var/lib/docker/bin\n", "\n. /etc/berth/profile.sh\n"} {
		if !strings.Contains(files["profile"], want) {
			t.Errorf("profile lacks %q:\n%s", want, files["profile"])
		}
	}
}

// Login shells get the docker socket and berth.proxy, each value quoted
// for sh.
func TestProfile(t *testing.T) {
	files := map[string]string{}
	for _, f := range Files(Config{ProxyEnv: []string{"HTTP_PROXY=http://p:1", "no_proxy=a,b'c"}}) {
		files[f.Path] = f.Content
	}
	for _, want := range []string{"export DOCKER_HOST='unix:///run/docker/docker.sock'\n", "export HTTP_PROXY='http://p:1'\n", `export no_proxy='a,b'\''c'` + "\n"} {
		if !strings.Contains(files["berth/profile.sh"], want) {
			t.Errorf("berth/profile.sh lacks %q:\n%s", want, files["berth/profile.sh"])
		}
	}
}
