//go:build qemu

package test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/init/api"
)

// shimBound is how long every system service may take to run again after
// the shim they share is killed (TCG, another VM beside it).
const shimBound = 60 * time.Second

// userServices (issue 7, items 2, 4 and Tests): with docker.io mirrored
// to the test registry, hostctl service enable FILE --now runs a service
// of debian:bookworm, listed as a user service with its file; a broken
// file and a URL with a wrong #sha256 fail non-zero, naming what is wrong,
// and change nothing; a service that exits 3 restarts with backoff and
// its status shows the restarts and the exit status; berth.services.define
// starts a valid inline service and reports a broken one; a stored file broken
// by hand is reported in hostctl config status and the rest boots ready;
// killing the shim that the system services share brings every one back
// within shimBound; the user service survives a reboot.
func userServices(t *testing.T) {
	srv, _ := testRegistry(t)
	const webDoc = "services:\n  web:\n    image: debian:bookworm\n    command: [sleep, infinity]\n"
	srv.Serve("web.yaml", []byte(webDoc))
	m := fork(t, nil)
	m.mirrorDockerIO(srv.GuestURL())
	nothingChanged := func(m *machine, what string) {
		m.t.Helper()
		if out := m.sh("ls /var/lib/berth/services/ 2>&1; cat " + localConfig + " 2>&1; true"); strings.Contains(out, "web") || strings.Contains(out, "bad") {
			m.t.Errorf("%s changed something: the services folder or the local config names it:\n%s", what, out)
		}
	}

	m.check("BrokenFile", func(m *machine) {
		m.sh(`printf 'services:\n  bad:\n    image: debian:bookworm\n    comand: [sleep, infinity]\n' > /var/tmp/bad.yaml`)
		out, code := m.shCode("hostctl service enable /var/tmp/bad.yaml --now 2>&1")
		if code == 0 || !strings.Contains(out, "/var/tmp/bad.yaml:4: services.bad.comand: unknown key") {
			m.t.Errorf("enable of a broken file: exit %d, want non-zero naming the file, line and field\n%s", code, out)
		}
		nothingChanged(m, "a broken file's enable")
	})
	m.check("WrongPin", func(m *machine) {
		url := srv.GuestURL() + "/files/web.yaml#sha256=" + strings.Repeat("0", 64)
		out, code := m.shCode("hostctl service enable '" + url + "' 2>&1")
		if code == 0 || !strings.Contains(out, "refused: its sha256 is") {
			m.t.Errorf("enable of a URL with a wrong pin: exit %d, want non-zero, refused\n%s", code, out)
		}
		nothingChanged(m, "a wrongly pinned URL's enable")
	})
	if !m.check("EnableFile", func(m *machine) {
		m.sh(`printf '` + strings.ReplaceAll(webDoc, "\n", `\n`) + `' > /var/tmp/web.yaml`)
		out, code, err := m.Run("hostctl service enable /var/tmp/web.yaml --now 2>&1", 10*time.Minute)
		if err != nil || code != 0 {
			m.t.Fatalf("hostctl service enable /var/tmp/web.yaml --now: exit %d, %v\n%s", code, err, out)
		}
		m.eventually("hostctl service list", regexp.MustCompile(`(?m)^web\s+user:/var/tmp/web\.yaml\s+yes\s+running\s`), time.Minute)
		pid := m.services()["web"].PID
		if out := m.sh("cat /proc/" + strconv.Itoa(pid) + "/cmdline | tr '\\0' ' '"); !strings.Contains(out, "sleep infinity") {
			m.t.Errorf("web's main process runs %q, want sleep infinity", out)
		}
	}) {
		return
	}
	m.check("ExitBackoff", func(m *machine) {
		m.sh(`printf 'services:\n  crash:\n    image: debian:bookworm\n    command: [sh, -c, "exit 3"]\n' > /var/tmp/crash.yaml`)
		m.shCode("hostctl service enable /var/tmp/crash.yaml --now 2>&1")
		// Restarted with backoff: the count grows, the last exit is 3.
		out := m.eventually("hostctl service status crash", regexp.MustCompile(`(?m)^restarts:\s+([3-9]|\d\d)`), 2*time.Minute)
		if !regexp.MustCompile(`(?m)^last exit:\s+status 3 at `).MatchString(out) {
			m.t.Errorf("crash's status lacks its last exit status 3:\n%s", out)
		}
		s := m.services()["crash"]
		if s.Restarts < 3 || (s.State != api.StateBackoff && s.State != "starting" && s.State != "running") {
			m.t.Errorf("crash: %+v, want restarts >= 3 and backoff", s)
		}
		m.sh("hostctl service disable crash --now && hostctl service rm crash")
		if out := m.sh("ls /var/lib/berth/services/"); strings.Contains(out, "crash") {
			m.t.Errorf("rm left crash's file: %s", out)
		}
	})
	m.check("CloudConfigDefine", func(m *machine) {
		// berth.services.define through the local layer (as user-data
		// would at boot): the valid service starts at once, the broken one
		// is said with its field, and the rest applies.
		m.sh(`printf 'berth:\n  services:\n    define:\n      cloudweb: {image: "debian:bookworm", command: [sleep, infinity]}\n      broken: {image: "debian:bookworm", comand: [x]}\n' > /var/tmp/define.yaml`)
		out, code, err := m.Run("hostctl config merge -i /var/tmp/define.yaml 2>&1", 5*time.Minute)
		if err != nil || code != 0 {
			m.t.Fatalf("hostctl config merge of berth.services.define: exit %d, %v\n%s", code, err, out)
		}
		m.eventually("hostctl service list", regexp.MustCompile(`(?m)^cloudweb\s+user:cloud-config\s+yes\s+running\s`), 2*time.Minute)
		if out := m.sh("hostctl config status 2>&1"); !strings.Contains(out, "berth.services.define.broken.comand: unknown key") {
			m.t.Errorf("hostctl config status does not report the broken definition's field:\n%s", out)
		}
	})
	m.check("ShimKill", func(m *machine) {
		before := m.services()
		console := before["console"].PID
		shim := strings.TrimSpace(m.sh("awk '/^PPid:/{print $2}' /proc/" + strconv.Itoa(console) + "/status"))
		if comm := m.sh("cat /proc/" + shim + "/comm"); !strings.Contains(comm, "containerd-shim") {
			m.t.Fatalf("the console's parent %s is %q, want the shim", shim, comm)
		}
		// Every system service in that shim (the console's shell goes
		// with it: the harness takes the new one).
		begin := time.Now()
		m.Send("kill -KILL " + shim + "\n")
		// The new console's getty logs in again: its banner, then a shell.
		if _, at, err := m.WaitFor(regexp.MustCompile(`an immutable container host`), 2*time.Minute); err != nil {
			m.t.Fatalf("no new console after the shim was killed: %v", err)
		} else {
			m.t.Logf("the console's banner again %s after the kill", at.Sub(begin).Round(time.Second))
		}
		m.waitShell()
		deadline := begin.Add(2 * shimBound)
		for {
			after := m.services()
			var down []string
			for name, s := range before {
				if !s.Enabled {
					continue
				}
				if a := after[name]; a.State != api.StateRunning || a.PID == 0 {
					down = append(down, fmt.Sprintf("%s %s", name, a.State))
				}
			}
			if len(down) == 0 {
				took := time.Since(begin)
				m.t.Logf("every service running again %s after the shim was killed", took.Round(time.Second))
				if took > shimBound {
					m.t.Errorf("services back after %s, want within %s", took.Round(time.Second), shimBound)
				}
				if after["console"].PID == console {
					m.t.Errorf("the console kept its PID %d after its shim was killed", console)
				}
				break
			}
			if time.Now().After(deadline) {
				m.t.Fatalf("after %s still down: %v", time.Since(begin).Round(time.Second), down)
			}
			time.Sleep(2 * time.Second)
		}
	})
	m.check("BrokenStoredFile", func(m *machine) {
		m.sh(`printf 'services:\n  hand:\n    image: debian:bookworm\n    comand: [true]\n' > /var/lib/berth/services/hand.yaml`)
		m.Send("hostctl reboot\n")
		m.waitReady() // fails on a degraded boot
		out := m.sh("hostctl config status 2>&1")
		if !strings.Contains(out, "user service hand is left out: /var/lib/berth/services/hand.yaml:4: services.hand.comand: unknown key") {
			m.t.Errorf("hostctl config status does not report the broken stored file:\n%s", out)
		}
		if !strings.Contains(out, "berth.services.define.broken.comand: unknown key") {
			m.t.Errorf("hostctl config status does not report the broken definition after the reboot:\n%s", out)
		}
		// The user services survive the reboot.
		m.eventually("hostctl service list", regexp.MustCompile(`(?m)^web\s+user:/var/tmp/web\.yaml\s+yes\s+running\s`), 2*time.Minute)
		m.eventually("hostctl service list", regexp.MustCompile(`(?m)^cloudweb\s+user:cloud-config\s+yes\s+running\s`), 2*time.Minute)
	})
}
