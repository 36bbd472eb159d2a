//go:build qemu

package test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/build"
	"github.com/berth-os/berth/build/image"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/test/registry"
	"github.com/berth-os/berth/test/sched"
)

// dockerImage builds the catalogue's docker image (berth build
// --images-only with catalogue_images: [docker]) into the shared cache and
// returns its OCI layout tarball.
func dockerImage(t *testing.T) []byte {
	t.Helper()
	spec, err := image.Load(filepath.Join(moduleRoot, "images", "berth.yaml"), filepath.Join(moduleRoot, "services"))
	if err != nil {
		t.Fatal(err)
	}
	spec.CatalogueImages = []string{"docker"}
	out := t.TempDir()
	start := time.Now()
	res, err := build.Build(sched.Ctx(t), build.Options{Spec: spec, OutDir: out, Cache: assetCache,
		Progress: &progress.Plain{W: io.Discard}, ModuleRoot: moduleRoot, ImagesOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	holdAssets(t, res.Used)
	if len(res.Manifest.Artifacts) != 1 {
		t.Fatalf("docker image build: artifacts %+v, want one", res.Manifest.Artifacts)
	}
	b, err := os.ReadFile(filepath.Join(out, res.Manifest.Artifacts[0].Name))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("docker image: %.1f MB in %.1fs", float64(len(b))/1e6, time.Since(start).Seconds())
	return b
}

// dockerScenario: the catalogue's docker image, imported into the system
// containerd's store, runs as the docker service once enabled; docker from
// the console runs an image of the test registry, pulled through the
// docker.io mirror that berth.registry_mirrors names (daemon.json), with
// overlay2 on the state partition; a change of berth.proxy restarts
// dockerd with the new proxy; after a reboot docker starts again and still
// has the image.
func dockerScenario(t *testing.T) {
	srv, _ := testRegistry(t)
	srv.Serve("docker.oci.tar", dockerImage(t))
	cfg := directBoot(t, "berth.autologin")
	cfg.Memory = 1024
	if err := runCmd("qemu-img", "resize", "-q", cfg.Disks[0].Path, "+2G"); err != nil {
		t.Fatal(err)
	}
	cfg.FwCfg["opt/berth/user-data"] = fmt.Sprintf("#cloud-config\nberth:\n  registry_mirrors:\n    docker.io: [%q]\n", srv.GuestURL())
	m := boot(t, cfg)
	const debian = "docker.io/library/debian:bookworm"

	m.check("EnableWithoutImage", func(m *machine) {
		out, code := m.shCode("hostctl service enable docker 2>&1")
		if code == 0 || !strings.Contains(out, "its image berth.local/docker is not in the local store") {
			m.t.Errorf("enable docker before its image is there: exit %d, want a failure naming the image\n%s", code, out)
		}
		if out := m.sh("hostctl service list"); !regexp.MustCompile(`(?m)^docker\s+catalogue\s+no\s`).MatchString(out) {
			m.t.Errorf("docker after a failed enable: want it listed and not enabled\n%s", out)
		}
	})
	if !m.check("Enable", func(m *machine) { enableDocker(m, srv.GuestURL()) }) {
		return
	}
	m.check("Info", func(m *machine) {
		out := m.sh("docker info --format '{{.Driver}} {{.DockerRootDir}} {{.RegistryConfig.Mirrors}}'")
		if want := "overlay2 /var/lib/docker [" + srv.GuestURL() + "/]"; !strings.Contains(out, want) {
			m.t.Errorf("docker info: %q, want %q", strings.TrimSpace(out), want)
		}
		// /var/lib/docker is on the state partition: the device of
		// /var/lib/berth (the console's binds of it show as /root, /home...).
		out = m.sh("ls /var/lib/docker; df -P /var/lib/docker /var/lib/berth | awk 'NR>1{print \"dev\", $1}'")
		devs := regexp.MustCompile(`(?m)^dev (\S+)`).FindAllStringSubmatch(out, -1)
		if !strings.Contains(out, "overlay2") || len(devs) != 2 || devs[0][1] != devs[1][1] || !strings.HasPrefix(devs[0][1], "/dev/") {
			m.t.Errorf("/var/lib/docker on the state partition: want overlay2 in it and the device of /var/lib/berth:\n%s", out)
		}
	})
	m.check("RunFromMirror", func(m *machine) {
		out, code, err := m.Run("docker run --rm debian:bookworm cat /etc/os-release 2>&1", 10*time.Minute)
		if err != nil || code != 0 || !strings.Contains(out, registry.MarkKey+"="+debian) {
			m.t.Fatalf("docker run debian:bookworm: exit %d, %v, want its os-release marked %s\n%s", code, err, debian, out)
		}
		if !srv.Served("library/debian") {
			m.t.Errorf("the test registry's access log shows no debian manifest served: %q", srv.Requests())
		}
		// Bridge networking and NAT: the container reaches the registry.
		tcp := "/dev/tcp/" + strings.Replace(strings.TrimPrefix(srv.GuestURL(), "http://"), ":", "/", 1)
		out, code = m.shCode("docker run --rm debian:bookworm bash -c 'exec 3<>" + tcp + " && echo connected' 2>&1")
		if code != 0 || !strings.Contains(out, "connected") {
			m.t.Errorf("a container on docker's bridge does not reach %s: exit %d\n%s", srv.GuestURL(), code, out)
		}
	})
	m.check("ProxyChangeRestartsDocker", func(m *machine) {
		old := strings.TrimSpace(m.sh("pidof dockerd"))
		out := m.sh("hostctl config set berth.proxy.no_proxy 10.0.2.2,registry.lan 2>&1")
		m.t.Logf("hostctl config set berth.proxy.no_proxy:\n%s", out)
		m.eventually("docker info --format 'noproxy={{.NoProxy}}' 2>&1", regexp.MustCompile(`noproxy=10\.0\.2\.2,registry\.lan`), 4*time.Minute)
		if pid := strings.TrimSpace(m.sh("pidof dockerd")); pid == old {
			m.t.Errorf("dockerd kept its PID %s across a change of berth.proxy, want a restart", pid)
		}
	})
	m.check("Reboot", func(m *machine) {
		m.Send("hostctl reboot\n")
		m.waitReady()
		m.eventually("docker images --format '{{.Repository}}:{{.Tag}}' 2>&1", regexp.MustCompile(`(?m)^debian:bookworm$`), 4*time.Minute)
		if out := m.sh("hostctl service list"); !regexp.MustCompile(`(?m)^docker\s+catalogue\s+yes\s+running`).MatchString(out) {
			m.t.Errorf("docker after a reboot: want enabled and running\n%s", out)
		}
	})
}

// enableDocker imports the docker image that the test registry serves as
// a file, enables docker --now and waits for dockerd to answer.
func enableDocker(m *machine, registryURL string) {
	m.t.Helper()
	// Each step's time goes to the log: where enabling docker spends it.
	var steps []string
	t0 := time.Now()
	step := func(name string) {
		steps = append(steps, fmt.Sprintf("%s %.1fs", name, time.Since(t0).Seconds()))
		t0 = time.Now()
	}
	// On the state partition: /tmp is RAM.
	m.sh("wget -q -O /var/tmp/docker.oci.tar " + registryURL + "/files/docker.oci.tar")
	step("fetched")
	out, code, err := m.Run("hostctl image import /var/tmp/docker.oci.tar 2>&1; rm -f /var/tmp/docker.oci.tar", 5*time.Minute)
	if err != nil || code != 0 || !strings.Contains(out, "imported berth.local/docker:") {
		m.t.Fatalf("hostctl image import docker.oci.tar: exit %d, %v\n%s", code, err, out)
	}
	step("imported")
	out, code, err = m.Run("hostctl service enable docker --now 2>&1", 5*time.Minute)
	if err != nil || code != 0 {
		m.t.Fatalf("hostctl service enable docker --now: exit %d, %v\n%s", code, err, out)
	}
	step("enabled")
	m.eventually("docker version --format 'server {{.Server.Version}}' 2>&1", regexp.MustCompile(`server 20\.10\.`), 4*time.Minute)
	step("dockerd answered")
	m.t.Logf("docker: %s", strings.Join(steps, ", "))
	// The memory of the service (dockerd and its containerd, in its
	// cgroup) and each containerd's RSS (the system's, the user's, docker's).
	out, _ = m.shCode(`cat /proc/$(pidof dockerd)/root/sys/fs/cgroup/memory.current; for p in $(pidof dockerd containerd); do echo $p $(grep -E 'PPid|VmRSS' /proc/$p/status); done`)
	m.t.Logf("docker service memory.current, then PID PPid VmRSS of dockerd and the containerds:\n%s", out)
}
