package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"

	"github.com/berth-os/berth/build"
	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/image"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/internal/qemu"
)

// dockerMemory measures what the docker service adds: it builds the
// catalogue's docker image, serves it to a VM booted from a fresh overlay
// of the image's disk (1 GiB RAM), which imports it, enables docker and
// waits for dockerd to answer; then it reads the docker service's
// memory.current (dockerd and its containerd 1.6, no container) and
// MemAvailable.
func dockerMemory(ctx context.Context, spec *image.Spec, c *cache.Cache, root, out string, cfg qemu.Config) (memory, error) {
	ds := *spec
	ds.CatalogueImages = []string{"docker"}
	imgDir := filepath.Join(out, "docker-image")
	res, err := build.Build(ctx, build.Options{Spec: &ds, OutDir: imgDir, Cache: c, Progress: &progress.Plain{W: io.Discard}, ModuleRoot: root, ImagesOnly: true})
	if err != nil {
		return memory{}, fmt.Errorf("docker image: %w", err)
	}
	if len(res.Manifest.Artifacts) != 1 {
		return memory{}, fmt.Errorf("docker image: artifacts %+v, want one", res.Manifest.Artifacts)
	}
	tarball := filepath.Join(imgDir, res.Manifest.Artifacts[0].Name)
	url, stop, err := serveFile(tarball)
	if err != nil {
		return memory{}, err
	}
	defer stop()
	vm, done, err := bootOverlay(ctx, cfg, out, "docker")
	if err != nil {
		return memory{}, err
	}
	defer done()
	for _, step := range []struct {
		cmd string
		max time.Duration
	}{
		{"wget -q -O /var/tmp/docker.oci.tar " + url + " && hostctl image import /var/tmp/docker.oci.tar; rm -f /var/tmp/docker.oci.tar", 10 * time.Minute},
		{"hostctl service enable docker --now", 5 * time.Minute},
		{dockerWait, 6 * time.Minute},
	} {
		o, code, err := vm.Run(step.cmd, step.max)
		if err != nil || code != 0 {
			return memory{}, fmt.Errorf("%s: exit %d, %v\n%s", step.cmd, code, err, o)
		}
	}
	time.Sleep(10 * time.Second) // let dockerd settle
	s, _, err := vm.Run(dockerMemoryScript, time.Minute)
	if err != nil {
		return memory{}, err
	}
	return parseDockerMemory(s)
}

// serveFile serves one file over HTTP on the host's 127.0.0.1, at the URL
// a guest on QEMU's user-mode network reaches it by (10.0.2.2); stop ends
// the server.
func serveFile(path string) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) })}
	go srv.Serve(ln)
	return fmt.Sprintf("http://10.0.2.2:%d/%s", ln.Addr().(*net.TCPAddr).Port, filepath.Base(path)), func() { srv.Close() }, nil
}

// bootOverlay boots cfg's image from a fresh qcow2 overlay of its disk
// (4 GiB), with 1 GiB of RAM and a root shell on the serial console, and
// waits for that shell; done kills the VM and removes the overlay.
func bootOverlay(ctx context.Context, cfg qemu.Config, out, name string) (*qemu.VM, func(), error) {
	disk := filepath.Join(out, name+"-state.qcow2")
	os.Remove(disk)
	if o, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", cfg.Disks[0].Path, disk, "4G").CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("qemu-img: %v: %s", err, o)
	}
	work, err := os.MkdirTemp(out, "vm-")
	if err != nil {
		os.Remove(disk)
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(work); os.Remove(disk) }
	cfg.Disks = []qemu.Disk{{Path: disk, Format: "qcow2"}}
	cfg.Memory = 1024
	cfg.QMP = filepath.Join(work, "qmp.sock")
	cfg.FwCfg = map[string]string{"opt/berth/cmdline": "berth.autologin"}
	vm, err := qemu.Start(ctx, cfg, work, nil)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	done := func() { vm.Kill(); cleanup() }
	if _, _, err := vm.WaitFor(regexp.MustCompile(`berth: (ready|degraded) in`), 5*time.Minute); err != nil {
		done()
		return nil, nil, err
	}
	if _, _, err := vm.WaitFor(regexp.MustCompile(`:~# `), 2*time.Minute); err != nil {
		done()
		return nil, nil, err
	}
	return vm, done, nil
}

// dockerWait waits up to 5 minutes for dockerd to answer.
const dockerWait = `i=0; until docker info >/dev/null 2>&1; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 1; done`

// dockerMemoryScript prints MemAvailable and the memory.current of the
// docker service's cgroup: /sys/fs/cgroup in dockerd's root is its
// service's cgroup, which holds its containerd too.
const dockerMemoryScript = `grep MemAvailable /proc/meminfo; echo "docker $(cat /proc/$(pidof dockerd)/root/sys/fs/cgroup/memory.current)"`

// parseDockerMemory reads dockerMemoryScript's output.
func parseDockerMemory(s string) (memory, error) {
	var m memory
	err := scanLines(s,
		field{"MemAvailable line", sscan("MemAvailable: %d kB", &m.availKB)},
		field{"docker service's memory.current", sscan("docker %d", &m.docker)})
	return m, err
}
