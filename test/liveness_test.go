//go:build qemu

package test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/init/api"
)

// services reads hostctl service list -o json.
func (m *machine) services() map[string]api.Service {
	m.t.Helper()
	var list []api.Service
	out := m.sh("hostctl service list -o json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		m.t.Fatalf("hostctl service list -o json: %v\n%s", err, out)
	}
	byName := map[string]api.Service{}
	for _, s := range list {
		byName[s.Name] = s
	}
	return byName
}

// waitRestarted waits until the service runs with another main process
// than old.
func (m *machine) waitRestarted(name string, old int) {
	m.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s := m.services()[name]
		if s.State == "running" && s.PID != 0 && s.PID != old {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("%s not running again with another pid than %d: %+v", name, old, s)
		}
		time.Sleep(time.Second)
	}
}

// A service whose main process dies is started again, alone: the others
// keep their processes. Its restarts are counted, and hostctl service
// restart starts it at once. Then a wedged containerd (SIGSTOP) does not
// hang shutdown: hostctl poweroff ends within the bounded stop. A fork of
// the saved ready machine.
func serviceLiveness(t *testing.T) {
	m := fork(t, nil)
	before := m.services()
	for range 3 {
		old := m.services()["network"].PID
		m.sh("kill -KILL " + strconv.Itoa(old))
		m.waitRestarted("network", old)
	}
	after := m.services()
	if n := after["network"].Restarts - before["network"].Restarts; n < 3 {
		t.Errorf("network restarts went from %d to %d, want 3 more", before["network"].Restarts, after["network"].Restarts)
	}
	for _, name := range []string{"udev", "logging", "console"} {
		if after[name].PID != before[name].PID || after[name].Restarts != before[name].Restarts {
			t.Errorf("%s was restarted with network: pid %d -> %d, restarts %d -> %d", name, before[name].PID, after[name].PID, before[name].Restarts, after[name].Restarts)
		}
	}
	old := after["network"].PID
	if out, code := m.shCode("hostctl service restart network"); code != 0 {
		t.Errorf("hostctl service restart network: exit %d\n%s", code, out)
	}
	m.waitRestarted("network", old)
	if out, code := m.shCode("hostctl service restart nosuch"); code != 4 || !strings.Contains(out, "nosuch") {
		t.Errorf("hostctl service restart nosuch: exit %d, want 4 naming it\n%s", code, out)
	}

	// containerd frozen: every call to it times out, and PID 1 kills the
	// services itself.
	// The system containerd is the one PID 1 started; the user
	// containerd's parent is its service's shim.
	sys := strings.TrimSpace(m.sh(`for p in $(pidof containerd); do [ "$(awk '/^PPid:/{print $2}' /proc/$p/status)" = 1 ] && echo $p; done`))
	if _, err := strconv.Atoi(sys); err != nil {
		t.Fatalf("the system containerd's PID: %q", sys)
	}
	m.sh("kill -STOP " + sys)
	if st := m.sh("grep State /proc/" + sys + "/status"); !strings.Contains(st, "stopped") {
		t.Fatalf("containerd not stopped: %s", st)
	}
	begin := time.Now()
	m.Send("hostctl poweroff\n")
	if err := m.Wait(3 * time.Minute); err != nil {
		t.Fatalf("hostctl poweroff with containerd stopped: %v (want QEMU to exit with status 0)", err)
	}
	t.Logf("powered off in %s with containerd stopped", time.Since(begin).Round(time.Second))
}
