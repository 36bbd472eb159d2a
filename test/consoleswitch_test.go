//go:build qemu

package test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/qemu"
	"github.com/berth-os/berth/test/registry"
)

// waitAnyShell waits until a shell on ttyS0 runs commands again, whatever
// its prompt (a distribution console's is its own).
func (m *machine) waitAnyShell(d time.Duration) {
	m.t.Helper()
	deadline := time.Now().Add(d)
	for {
		m.Send("\n")
		if _, code, err := m.Run("true", 10*time.Second); err == nil && code == 0 {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("no shell on the serial console after %s", d)
		}
	}
}

// consoleSwitch (issue 7, item 5): with docker.io mirrored to the test
// registry, enabling a console whose image does not exist fails and
// changes nothing; hostctl service enable console-ubuntu makes Ubuntu (the
// test's marked userland) the console from the next boot, hostctl console
// switch ubuntu makes it the console now: its /etc/os-release is the
// image's, ssh by key works, ctr works there, and no other service and no
// user container (ctr run -d before the switch) restarted; after a reboot
// with no NIC the chosen console comes back.
func consoleSwitch(t *testing.T) {
	srv, _ := testRegistry(t)
	const sleeper = "docker.io/berth/sleeper:1"
	sleeperPort, _ := serve(t, map[string]string{"/sleeper.tar": string(ociArchive(t, sleeper, buildSleeper(t)))})
	cfg := directBoot(t, "berth.autologin")
	if err := runCmd("qemu-img", "resize", "-q", cfg.Disks[0].Path, "+1G"); err != nil {
		t.Fatal(err)
	}
	cfg.HostFwd = []string{sshForward}
	// Root's key and a user with a key come from cloud-config, as they
	// would to any console.
	key, pub := sshKey(t)
	cfg.FwCfg["opt/berth/user-data"] = fmt.Sprintf("#cloud-config\nberth:\n  registry_mirrors:\n    docker.io: [%q]\nssh_authorized_keys: [%q]\nusers:\n  - name: dev\n    ssh_authorized_keys: [%q]\n", srv.GuestURL(), pub, pub)
	m := boot(t, cfg)
	port := m.sshPort()
	const ubuntu = "docker.io/library/ubuntu:24.04"
	mark := registry.MarkKey + "=" + ubuntu

	var export string
	m.check("EnableMissingImage", func(m *machine) {
		export = m.sh("hostctl config export")
		// alpine:3.20 is no image of the test registry.
		out, code := m.shCode("hostctl service enable console-alpine 2>&1")
		if code != 4 || !strings.Contains(out, "pull docker.io/library/alpine:3.20: no such image") {
			m.t.Errorf("enable of a console whose image does not exist: exit %d\n%s\nwant exit 4 and no such image", code, out)
		}
		if after := m.sh("hostctl config export"); after != export {
			m.t.Errorf("a failed enable changed the config:\nbefore:\n%s\nafter:\n%s", export, after)
		}
		if out := m.sh("hostctl console list"); !regexp.MustCompile(`(?m)^default\s+console\s+built-in\s+yes\s+yes`).MatchString(out) {
			m.t.Errorf("after a failed enable, the default is not chosen and running:\n%s", out)
		}
	})
	if !m.check("EnableUbuntu", func(m *machine) {
		out, code, err := m.Run("hostctl service enable console-ubuntu 2>&1", 10*time.Minute)
		if err != nil || code != 0 {
			m.t.Fatalf("hostctl service enable console-ubuntu: exit %d, %v\n%s", code, err, out)
		}
		if got := strings.TrimSpace(m.sh("hostctl config get berth.console")); got != "ubuntu" {
			m.t.Errorf("berth.console = %q after enable, want ubuntu", got)
		}
		out = m.sh("hostctl console list")
		if !regexp.MustCompile(`(?m)^ubuntu\s+console-ubuntu\s+` + regexp.QuoteMeta(ubuntu) + `\s+yes\s+-`).MatchString(out) {
			m.t.Errorf("console list after enable: ubuntu not chosen, or running already:\n%s", out)
		}
	}) {
		return
	}

	ssh := func(cmd string) (string, error) { return sshAs(t, "root", port, key, cmd) }
	// A user container on the user containerd, started before the switch.
	var userPID string
	m.check("UserContainer", func(m *machine) {
		m.sh(fmt.Sprintf("wget -q -O /root/sleeper.tar http://10.0.2.2:%d/sleeper.tar && ctr image import /root/sleeper.tar", sleeperPort))
		m.sh("mkdir -p /home/ctr-test && ctr run -d --mount type=bind,src=/home/ctr-test,dst=/data,options=rbind:rw " + sleeper + " sleeper /app /data/pid")
		userPID = m.taskPID("sleeper")
	})
	before := m.services()

	if !m.check("SwitchUbuntu", func(m *machine) {
		// The shell that runs the switch is the old console's: it ends
		// with it, and the new console's autologin shell takes ttyS0.
		m.Send("hostctl console switch ubuntu\n")
		deadline := time.Now().Add(5 * time.Minute)
		for {
			m.waitAnyShell(5 * time.Minute)
			out, _, _ := m.Run("cat /etc/os-release", 10*time.Second)
			if strings.Contains(out, mark) {
				break
			}
			if time.Now().After(deadline) {
				m.t.Fatalf("the console's /etc/os-release never became the image's (%s); last:\n%s", mark, out)
			}
			time.Sleep(2 * time.Second)
		}
		out := m.sh("hostctl console list")
		if !regexp.MustCompile(`(?m)^ubuntu\s+console-ubuntu\s+\S+\s+yes\s+yes`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^default\s+console\s+built-in\s+-\s+-`).MatchString(out) {
			m.t.Errorf("console list after the switch: want ubuntu chosen and running, default neither:\n%s", out)
		}
		// The user container runs on, with the same PID, and ctr reaches
		// it from the new console.
		if userPID != "" {
			if pid := m.taskPID("sleeper"); pid != userPID {
				m.t.Errorf("the user container's PID after the switch: %s, was %s", pid, userPID)
			}
		}
		after := m.services()
		for name, s := range before {
			if name == "console" || strings.HasPrefix(name, "console-") || s.PID == 0 {
				continue
			}
			if after[name].PID != s.PID {
				m.t.Errorf("the switch restarted %s: PID %d, was %d", name, after[name].PID, s.PID)
			}
		}
		var sout string
		var err error
		for i := 0; i < 10; i++ {
			if sout, err = ssh("cat /etc/os-release; hostctl console list"); err == nil {
				break
			}
			time.Sleep(3 * time.Second)
		}
		if err != nil || !strings.Contains(sout, mark) {
			m.t.Errorf("ssh by key into the new console: %v\n%s\nwant the image's os-release (%s)", err, sout, mark)
		}
		if out, err := sshAs(t, "dev", port, key, "id -un; cat /etc/os-release"); err != nil || !strings.HasPrefix(out, "dev\n") || !strings.Contains(out, mark) {
			m.t.Errorf("ssh as cloud-config's user dev into the new console: %v\n%s\nwant dev, in the image's userland", err, out)
		}
	}) {
		return
	}

	// A reboot with no NIC: the chosen console comes back from the store.
	m.Send("hostctl poweroff\n")
	if err := m.Wait(3 * time.Minute); err != nil {
		t.Fatalf("hostctl poweroff: %v", err)
	}
	served := len(srv.Requests())
	cfg.Net = false
	cfg.HostFwd = nil
	m = launch(t, cfg, qemu.Start)
	m.check("OfflineReboot", func(m *machine) {
		match, _, err := m.WaitFor(readyRe, *readyMax)
		if err != nil {
			m.t.Fatalf("no ready line: %v", err)
		}
		if match[1] != "ready" || !strings.Contains(match[3], "console-ubuntu") {
			m.t.Errorf("ready line %q: want ready, with console-ubuntu", match[0])
		}
		m.waitAnyShell(2 * time.Minute)
		if out := m.sh("cat /etc/os-release"); !strings.Contains(out, mark) {
			m.t.Errorf("after a reboot with no NIC, the console is not the image's:\n%s", out)
		}
		if out := m.sh("hostctl console list"); strings.Contains(out, "runs instead") {
			m.t.Errorf("console list says it fell back:\n%s", out)
		}
		if n := len(srv.Requests()); n != served {
			m.t.Errorf("the registry got %d requests during the offline boot", n-served)
		}
	})
}
