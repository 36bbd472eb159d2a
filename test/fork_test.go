//go:build qemu

package test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/qemu"
	"github.com/berth-os/berth/test/sched"
)

// The saved ready machine: ForkBase boots the raw image once (direct
// kernel boot, berth.autologin), checks it, and saves it with QEMU's
// migration to a file. A fork resumes that file over a qcow2 overlay of its
// own on the saved disk: it starts at the root prompt of a host that has
// reached ready, a few seconds instead of a boot.
var forkBase = struct {
	done  chan struct{}
	ok    bool
	cfg   qemu.Config // the saved machine's devices; Disks[0] is its disk
	state string      // the migration file
}{done: make(chan struct{})}

func makeForkBase(t *testing.T) {
	defer close(forkBase.done)
	dir := filepath.Join(*outDir, "fork-base")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := directBoot(t, "berth.autologin")
	disk := filepath.Join(dir, "disk.qcow2")
	if err := runCmd("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", artifact(t, "berth.raw"), disk); err != nil {
		t.Fatal(err)
	}
	// Room on the state partition (grown at the first boot) for the
	// forks that pull and unpack the test userland.
	if err := runCmd("qemu-img", "resize", "-q", disk, "+1G"); err != nil {
		t.Fatal(err)
	}
	cfg.Disks[0].Path = disk
	m := boot(t, cfg)
	m.check("host", (*machine).checkHost)
	if t.Failed() {
		t.Fatal("the machine to save is not healthy; no fork scenario can run")
	}
	// The host keys made after sshd's start (ECDSA, then RSA: seconds of
	// processor time under TCG) are made before the save: a fork resumed
	// in the middle of them would spend the rest of them again, every one.
	m.check("host-keys", func(m *machine) {
		m.eventually("hostctl logs console", allHostKeys, 3*time.Minute)
	})
	if t.Failed() {
		t.Fatal("the machine to save made no host keys; no fork scenario can run")
	}
	m.sh("sync")
	state := filepath.Join(dir, "ready.state")
	begin := time.Now()
	if err := m.Save(state, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("saved the ready machine in %.1fs (%d MiB)", time.Since(begin).Seconds(), fi.Size()>>20)
	cfg.QMP = ""
	forkBase.cfg, forkBase.state, forkBase.ok = cfg, state, true
}

// allHostKeys is the console's line once sshd has reloaded with the
// default host keys, the last two made after its start.
var allHostKeys = regexp.MustCompile(`sshd reloaded: it listens again, with the host keys ed25519 ecdsa rsa`)

// fork resumes the saved ready machine. edit may change what the saved
// state does not hold (host forwards, the QMP socket); the devices must
// stay as they were. A fork's disk is its own: the saved disk stays as it
// was for the next.
func fork(t *testing.T, edit func(*qemu.Config)) *machine {
	t.Helper()
	// The scheduler starts a fork scenario once ForkBase has ended (sched
	// After), so this waits only when a fork is run from elsewhere.
	begin := time.Now()
	select {
	case <-forkBase.done:
	case <-sched.Ctx(t).Done():
		t.Fatal("the scenario's deadline passed while it waited for the saved ready machine")
	case <-time.After(10 * time.Minute):
		t.Fatal("the saved ready machine was not made within 10 minutes (with -run, run ForkBase too)")
	}
	sched.Wait(t, time.Since(begin))
	if !forkBase.ok {
		t.Fatal("the saved ready machine was not made (see ForkBase)")
	}
	cfg := forkBase.cfg
	cfg.Disks = slices.Clone(cfg.Disks)
	cfg.Disks[0] = qemu.Disk{Path: overlay(t, forkBase.cfg.Disks[0].Path, "qcow2"), Format: "qcow2"}
	cfg.FwCfg = maps.Clone(cfg.FwCfg)
	cfg.Incoming = forkBase.state
	if edit != nil {
		edit(&cfg)
	}
	m := launch(t, cfg, qemu.Start)
	m.waitShell()
	return m
}

// mirrorDockerIO points docker.io at the test registry (berth.
// registry_mirrors) through hostctl config merge: a fork has the saved
// machine's user-data, and this applies live, as user-data would at boot.
func (m *machine) mirrorDockerIO(url string) {
	m.t.Helper()
	m.sh(fmt.Sprintf(`printf 'berth:\n  registry_mirrors:\n    docker.io: [%q]\n' > /var/tmp/mirror.yaml && hostctl config merge -i /var/tmp/mirror.yaml`, url))
}
