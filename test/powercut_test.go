//go:build qemu

package test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/qemu"
)

// powerCutTrials is how many times each firmware's scenario cuts the power
// during an upgrade; the issue asks for 10 in CI, and there are two.
const powerCutTrials = 5

// cutPoint is where in hostctl os upgrade a trial cuts the power: a
// random moment within `within` of a line of its progress.
type cutPoint struct {
	name   string
	after  *regexp.Regexp
	within time.Duration
}

// cutPoints span the upgrade: the bundle's download and signature check,
// the root's write into the other slot, the kernel's and initrd's onto the
// EFI partition (the writes a cut can leak clusters of), the slot's
// boot.cfg and version, and the commit.
var cutPoints = []cutPoint{
	{"verifying", regexp.MustCompile(`hostctl os upgrade --image \S+\r?\n`), 2 * time.Second},
	{"writing the root", regexp.MustCompile(`writing the root \(\d+ MiB\)`), 3 * time.Second},
	{"root half written", regexp.MustCompile(`: 50%`), 3 * time.Second},
	{"writing the kernel", regexp.MustCompile(`root written and synced`), 2 * time.Second},
	{"writing the initrd", regexp.MustCompile(`/vmlinuz: written`), time.Second},
	{"committing", regexp.MustCompile(`/initrd\.img: written`), 500 * time.Millisecond},
	{"committed", regexp.MustCompile(`tried at the next boot`), 500 * time.Millisecond},
}

// powerCutUpgradeBIOS and powerCutUpgradeUEFI kill QEMU at random points
// of hostctl os upgrade (issue 8): each trial's cut is a random moment
// after one of cutPoints (the kernel write always among them), and the
// disk must then boot into a slot that is, or becomes, the good one, with
// no slot rejected. After the trials a whole upgrade still fits on the
// EFI partition and is kept, and the host's fsck.fat finds that partition
// clean: what the cuts leaked, PID 1 reclaimed.
func powerCutUpgradeBIOS(t *testing.T) { powerCutUpgrade(t, false) }
func powerCutUpgradeUEFI(t *testing.T) { powerCutUpgrade(t, true) }

func powerCutUpgrade(t *testing.T, uefi bool) {
	next := variant(t, "next", nextOverlay(t))["berth.bundle"]
	port, _ := serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/next.bundle" {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, next)
	})
	upgrade := fmt.Sprintf("hostctl os upgrade --image http://10.0.2.2:%d/next.bundle", port)
	// A raw copy, not an overlay: the test reads its EFI partition.
	disk := filepath.Join(t.TempDir(), "disk.raw")
	if err := runCmd("cp", "--sparse=always", artifact(t, "berth.raw"), disk); err != nil {
		t.Fatal(err)
	}
	cfg := qemu.Config{UEFI: uefi, Net: true, Disks: []qemu.Disk{{Path: disk}}}
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	// The kernel write, then others at random, in a random order.
	points := []int{3}
	for _, i := range rng.Perm(len(cutPoints)) {
		if i != 3 {
			points = append(points, i)
		}
	}
	points = points[:powerCutTrials]
	rng.Shuffle(len(points), func(i, j int) { points[i], points[j] = points[j], points[i] })
	t.Logf("seed %d: cuts %v", seed, points)

	m := boot(t, cfg)
	before, _, status := m.settledSlot(2 * time.Minute)
	unclean, leaked := 0, 0
	for trial, i := range points {
		p := cutPoints[i]
		delay := time.Duration(rng.Int64N(int64(p.within)))
		m.Send(upgrade + "\n")
		if _, _, err := m.WaitFor(p.after, 3*time.Minute); err != nil {
			t.Fatalf("trial %d: %v", trial+1, err)
		}
		time.Sleep(delay) // the cut's random moment, not a wait for anything
		m.Kill()
		fsck := efiUnclean(t, disk)
		if fsck != "" {
			unclean++
		}
		if leakRe.MatchString(fsck) {
			leaked++
		}
		m = boot(t, cfg)
		slot, version, now := m.settledSlot(2 * time.Minute)
		t.Logf("trial %d: cut %s after %q (%s): boots slot %s (%s); the EFI partition after the cut: %s", trial+1, delay.Round(time.Millisecond), p.after, p.name, slot, version, fsckSummary(fsck))
		// hostctl os status says what became of the upgrade: cut short,
		// or (past its commit) tried and kept. A cut before PID 1 began
		// to write leaves the last upgrade as it was.
		last, was := lastUpgradeLine(now), lastUpgradeLine(status)
		other := map[string]string{"a": "b", "b": "a"}[before]
		switch {
		case slot != before && !regexp.MustCompile(` in slot `+slot+`, .*: kept$`).MatchString(last):
			t.Errorf("trial %d: slot %s boots after the upgrade into it, but the last upgrade is %q", trial+1, slot, last)
		case slot == before && last != was && !regexp.MustCompile(` in slot `+other+`, .*: incomplete$`).MatchString(last):
			t.Errorf("trial %d: the upgrade into slot %s was cut short, but the last upgrade is %q (was %q)", trial+1, other, last, was)
		}
		before, status = slot, now
		if t.Failed() {
			return
		}
	}
	// A whole upgrade after the cuts: it fits, is tried and kept.
	out := m.sh(upgrade)
	to := regexp.MustCompile(`is in slot ([ab]), tried at the next boot`).FindStringSubmatch(out)
	if to == nil {
		t.Fatalf("the upgrade after the cuts:\n%s", out)
	}
	m.Send("hostctl reboot\n")
	if _, _, err := m.WaitFor(regexp.MustCompile(`berth: shutting down to reboot`), time.Minute); err != nil {
		t.Fatalf("hostctl reboot: %v", err)
	}
	m.waitReady()
	if slot, version, _ := m.settledSlot(2 * time.Minute); slot != to[1] || version != "0.1.1-next" {
		t.Errorf("after the upgrade into slot %s: slot %s (%s) runs", to[1], slot, version)
	}
	// The init log lives on the state partition; a cut may lose its last
	// lines, so this counts what survived.
	repaired := strings.TrimSpace(m.sh("grep -c 'fsck.fat repaired' /var/log/init.log || true"))
	m.powerOffBy("hostctl poweroff")
	if said := efiUnclean(t, disk); said != "" {
		t.Errorf("after the cuts and an upgrade, the EFI partition is not clean:\n%s", said)
	}
	t.Logf("%d cuts: %d left the EFI partition unclean, %d of them with clusters no file holds; PID 1's log says it repaired it %s times", len(points), unclean, leaked, repaired)
}

// settledSlot waits until the running slot is the good one (a slot being
// tried is kept once healthy) and returns it and the running version; a
// rejected slot fails the test. It returns hostctl os status too.
func (m *machine) settledSlot(d time.Duration) (slot, version, status string) {
	m.t.Helper()
	goodRe := regexp.MustCompile(`(?m)^good slot +([ab])$`)
	out := m.eventually("hostctl os status", goodRe, d)
	root := regexp.MustCompile(`(?m)^root +\S+ \(slot ([ab])\)$`).FindStringSubmatch(out)
	if root == nil {
		m.t.Fatalf("hostctl os status: no root slot:\n%s", out)
	}
	// A slot tried after a cut past the commit is kept once healthy.
	out = m.eventually("hostctl os status", regexp.MustCompile(`(?m)^good slot +`+root[1]+`$`), d)
	if strings.Contains(out, "\ntrying ") {
		m.t.Errorf("slot %s is kept, but hostctl os status still says trying:\n%s", root[1], out)
	}
	if strings.Contains(out, "\nrejected ") {
		m.t.Errorf("a slot was rejected after a power cut:\n%s", out)
	}
	v := regexp.MustCompile(`(?m)^version +(\S+)$`).FindStringSubmatch(out)
	if v == nil || !regexp.MustCompile(`(?m)^slot `+root[1]+` +\S+ +running +`+regexp.QuoteMeta(v[1])+`$`).MatchString(out) {
		m.t.Errorf("the running slot %s's version file does not give the running version:\n%s", root[1], out)
		return root[1], "", out
	}
	return root[1], v[1], out
}

// lastUpgradeLine is hostctl os status's last upgrade, "" when none.
func lastUpgradeLine(status string) string {
	if l := regexp.MustCompile(`(?m)^last upgrade +(.*)$`).FindStringSubmatch(status); l != nil {
		return l[1]
	}
	return ""
}

// leakRe matches what fsck.fat says of clusters that no file holds.
var leakRe = regexp.MustCompile(`(?i)reclaimed \d+ unused clusters?`)

// fsckSummary is what matters of fsck.fat's complaints, for the log.
func fsckSummary(said string) string {
	if said == "" {
		return "clean"
	}
	var keep []string
	for _, l := range strings.Split(said, "\n") {
		if regexp.MustCompile(`(?i)dirty bit|reclaimed|free cluster summary|differences between boot sector`).MatchString(l) {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	if len(keep) == 0 {
		return said
	}
	return strings.Join(keep, "; ")
}

// efiUnclean checks the EFI partition of the raw disk with the host's
// fsck.fat -n, and returns what it says when that is not clean.
func efiUnclean(t *testing.T, disk string) string {
	t.Helper()
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	at, size := rawPartition(t, f, layout.PartEFI)
	img := filepath.Join(t.TempDir(), "efi.img")
	b := make([]byte, size)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("fsck.fat", "-n", img).CombinedOutput(); err != nil {
		return fmt.Sprintf("fsck.fat -n: %v\n%s", err, out)
	}
	return ""
}
