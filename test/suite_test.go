//go:build qemu

package test

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	vms    = flag.Int("berth.vms", 2, "how many scenarios (each a VM or a build) run at once; under TCG each vCPU takes a core")
	budget = flag.Duration("berth.budget", 40*time.Minute, "the suite fails, naming its slowest scenarios, when it takes longer")
)

// A scenario is one unit of the QEMU suite: a VM (booted, or forked from
// the saved ready machine) that runs many checks as subtests, or a build.
// The scheduler keeps -berth.vms VMs busy, longest first, so the last to
// finish is a short one; builds run beside them.
type scenario struct {
	name string
	// expect is how long the scenario took on the reference machine (2
	// cores, TCG, another scenario beside it): the scheduler's order. The
	// timing table shows the new figures; keep them roughly current.
	expect time.Duration
	run    func(t *testing.T)
	// build marks a scenario that boots no VM (a build): it runs beside
	// the VM workers from the start instead of taking a VM's place.
	build bool
}

// scenarios is the whole QEMU suite. `go test -tags qemu -run
// 'TestQEMU/RawBIOS' ./test/` runs one of them.
var scenarios = []scenario{
	// The saved ready machine that the fork scenarios resume; it comes
	// first so that they never wait long for it.
	vm("ForkBase", 45*time.Second, makeForkBase),

	// Every output format under every firmware it supports.
	vm("ISOBIOS", 17*time.Second, isoBIOS),
	vm("ISOUEFI", 20*time.Second, isoUEFI),
	vm("ISOAsDiskBIOS", 14*time.Second, isoAsDiskBIOS),
	vm("ISOAsDiskUEFI", 19*time.Second, isoAsDiskUEFI),
	vm("RawBIOS", 52*time.Second, rawBIOS),
	vm("RawUEFI", 55*time.Second, rawUEFI),
	vm("Qcow2BIOS", 51*time.Second, qcow2BIOS),
	vm("Qcow2UEFI", 48*time.Second, qcow2UEFI),
	vm("Microvm", 17*time.Second, microvm),
	vm("VariantXZ", 80*time.Second, variantXZ),

	// Consoles, power and the state partition.
	vm("GettyWithoutAutologin", 16*time.Second, gettyWithoutAutologin),
	vm("BreakToRescueShell", 8*time.Second, breakToRescueShell),
	vm("SIGTERMPowersOff", 7*time.Second, sigtermPowersOff),
	vm("SSHKeysOnly", 6*time.Second, sshKeysOnly),
	vm("PowerCutAfterFirstBoot", 32*time.Second, powerCutAfterFirstBoot),
	vm("StateDevFromCmdline", 28*time.Second, stateDevFromCmdline),

	// cloud-config and its datasources.
	vm("CloudConfigFwCfg", 120*time.Second, cloudConfigFwCfg),
	vm("PowerState", 15*time.Second, powerState),
	vm("DatasourceNoCloudISO", 15*time.Second, datasourceNoCloudISO),
	vm("DatasourceNoCloudVFAT", 16*time.Second, datasourceNoCloudVFAT),
	vm("DatasourceConfigDrive", 17*time.Second, datasourceConfigDrive),
	vm("DatasourceCmdlineURL", 16*time.Second, datasourceCmdlineURL),
	vm("DatasourceNoCloudNet", 16*time.Second, datasourceNoCloudNet),
	vm("DatasourceStateFile", 19*time.Second, datasourceStateFile),
	vm("DatasourceEC2IMDSv2", 16*time.Second, datasourceEC2IMDSv2),
	vm("DatasourceEC2IMDSv1", 18*time.Second, datasourceEC2IMDSv1),
	vm("DatasourceOpenStack", 19*time.Second, datasourceOpenStack),
	vm("DatasourceGCE", 19*time.Second, datasourceGCE),

	// Real-world cloud-config files from the shared corpus (issue 11).
	vm("CompatMultipass", 30*time.Second, compatMultipass),
	vm("CompatCloudInitDoc", 45*time.Second, compatCloudInitDoc),
	vm("CompatRancherOS", 25*time.Second, compatRancherOS),
	// sysctl/kernel.txt against the booted kernel, and hostctl's refusals.
	vm("SysctlTable", 30*time.Second, sysctlTable),
	// Each system service's capabilities, seccomp, no-new-privileges, OOM
	// score and limits against a golden file (issue 9).
	vm("ServicePrivileges", 10*time.Second, serviceCaps),
	// A YAML alias bomb in user-data boots to ready in 512 MiB (issue 9).
	vm("AliasBomb", 40*time.Second, aliasBomb),
	// A killed service comes back alone; a frozen containerd does not hang
	// poweroff (issue 9).
	vm("ServiceLiveness", 70*time.Second, serviceLiveness),
	// hostctl service list, status, start, stop, enable, disable, and a
	// disabled service through a reboot (issue 7).
	vm("ServiceVerbs", 100*time.Second, serviceVerbs),
	// The ntp service against an SNTP server on the host: a clock years
	// off is set, hostctl time says so; a server that answers nothing
	// leaves it unsynchronised (issue 7, item 8).
	vm("TimeSync", 60*time.Second, timeSync),
	vm("TimeNoAnswer", 40*time.Second, timeNoAnswer),
	// Pulls through a registry mirror that the test serves, the images
	// kept for an offline reboot (issue 7).
	vm("ImagePull", 90*time.Second, imagePull),
	// Users' containers on the user containerd, apart from the system
	// one; they outlive a console restart, and their images a reboot
	// (issue 7).
	vm("UserContainers", 120*time.Second, userContainers),
	// The console: a distribution's userland from the test registry,
	// enabled, switched to, and back after an offline reboot (issue 7).
	vm("ConsoleSwitch", 115*time.Second, consoleSwitch),
	// User services from a file and a URL, a crashing one's backoff,
	// broken definitions, and the system services' shim killed (issue 7).
	vm("UserServices", 230*time.Second, userServices),
	// The docker service from the catalogue's image: docker run of an
	// image of the test registry through the mirror, overlay2 on the state
	// partition, back after a reboot (issue 7, item 7).
	vm("Docker", 360*time.Second, dockerScenario),
	// Two VMs on a QEMU socket network with static addresses form a
	// Docker swarm; a replicated service has a task on each (issue 7).
	vm("Swarm", 600*time.Second, swarm),

	// A second build of a copy of the repository, compared byte for byte.
	buildScenario("Reproducible", 200*time.Second, reproducible),
	// The smallest catalogue image, built again alone: same bytes, qemu-ga in it.
	buildScenario("CatalogueImage", 10*time.Second, catalogueImage),
}

// vm is a scenario that boots or forks a VM: it takes one of the workers.
func vm(name string, expect time.Duration, run func(t *testing.T)) scenario {
	return scenario{name: name, expect: expect, run: run}
}

// buildScenario is a scenario that boots nothing: it runs beside the workers.
func buildScenario(name string, expect time.Duration, run func(t *testing.T)) scenario {
	return scenario{name: name, expect: expect, run: run, build: true}
}

// timing is one line of the table printed at the end.
type timing struct {
	name    string
	expect  time.Duration
	took    time.Duration
	waited  time.Duration // for the saved machine, in fork scenarios
	failed  bool
	started time.Duration // after the suite started
}

// TestQEMU runs the VM scenarios on a pool of -berth.vms workers, longest
// first (the saved machine before all), and the builds beside them; it
// prints a timing table, and fails when the whole suite passes its budget.
func TestQEMU(t *testing.T) {
	if *vms < 1 {
		t.Fatalf("-berth.vms %d: want at least 1", *vms)
	}
	queue := order(scenarios)
	start := time.Now()
	work := make(chan scenario)
	var (
		mu      sync.Mutex
		timings []timing
		running = map[string]time.Time{}
		wg      sync.WaitGroup
	)
	runner := func(scs <-chan scenario) {
		defer wg.Done()
		for sc := range scs {
			begin := time.Now()
			mu.Lock()
			running[sc.name] = begin
			mu.Unlock()
			var waited time.Duration
			ran := false
			ok := t.Run(sc.name, func(t *testing.T) {
				ran = true
				t.Cleanup(func() { waited = forkWait(t) })
				sc.run(t)
			})
			mu.Lock()
			delete(running, sc.name)
			if ran { // -run may leave it out
				timings = append(timings, timing{sc.name, sc.expect, time.Since(begin), waited, !ok, begin.Sub(start)})
			}
			mu.Unlock()
		}
	}
	for i := 0; i < *vms; i++ {
		wg.Add(1)
		go runner(work)
	}
	for _, sc := range queue {
		if sc.build {
			one := make(chan scenario, 1)
			one <- sc
			close(one)
			wg.Add(1)
			go runner(one)
		}
	}
	// Progress for CI, and a watchdog: every minute, what runs and for how
	// long, so a hang names itself before go test's timeout kills the run.
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				mu.Lock()
				var s []string
				for n, b := range running {
					s = append(s, fmt.Sprintf("%s %s", n, time.Since(b).Round(time.Second)))
				}
				done := len(timings)
				mu.Unlock()
				sort.Strings(s)
				fmt.Fprintf(os.Stderr, "qemu suite: %s, %d done, running: %s\n", time.Since(start).Round(time.Second), done, strings.Join(s, ", "))
			}
		}
	}()
	for _, sc := range queue {
		if !sc.build {
			work <- sc
		}
	}
	close(work)
	wg.Wait()
	close(stop)
	total := time.Since(start)
	t.Log("\n" + timingTable(timings, total))
	if total > *budget {
		sort.Slice(timings, func(i, j int) bool { return timings[i].took > timings[j].took })
		var slow []string
		for _, tm := range timings[:min(3, len(timings))] {
			slow = append(slow, fmt.Sprintf("%s (%s)", tm.name, tm.took.Round(time.Second)))
		}
		t.Errorf("the QEMU suite took %s, over its budget of %s; the slowest: %s", total.Round(time.Second), *budget, strings.Join(slow, ", "))
	}
}

// order puts the saved machine first, then the rest longest first.
func order(all []scenario) []scenario {
	q := append([]scenario(nil), all...)
	sort.SliceStable(q, func(i, j int) bool {
		if (q[i].name == "ForkBase") != (q[j].name == "ForkBase") {
			return q[i].name == "ForkBase"
		}
		return q[i].expect > q[j].expect
	})
	return q
}

func timingTable(ts []timing, total time.Duration) string {
	sort.Slice(ts, func(i, j int) bool { return ts[i].started < ts[j].started })
	var b strings.Builder
	fmt.Fprintf(&b, "%-26s %8s %8s %8s %8s  %s\n", "scenario", "start", "took", "expect", "waited", "result")
	var sum time.Duration
	for _, tm := range ts {
		res := "ok"
		if tm.failed {
			res = "FAIL"
		}
		sum += tm.took
		fmt.Fprintf(&b, "%-26s %8s %8s %8s %8s  %s\n", tm.name, secs(tm.started), secs(tm.took), secs(tm.expect), secs(tm.waited), res)
	}
	fmt.Fprintf(&b, "%d scenarios in %s on %d workers (%s of scenario time)\n", len(ts), total.Round(time.Second), *vms, sum.Round(time.Second))
	return b.String()
}

func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0fs", d.Seconds())
}

func TestScenarioOrder(t *testing.T) {
	q := order([]scenario{vm("A", time.Second, nil), vm("B", time.Minute, nil), vm("ForkBase", time.Second, nil), vm("C", time.Hour, nil)})
	var names []string
	for _, s := range q {
		names = append(names, s.name)
	}
	if got := strings.Join(names, " "); got != "ForkBase C B A" {
		t.Errorf("order %q, want the saved machine first, then longest first", got)
	}
	seen := map[string]bool{}
	for _, s := range scenarios {
		if seen[s.name] || s.run == nil || s.expect <= 0 {
			t.Errorf("scenario %q: duplicate, no function or no expected time", s.name)
		}
		seen[s.name] = true
	}
}
