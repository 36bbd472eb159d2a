//go:build qemu

package test

import (
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/berth-os/berth/test/sched"
)

var (
	cores         = flag.Int("berth.cores", runtime.NumCPU(), "the cores the suite may keep busy: the scheduler never runs scenarios whose vCPUs (and builds) add up to more")
	suiteDeadline = flag.Duration("berth.deadline", 0, "how long after the test binary started the suite stops: running scenarios are killed and fail, queued ones fail as not run (0: no deadline but each scenario's own)")
)

// binaryStart is when the test binary started: -berth.deadline counts from it.
var binaryStart = time.Now()

// scenarios is the whole QEMU suite. `go test -tags qemu -run
// 'TestQEMU/RawBIOS' ./test/` runs one of them. A scenario's expected time
// is the longest it took in three runs of ../shared/ci-local on a 2-core
// machine under TCG (d7812dd, de33369 and 3802237, 2026-12-06), plus 15 %,
// rounded up to 5 s. Docker's is of a ci-local run (103ae35) and one alone
// after its image lost 77 MB, Swarm's of two runs alone after its service
// lost the bookworm userland (2026-12-07). CatalogueImage keeps room for a
// cold cache, and the deadline (twice that and a minute) leaves room for a
// loaded machine. The scheduler packs the scenarios by these figures,
// longest first.
var scenarios = []sched.Scenario{
	// The saved ready machine that the fork scenarios resume; it comes
	// first so that they never wait long for it. It waits for the host
	// keys made after ready (seconds of RSA under TCG) before it saves.
	vm("ForkBase", 55*time.Second, makeForkBase),

	// Every output format under every firmware it supports.
	vm("ISOBIOS", 40*time.Second, isoBIOS),
	vm("ISOUEFI", 45*time.Second, isoUEFI),
	vm("ISOAsDiskBIOS", 35*time.Second, isoAsDiskBIOS),
	vm("ISOAsDiskUEFI", 35*time.Second, isoAsDiskUEFI),
	vm("RawBIOS", 115*time.Second, rawBIOS),
	vm("RawUEFI", 90*time.Second, rawUEFI),
	vm("Qcow2BIOS", 115*time.Second, qcow2BIOS),
	vm("Qcow2UEFI", 120*time.Second, qcow2UEFI),
	vm("Microvm", 55*time.Second, microvm),
	vm("VerityCorruption", 20*time.Second, verityCorruption),
	// Secure Boot (OVMF with the snakeoil key enrolled): a disk signed with
	// the enrolled key boots, and so does its upgraded slot B; one signed
	// with another key, or with its UKI unsigned, does not (issue 8).
	vm("SecureBoot", 120*time.Second, secureBoot),
	// The ISO signed with the enrolled key boots live under Secure Boot
	// and installs a disk that does; one signed with another key is
	// refused (issue 8).
	vm("SecureBootISO", 125*time.Second, secureBootISO),
	// hostctl install from the ISO onto a blank disk, which then boots
	// alone under BIOS and UEFI (issue 8).
	vm("Install", 190*time.Second, install),
	vm("InstallUnattended", 95*time.Second, installUnattended),
	// hostctl os upgrade from a signed bundle (bad ones refused), kept
	// once healthy; hostctl os rollback: a panicking or unhealthy slot
	// tried and rejected, and under UEFI a release whose network service
	// fails (issue 8).
	vm("BootChainBIOS", 305*time.Second, bootChainBIOS),
	vm("BootChainUEFI", 350*time.Second, bootChainUEFI),
	// Power cuts at random points of hostctl os upgrade, five under each
	// firmware: the disk always boots a good slot (issue 8).
	vm("PowerCutUpgradeBIOS", 380*time.Second, powerCutUpgradeBIOS),
	vm("PowerCutUpgradeUEFI", 430*time.Second, powerCutUpgradeUEFI),
	vm("VariantXZ", 45*time.Second, variantXZ),
	// Each platform's disk format on its controller, with its NIC
	// (issue 12).
	vm("VMware", 45*time.Second, vmware),
	vm("VirtualBox", 45*time.Second, virtualBox),
	vm("NVMeUEFI", 50*time.Second, nvmeUEFI),
	vm("PVH", 30*time.Second, pvh),
	vm("GCE", 50*time.Second, gce),
	// The pxe output over iPXE with no disk; a root with the wrong
	// sha256 refused.
	vm("PXE", 50*time.Second, pxe),
	vm("PXEUEFI", 55*time.Second, pxeUEFI),
	vm("PXEWrongRoot", 15*time.Second, pxeWrongRoot),
	// The hypervisor's guest agent, preloaded, starts by itself and
	// answers the host (issue 12).
	vm("GuestAgent", 65*time.Second, guestAgent),

	// Consoles, power and the state partition.
	vm("GettyWithoutAutologin", 25*time.Second, gettyWithoutAutologin),
	vm("BreakToRescueShell", 15*time.Second, breakToRescueShell),
	forked("SIGPWRPowersOff", 15*time.Second, sigpwrPowersOff),
	forked("SSHKeysOnly", 15*time.Second, sshKeysOnly),
	vm("PowerCutAfterFirstBoot", 60*time.Second, powerCutAfterFirstBoot),
	vm("StateDevFromCmdline", 55*time.Second, stateDevFromCmdline),

	// cloud-config and its datasources.
	vm("CloudConfigFwCfg", 125*time.Second, cloudConfigFwCfg),
	vm("PowerState", 30*time.Second, powerState),
	vm("DatasourceNoCloudISO", 30*time.Second, datasourceNoCloudISO),
	vm("DatasourceNoCloudVFAT", 30*time.Second, datasourceNoCloudVFAT),
	vm("DatasourceConfigDrive", 25*time.Second, datasourceConfigDrive),
	vm("DatasourceCmdlineURL", 30*time.Second, datasourceCmdlineURL),
	vm("DatasourceNoCloudNet", 35*time.Second, datasourceNoCloudNet),
	forked("DatasourceStateFile", 40*time.Second, datasourceStateFile),
	vm("DatasourceEC2IMDSv2", 30*time.Second, datasourceEC2IMDSv2),
	vm("DatasourceEC2IMDSv1", 30*time.Second, datasourceEC2IMDSv1),
	vm("DatasourceOpenStack", 30*time.Second, datasourceOpenStack),
	vm("DatasourceGCE", 30*time.Second, datasourceGCE),
	vm("DatasourceAzure", 25*time.Second, datasourceAzure),

	// Real-world cloud-config files from the shared corpus (issue 11).
	vm("CompatMultipass", 30*time.Second, compatMultipass),
	vm("CompatCloudInitDoc", 65*time.Second, compatCloudInitDoc),
	vm("CompatRancherOS", 30*time.Second, compatRancherOS),
	// sysctl/kernel.txt against the booted kernel, and hostctl's refusals.
	forked("SysctlTable", 35*time.Second, sysctlTable),
	// Each system service's capabilities, seccomp, no-new-privileges, OOM
	// score and limits against a golden file (issue 9).
	forked("ServicePrivileges", 15*time.Second, serviceCaps),
	// A YAML alias bomb in user-data boots to ready in 512 MiB (issue 9).
	forked("AliasBomb", 75*time.Second, aliasBomb),
	// A key renamed by a config schema: the upgrade's migration, and
	// a newer schema's file left alone (issue 8).
	forked("ConfigMigration", 35*time.Second, configMigration),
	// A killed service comes back alone; a frozen containerd does not hang
	// poweroff (issue 9).
	forked("ServiceLiveness", 80*time.Second, serviceLiveness),
	// hostctl service list, status, start, stop, enable, disable, and a
	// disabled service through a reboot (issue 7).
	forked("ServiceVerbs", 65*time.Second, serviceVerbs),
	// The ntp service against an SNTP server on the host: a clock years
	// off is set, hostctl time says so; a server that answers nothing
	// leaves it unsynchronised (issue 7, item 8).
	vm("TimeSync", 45*time.Second, timeSync),
	vm("TimeNoAnswer", 35*time.Second, timeNoAnswer),
	// Pulls through a registry mirror that the test serves, the images
	// kept for an offline reboot (issue 7).
	forked("ImagePull", 85*time.Second, imagePull),
	// Users' containers on the user containerd, apart from the system
	// one; they outlive a console restart, and their images a reboot
	// (issue 7).
	forked("UserContainers", 80*time.Second, userContainers),
	// The console: a distribution's userland from the test registry,
	// enabled, switched to, and back after an offline reboot (issue 7).
	vm("ConsoleSwitch", 150*time.Second, consoleSwitch),
	// User services from a file and a URL, a crashing one's backoff,
	// broken definitions, and the system services' shim killed (issue 7).
	forked("UserServices", 150*time.Second, userServices),
	// The docker service from the catalogue's image: docker run of an
	// image of the test registry through the mirror, overlay2 on the state
	// partition, back after a reboot (issue 7, item 7).
	vm("Docker", 250*time.Second, dockerScenario),
	// Two VMs on a QEMU socket network with static addresses form a
	// Docker swarm; a replicated service has a task on each (issue 7).
	vms("Swarm", 185*time.Second, 2, swarm),

	// The manifest, and each disk format against the raw disk.
	buildScenario("Artifacts", 10*time.Second, 1, artifactChecks),

	// The suite itself has only loopback: nothing reaches the outside.
	buildScenario("Offline", 2*time.Second, 1, offline),

	// A second build of a copy of the repository, compared byte for byte.
	buildScenario("Reproducible", 290*time.Second, 2, reproducible),
	// The smallest catalogue image, built again alone: same bytes, qemu-ga in it.
	buildScenario("CatalogueImage", 10*time.Second, 1, catalogueImage),
}

// vm is a scenario that boots one VM of one vCPU.
func vm(name string, expect time.Duration, run func(t *testing.T)) sched.Scenario {
	return sched.Scenario{Name: name, Expect: expect, Run: run, CPUs: 1}
}

// vms is a scenario whose VMs run together with cpus vCPUs in all.
func vms(name string, expect time.Duration, cpus int, run func(t *testing.T)) sched.Scenario {
	return sched.Scenario{Name: name, Expect: expect, Run: run, CPUs: cpus}
}

// forked is a scenario that resumes the saved ready machine (fork): it
// starts once ForkBase has ended.
func forked(name string, expect time.Duration, run func(t *testing.T)) sched.Scenario {
	return sched.Scenario{Name: name, Expect: expect, Run: run, CPUs: 1, After: "ForkBase"}
}

// buildScenario is a scenario that boots nothing and keeps cpus cores busy.
func buildScenario(name string, expect time.Duration, cpus int, run func(t *testing.T)) sched.Scenario {
	return sched.Scenario{Name: name, Expect: expect, Run: run, CPUs: cpus}
}

// TestQEMU runs the scenarios (package sched: longest first, the saved
// machine before all, never more vCPUs than -berth.cores, each under its
// deadline) and prints the timing table, also kept in <out>/timing.txt.
// At -berth.deadline what runs is killed and what is left fails.
func TestQEMU(t *testing.T) {
	opt := sched.Options{Cores: *cores, Progress: os.Stderr}
	if *suiteDeadline > 0 {
		left := time.Until(binaryStart.Add(*suiteDeadline))
		t.Logf("the suite stops in %s (-berth.deadline %s after the test binary started)", left.Round(time.Second), *suiteDeadline)
		opt.Stop = time.After(left)
	}
	start := time.Now()
	timings := sched.Run(t, scenarios, opt)
	table := sched.Table(timings, time.Since(start), *cores)
	t.Log("\n" + table)
	if err := os.WriteFile(filepath.Join(*outDir, "timing.txt"), []byte(table), 0o644); err != nil {
		t.Error(err)
	}
}

func TestScenarios(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range scenarios {
		if seen[s.Name] || s.Run == nil || s.Expect <= 0 || s.CPUs < 1 {
			t.Errorf("scenario %q: duplicate, no function, no expected time or no cores", s.Name)
		}
		seen[s.Name] = true
	}
	for _, s := range scenarios {
		if s.After != "" && !seen[s.After] {
			t.Errorf("scenario %q comes after %q, which is not a scenario", s.Name, s.After)
		}
	}
	if q := sched.Order(scenarios); q[0].Name != "ForkBase" {
		t.Errorf("first scenario %s, want ForkBase (the forks wait for it)", q[0].Name)
	}
}
