//go:build qemu

package test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/test/sched"
)

// sleeperSource is the program of the test image: it writes its PID (in
// its own namespace) to the file its argument names, then waits for
// SIGTERM. It prints nothing, so a detached task never blocks on output.
const sleeperSource = `package main

import (
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func main() {
	if len(os.Args) > 1 {
		os.WriteFile(os.Args[1], []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
`

// buildSleeper builds sleeperSource as a static program.
func buildSleeper(t *testing.T) []byte {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go: %v", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(sleeperSource), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "sleeper")
	cmd := exec.CommandContext(sched.Ctx(t), goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", out, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOTOOLCHAIN=local", "GO111MODULE=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the test image's program: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ociArchive is an OCI image layout as a tar, the format `ctr image
// import` reads: one uncompressed layer holding /app, a config whose
// entrypoint is /app, a manifest, and an index that names the image ref.
func ociArchive(t *testing.T, ref string, app []byte) []byte {
	t.Helper()
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	epoch := time.Unix(0, 0)
	lw.WriteHeader(&tar.Header{Name: "app", Mode: 0o755, Size: int64(len(app)), Typeflag: tar.TypeReg, ModTime: epoch})
	lw.Write(app)
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	blobs := map[string][]byte{}
	desc := func(mediaType string, b []byte) map[string]any {
		d := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
		blobs[d] = b
		return map[string]any{"mediaType": mediaType, "digest": d, "size": len(b)}
	}
	mustJSON := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	layerDesc := desc("application/vnd.oci.image.layer.v1.tar", layer.Bytes())
	config := mustJSON(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Entrypoint": []string{"/app"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDesc["digest"].(string)}},
	})
	manifest := mustJSON(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": desc("application/vnd.oci.image.config.v1+json", config),
		"layers": []any{layerDesc},
	})
	mdesc := desc("application/vnd.oci.image.manifest.v1+json", manifest)
	mdesc["platform"] = map[string]string{"architecture": "amd64", "os": "linux"}
	mdesc["annotations"] = map[string]string{"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref[strings.LastIndex(ref, ":")+1:]}
	index := mustJSON(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []any{mdesc}})

	var out bytes.Buffer
	w := tar.NewWriter(&out)
	file := func(name string, b []byte) {
		w.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg, ModTime: epoch})
		w.Write(b)
	}
	file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	file("index.json", index)
	for d, b := range blobs {
		file("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), b)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// systemServices are the system containerd's containers, which no user
// ctr command may see.
var systemServices = []string{"udev", "logging", "network", "console", "containerd"}

// userContainers: a user's containers run on the user containerd, which
// `ctr` in the console reaches with no flags, and never see the system
// containerd. The test makes an OCI image tarball of a static program,
// serves it over HTTP, and the guest fetches it with wget, imports it and
// runs it detached with a bind of /home. The container survives a console
// restart with the same PID; the image and the container record survive a
// reboot, and the container starts again.
func userContainers(t *testing.T) {
	const ref = "docker.io/berth/sleeper:1"
	image := ociArchive(t, ref, buildSleeper(t))
	port, _ := serve(t, map[string]string{"/sleeper.tar": string(image)})
	m := fork(t, nil)

	var ctrdPID int
	m.check("service", func(m *machine) {
		s := m.services()["containerd"]
		if s.State != "running" || s.PID == 0 {
			m.t.Fatalf("the containerd service is %s (pid %d): %s", s.State, s.PID, s.Error)
		}
		ctrdPID = s.PID
		root := fmt.Sprintf("/proc/%d/root", ctrdPID)
		// containerd runs in the service's leaf cgroup, and the service's
		// cgroup gives its controllers to users' containers.
		if cg := m.sh(fmt.Sprintf("cat /proc/%d/cgroup", ctrdPID)); !strings.HasSuffix(strings.TrimSpace(cg), "/containerd/_daemon") {
			m.t.Errorf("containerd's cgroup: %q, want the service's leaf .../containerd/_daemon", cg)
		}
		if sub := m.sh("cat " + root + "/sys/fs/cgroup/cgroup.subtree_control"); !strings.Contains(sub, "memory") || !strings.Contains(sub, "pids") {
			m.t.Errorf("the service's cgroup.subtree_control: %q, want memory and pids for users' containers", sub)
		}
		mem := strings.TrimSpace(m.sh("cat " + root + "/sys/fs/cgroup/memory.current"))
		rss := strings.Join(strings.Fields(m.sh(fmt.Sprintf("grep -E '^(VmRSS|RssAnon|RssFile)' /proc/%d/status", ctrdPID))), " ")
		m.t.Logf("user containerd after boot: service memory.current %s bytes; berth-containerd %s", mem, rss)
		// containerd starts on first use: until then the service is
		// berth-containerd alone, holding the socket.
		if comm := strings.TrimSpace(m.sh(fmt.Sprintf("cat /proc/%d/comm", ctrdPID))); comm != "berth-container" {
			m.t.Errorf("the containerd service's process is %q, want berth-containerd (comm berth-container)", comm)
		}
		if pids := m.userContainerd(ctrdPID); len(pids) != 0 {
			m.t.Errorf("containerd runs (pids %v) before anything used its socket", pids)
		}
	})

	m.check("runtimes", func(m *machine) {
		// PID 1 runs crun --version on the host: crun and its libraries
		// are there, and the system services' runtime is crun.
		out := m.sh("hostctl version")
		if !regexp.MustCompile(`(?m)^crun +1\.[0-9]+\.[0-9]+ \(system services\)$`).MatchString(out) || !regexp.MustCompile(`(?m)^runc +1\.`).MatchString(out) {
			m.t.Errorf("hostctl version: want a crun line for the system services and a runc line:\n%s", out)
		}
	})

	m.check("socket", func(m *machine) {
		m.sh("test -S /run/containerd/containerd.sock")
		// The system containerd's folder, socket and shims are not in
		// the console: not its folder, and not the shims' sockets and runc
		// state that containerd would put under /run/containerd.
		if out, code := m.shCode("ls -d /run/system-containerd"); code == 0 {
			m.t.Errorf("the console sees the system containerd's folder: %s", out)
		}
		if out, code := m.shCode("ctr -a /run/system-containerd/containerd.sock version"); code == 0 {
			m.t.Errorf("ctr reached the system containerd from the console:\n%s", out)
		}
		if out := m.sh("find /run/containerd/s /run/containerd/runc -mindepth 1 2>/dev/null; true"); strings.TrimSpace(out) != "" {
			m.t.Errorf("before any user container, the console's /run/containerd holds shim sockets or runc state (the system's):\n%s", out)
		}
		if out := m.sh("ctr version"); !strings.Contains(out, "Server:") {
			m.t.Errorf("ctr version: %s", out)
		}
		// That first connection started containerd, a child of the
		// service's process, in its leaf cgroup.
		pids := m.userContainerd(ctrdPID)
		if len(pids) != 1 {
			m.t.Fatalf("after ctr version, containerd in the service's leaf cgroup: pids %v, want one", pids)
		}
		if ppid := strings.TrimSpace(m.sh("awk '/^PPid:/{print $2}' /proc/" + pids[0] + "/status")); ppid != strconv.Itoa(ctrdPID) {
			m.t.Errorf("containerd's parent is %s, want the service's berth-containerd (%d)", ppid, ctrdPID)
		}
	})

	m.check("plugins", func(m *machine) {
		// containerd loads the plugins of tools/containerd/plugins.go:
		// none failed, and the ones ctr and the restart monitor use are
		// there.
		out := m.sh("ctr plugins ls")
		for _, want := range []string{
			`io\.containerd\.snapshotter\.v1\s+overlayfs\s+\S+\s+ok`,
			`io\.containerd\.snapshotter\.v1\s+native\s+\S+\s+ok`,
			`io\.containerd\.transfer\.v1\s+local\s+\S+\s+ok`,
			`io\.containerd\.monitor\.container\.v1\s+restart\s+\S+\s+ok`,
			`io\.containerd\.service\.v1\s+tasks-service\s+\S+\s+ok`,
		} {
			if !regexp.MustCompile(`(?m)^` + want + `\s*$`).MatchString(out) {
				m.t.Errorf("ctr plugins ls: no line %q:\n%s", want, out)
			}
		}
		if bad := regexp.MustCompile(`(?m)^.*\serror\s*$`).FindAllString(out, -1); len(bad) > 0 {
			m.t.Errorf("ctr plugins ls: plugins that failed to load:\n%s", strings.Join(bad, "\n"))
		}
		// The plugins Berth leaves out (NRI, erofs, blockfile) its
		// config turns off too, so ctr would not list them either way:
		// the program itself (ctr is containerd) must not have their
		// code, whose package paths its symbol table names (strings
		// ended by NUL: busybox grep -z reads them; overlayfs's shows it
		// does).
		left := []string{"github.com/containerd/nri", "github.com/tetratelabs/wazero", "plugins/snapshots/erofs", "plugins/snapshots/blockfile"}
		cmd := "grep -z -o -F -e plugins/snapshots/overlay"
		for _, pkg := range left {
			cmd += " -e " + pkg
		}
		found := strings.Fields(m.sh(cmd + " /usr/bin/ctr | tr '\\0' '\\n' | sort -u"))
		if !slices.Contains(found, "plugins/snapshots/overlay") {
			m.t.Errorf("grep -z finds no plugins/snapshots/overlay in /usr/bin/ctr (found %q): it cannot tell which plugins containerd has", found)
		}
		for _, pkg := range left {
			if slices.Contains(found, pkg) {
				m.t.Errorf("/usr/bin/ctr (containerd) has code of %s, which Berth leaves out", pkg)
			}
		}
	})

	var pid string
	m.check("import-and-run", func(m *machine) {
		m.sh(fmt.Sprintf("wget -q -O /root/sleeper.tar http://10.0.2.2:%d/sleeper.tar", port))
		m.sh("ctr image import /root/sleeper.tar")
		if out := m.sh("ctr image ls -q"); !strings.Contains(out, ref) {
			m.t.Fatalf("ctr image ls after import:\n%s\nwant %s", out, ref)
		}
		m.sh("mkdir -p /home/ctr-test && rm -f /home/ctr-test/pid")
		m.sh("ctr run -d --mount type=bind,src=/home/ctr-test,dst=/data,options=rbind:rw " + ref + " sleeper /app /data/pid")
		pid = m.taskPID("sleeper")
		// The bind from /home reached the container: it wrote its PID there
		// (1, in its own PID namespace).
		m.eventually("cat /home/ctr-test/pid", regexp.MustCompile(`^1\s*$`), time.Minute)
		// Its cgroup nests in the service's: <service>/<namespace>/<id>.
		if cg := m.sh("cat /proc/" + pid + "/cgroup"); !strings.Contains(cg, "/containerd/default/sleeper") {
			m.t.Errorf("the container's cgroup: %q, want it under the containerd service's (/containerd/default/sleeper)", cg)
		}
		if out := m.sh("ls /run/containerd/runc"); strings.TrimSpace(out) != "default" {
			m.t.Errorf("runc state in /run/containerd/runc: %q, want only the user's namespace default", out)
		}
	})

	m.check("system-services-hidden", func(m *machine) {
		nss := strings.Fields(m.sh("ctr namespaces ls -q"))
		for _, ns := range nss {
			out := m.sh("ctr -n " + ns + " containers ls -q")
			for _, c := range strings.Fields(out) {
				for _, s := range systemServices {
					if c == s {
						m.t.Errorf("ctr -n %s containers ls shows the system service %s", ns, s)
					}
				}
			}
		}
		if out := m.sh("ctr -n system containers ls -q"); strings.TrimSpace(out) != "" {
			m.t.Errorf("ctr -n system containers ls: %q, want none", out)
		}
	})

	m.check("console-restart-keeps-container", func(m *machine) {
		if pid == "" {
			m.t.Skip("no container")
		}
		m.restartConsole()
		if got := m.taskPID("sleeper"); got != pid {
			m.t.Errorf("after hostctl service restart console the container's PID is %s, want %s", got, pid)
		}
		if s := m.services()["containerd"]; s.PID != ctrdPID {
			m.t.Errorf("the containerd service's PID went from %d to %d with the console's restart", ctrdPID, s.PID)
		}
	})

	m.check("reboot-keeps-image-and-container", func(m *machine) {
		// containerd's restart monitor is to start this container after
		// the boot: so containerd starts with the boot, not on first use.
		m.sh("ctr containers label sleeper containerd.io/restart.status=running")
		// The chosen console's image is in no store and no registry: the
		// boot falls back to the default console and says why.
		m.sh("hostctl config set berth.console alpine")
		m.Send("hostctl reboot\n")
		m.waitReady()
		const why = `console alpine cannot start: .*; the default console runs instead`
		if out := m.sh("hostctl console list"); !regexp.MustCompile(`(?m)^default\s+console\s+built-in\s+-\s+yes`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^alpine\s+console-alpine\s+\S+\s+yes\s+-`).MatchString(out) || !regexp.MustCompile(why).MatchString(out) {
			m.t.Errorf("console list after a boot whose console cannot start:\n%s\nwant alpine chosen, not running; the default running; and %q", out, why)
		}
		if out := m.sh("hostctl config status"); !regexp.MustCompile(`berth\.console: ` + why).MatchString(out) {
			m.t.Errorf("hostctl config status lacks the console's warning %q:\n%s", why, out)
		}
		// Before any ctr command: containerd runs, because of the label.
		if s := m.services()["containerd"]; len(m.userContainerd(s.PID)) != 1 {
			m.t.Errorf("after a reboot with a restart-labelled container, containerd does not run in the service (pid %d) before its first use", s.PID)
		}
		if out := m.sh("ctr image ls -q"); !strings.Contains(out, ref) {
			m.t.Errorf("after a reboot ctr image ls:\n%s\nwant %s", out, ref)
		}
		if out := m.sh("ctr containers ls -q"); !strings.Contains(out, "sleeper") {
			m.t.Fatalf("after a reboot ctr containers ls:\n%s\nwant the container record sleeper", out)
		}
		// Its task ended with the old boot; containerd's restart monitor
		// starts it again from the kept snapshot.
		m.taskPID("sleeper")
	})
}

// userContainerd returns the PIDs of the containerd processes in the
// containerd service's leaf cgroup; svcPID is the service's process.
func (m *machine) userContainerd(svcPID int) []string {
	m.t.Helper()
	out := m.sh(fmt.Sprintf(`for p in $(cat /proc/%d/root/sys/fs/cgroup/_daemon/cgroup.procs); do [ "$(cat /proc/$p/comm 2>/dev/null)" = containerd ] && echo $p; done; true`, svcPID))
	return strings.Fields(out)
}

// taskPID waits for the task of a container to run on the user containerd
// and returns its PID (the host's: the console shares its PID namespace).
func (m *machine) taskPID(id string) string {
	m.t.Helper()
	out := m.eventually("ctr task ls", regexp.MustCompile(`(?m)^`+id+`\s+[0-9]+\s+RUNNING`), time.Minute)
	f := regexp.MustCompile(`(?m)^` + id + `\s+([0-9]+)\s+RUNNING`).FindStringSubmatch(out)
	if _, err := strconv.Atoi(f[1]); err != nil || f[1] == "0" {
		m.t.Fatalf("ctr task ls: pid %q", f[1])
	}
	return f[1]
}

// restartConsole restarts the console from itself: the shell on the
// serial console goes with it, and a new one comes with the new console.
func (m *machine) restartConsole() {
	m.t.Helper()
	old := m.services()["console"].PID
	m.Send("hostctl service restart console\n")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		time.Sleep(2 * time.Second)
		m.Send("\n")
		out, code, err := m.Run("hostctl service list -o json", 15*time.Second)
		if err == nil && code == 0 {
			var list []api.Service
			if json.Unmarshal([]byte(out), &list) == nil {
				for _, s := range list {
					if s.Name == "console" && s.State == api.StateRunning && s.PID != 0 && s.PID != old {
						return
					}
				}
			}
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("the console did not come back with another PID than %d: %v %q", old, err, out)
		}
	}
}
