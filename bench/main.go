// Command bench measures a Berth image and prints a table: boot-to-ready
// against a bare-kernel boot on the same QEMU (a ratio from one run), the
// smallest RAM that reaches ready, MemAvailable after ready, the memory of
// the user containerd and the docker service, artifact sizes, and cold and warm build times. `make bench` runs it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-os/berth/build"
	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/image"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/internal/qemu"
	"github.com/berth-os/berth/kernel"
	"github.com/u-root/u-root/pkg/cpio"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	out     string
	runs    int
	mems    []int
	noBuild bool
	docker  bool
	console bool
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "out/bench", "work folder")
	fs.IntVar(&o.runs, "runs", 3, "boots per boot-time measurement (the median is reported)")
	memList := fs.String("mem", "512,256,192,128,96", "RAM sizes (MiB) to try for the smallest that reaches ready")
	fs.BoolVar(&o.noBuild, "no-cold-build", false, "skip the cold build measurement")
	fs.BoolVar(&o.docker, "docker", true, "measure the docker service's memory (builds the docker image)")
	fs.BoolVar(&o.console, "console", true, "measure a distribution console's memory (builds the test suite's Debian userland; needs root for mmdebstrap)")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: bench [-out DIR] [-runs N] [-mem LIST]\n\nMeasures boot time, memory, sizes and build times of images/berth.yaml.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, m := range strings.Split(*memList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(m))
		if err != nil {
			return fmt.Errorf("-mem: %q is not a number", m)
		}
		o.mems = append(o.mems, n)
	}
	wd, _ := os.Getwd()
	root, err := build.FindModuleRoot(wd)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	out, _ := filepath.Abs(o.out)
	var rows [][3]string
	add := func(what, value, note string) {
		rows = append(rows, [3]string{what, value, note})
		fmt.Fprintf(os.Stderr, "bench: %s = %s %s\n", what, value, note)
	}

	// Builds: warm (the normal cache) and cold (an empty cache but for the
	// kernel, whose compile is reported from its stage).
	spec, err := image.Load(filepath.Join(root, "images", "berth.yaml"), filepath.Join(root, "services"))
	if err != nil {
		return err
	}
	main, err := cache.Open(cache.DefaultRoot())
	if err != nil {
		return err
	}
	imgDir := filepath.Join(out, "image")
	b := func(c *cache.Cache) (*build.Result, time.Duration, error) {
		start := time.Now()
		res, err := build.Build(ctx, build.Options{Spec: spec, OutDir: imgDir, Cache: c, Progress: &progress.Plain{W: io.Discard}, ModuleRoot: root})
		return res, time.Since(start), err
	}
	if _, _, err := b(main); err != nil { // make sure the cache is complete
		return err
	}
	if !o.noBuild {
		cold, err := main.Fork(filepath.Join(out, "cold-cache"), "dl", "stage/kernel", "keys")
		if err != nil {
			return err
		}
		_, d, err := b(cold)
		if err != nil {
			return err
		}
		add("build, cold (empty cache but the kernel)", fmt.Sprintf("%.1f s", d.Seconds()), "Go programs, packages, squashfs, media")
		cache.RemoveAll(cold.Root)
	}
	res, d, err := b(main)
	if err != nil {
		return err
	}
	add("build, warm (nothing changed)", fmt.Sprintf("%.1f s", d.Seconds()), "target < 10 s")
	if parts, err := main.Usage(); err == nil {
		var total int64
		for _, p := range parts {
			total += p.Bytes
		}
		add("build cache on disk (after the build's prune)", mib(total), "downloads, stages, kernel work tree")
	}
	if s, from := kernelBuild(main); s > 0 {
		add("kernel build (newest stage)", fmt.Sprintf("%.0f s", s), "make -j2 bzImage modules; the tree was "+from)
	}
	if r, ok := kernelIncremental(main); ok {
		add("kernel config change, incremental", fmt.Sprintf("%.0f s", r.AwaySeconds),
			fmt.Sprintf("make test's check: %s, then back in %.0f s, same bytes as the stage", strings.ReplaceAll(r.Probe, "\n", ", "), r.BackSeconds))
	}
	for _, a := range res.Manifest.Artifacts {
		switch a.Name {
		case "berth.iso":
			add("ISO size", mib(a.Size), "target ≤ 40 MiB")
		case "initrd.img":
			add("initrd size", mib(a.Size), "")
		case "rootfs.squashfs":
			add("squashfs size", mib(a.Size), "zstd; the breakdown below is of its files, uncompressed")
		case "vmlinuz":
			add("kernel (bzImage) size", mib(a.Size), "")
		}
	}

	// Boot time: ours to the ready line, the bare kernel to its marker,
	// both direct-kernel boots on q35 under TCG, timed from QEMU start.
	bareInitrd, err := makeBareInitrd(ctx, root, filepath.Join(out, "bare-initrd.img"))
	if err != nil {
		return err
	}
	disk := filepath.Join(out, "state.qcow2")
	if err := overlay(res.Files["berth.raw"], disk); err != nil {
		return err
	}
	ours := func(mem int) qemu.Config {
		return qemu.Config{Memory: mem, Net: true, Kernel: res.Files["vmlinuz"], Initrd: res.Files["initrd.img"],
			Append: "console=ttyS0,115200 berth.slot=a panic=10", Disks: []qemu.Disk{{Path: disk, Format: "qcow2"}}}
	}
	bare := qemu.Config{Memory: 512, Kernel: res.Files["vmlinuz"], Initrd: bareInitrd, Append: "console=ttyS0,115200 panic=10"}
	readyRe := regexp.MustCompile(`berth: (ready|degraded) in ([0-9.]+)s`)
	bareRe := regexp.MustCompile(`berth-bench: bare init reached`)
	// A first boot formats the state partition; measure the boots after it.
	first, err := bootTo(ctx, ours(512), readyRe, out, durationsCmd)
	if err != nil {
		return fmt.Errorf("first boot: %w", err)
	}
	firstM, firstLog := first.match, first.outputs[0]
	var oursT, bareT, inGuest, kernelT []float64
	var initLogs []string
	for i := 0; i < o.runs; i++ {
		// PID 1 logs each phase's duration in its init log, which a root
		// shell reads once the boot has been timed.
		b, err := bootTo(ctx, ours(512), readyRe, out, durationsCmd)
		if err != nil {
			return err
		}
		oursT = append(oursT, b.at)
		kernelT = append(kernelT, b.kernel)
		g, _ := strconv.ParseFloat(b.match[2], 64)
		inGuest = append(inGuest, g)
		initLogs = append(initLogs, b.outputs[0])
		if b, err = bootTo(ctx, bare, bareRe, out); err != nil {
			return err
		}
		bareT = append(bareT, b.at)
	}
	mo, mb := median(oursT), median(bareT)
	add("boot to ready (host clock, QEMU start)", fmt.Sprintf("%.2f s", mo), fmt.Sprintf("median of %d; ready line says %.2f s since kernel start", o.runs, median(inGuest)))
	add("bare tuned kernel to /init marker", fmt.Sprintf("%.2f s", mb), fmt.Sprintf("median of %d, same QEMU, machine and kernel", o.runs))
	add("ratio ready / bare", fmt.Sprintf("%.2f", mo/mb), "target ≤ 2")
	// Firmware boots: the disk image as a user boots it, through the
	// firmware and the boot loader, which the direct kernel boots above
	// skip. A first boot formats the state; the boot after it is timed.
	for _, fw := range []struct {
		name string
		uefi bool
	}{{"BIOS: SeaBIOS, GRUB", false}, {"UEFI: OVMF, shim, GRUB, the UKI", true}} {
		b, err := firmwareBoot(ctx, res.Files["berth.raw"], fw.uefi, readyRe, out)
		if err != nil {
			return fmt.Errorf("%s boot: %w", fw.name, err)
		}
		add("disk boot, "+fw.name+": QEMU start to kernel", fmt.Sprintf("%.2f s", b.kernel),
			fmt.Sprintf("host clock to the kernel's first line; firmware, boot loader (no menu: one entry), loading and unpacking the kernel; a later boot of berth.raw; the direct boots above: %.2f s (median)", median(kernelT)))
		add("disk boot, "+fw.name+": QEMU start to ready", fmt.Sprintf("%.2f s", b.at), "the same boot; its ready line")
	}
	value, note := phaseMeasure(initLogs, "config")
	add("config phase, no datasource present", value, note+"; the datasource search and the config layers; target ≤ 5 s")
	timeline := bootTimeline(firstLog, initLogs)
	var charts []string
	firstSince, _ := strconv.ParseFloat(firstM[2], 64)
	for i, b := range []struct {
		name, log string
		since     float64
	}{{"first", firstLog, firstSince}, {"later", initLogs[0], inGuest[0]}} {
		p := filepath.Join(out, "timeline-"+b.name+"-boot.svg")
		if err := chartFile(p, fmt.Sprintf("Berth, %s boot: ready %.2f s after the kernel started (PID 1's init log; q35, TCG, 512 MiB)", b.name, b.since), b.log, b.since); err != nil {
			return fmt.Errorf("timeline chart %d: %w", i+1, err)
		}
		charts = append(charts, p)
	}

	// Memory: the smallest RAM that reaches ready, and MemAvailable after ready.
	// Each size tried says when its boot was ready (the ready line's
	// seconds since the kernel started), down to the first that was not.
	smallest := 0
	var tried []string
	for _, mem := range o.mems {
		b, err := bootTo(ctx, ours(mem), readyRe, out)
		m := b.match
		if err != nil || m[1] != "ready" {
			fmt.Fprintf(os.Stderr, "bench: %d MiB: no ready line (%v)\n", mem, err)
			tried = append(tried, fmt.Sprintf("%d MiB: not ready", mem))
			break
		}
		tried = append(tried, fmt.Sprintf("%d MiB: ready in %s s", mem, m[2]))
		smallest = mem
	}
	if smallest > 0 {
		add("smallest RAM reaching ready", fmt.Sprintf("%d MiB", smallest), "tried "+strings.Join(tried, ", ")+"; target 128 MiB")
	} else {
		add("smallest RAM reaching ready", "none", "tried "+strings.Join(tried, ", "))
	}
	mem, err := memAvailable(ctx, ours(512), readyRe, out)
	if err != nil {
		return err
	}
	add("MemAvailable after ready (512 MiB VM)", fmt.Sprintf("%d MiB", mem.availKB/1024), "from /proc/meminfo")
	add("user containerd after ready", mib(mem.userContainerd), "the containerd service's memory.current, no user container: containerd starts at its socket's first use, and nothing used it")
	add("user containerd's first use", fmt.Sprintf("%.2f s", mem.firstUse.first), fmt.Sprintf("ctr version in the console after the rows above, by the guest's uptime: containerd's start and its first answer; the next ctr version took %.2f s", mem.firstUse.next))
	add("user containerd after its first use", mib(mem.firstUse.memory), "the containerd service's memory.current after those two ctr version commands")
	procRows, procCount, pssTotal := byName(mem.procs)
	add("userspace memory after ready (PSS)", mib(pssTotal<<10), fmt.Sprintf("every process's Pss from smaps_rollup (%d processes, the measuring shell's too), 512 MiB VM; target ≤ 64 MiB", len(mem.procs)))
	add("processor time up to the root shell after ready", fmt.Sprintf("%s busy, %s idle", ticks(mem.cpu.busy), ticks(mem.cpu.idle)),
		fmt.Sprintf("/proc/stat, one vCPU, %.2f s after the kernel started; busy is user, nice, system, irq and softirq; by process below", mem.cpu.uptime))
	if v, note := kernelShare(initLogs); v != "" {
		add("kernel's share at PID 1's start", v, note)
	}
	if o.docker {
		dm, err := dockerMemory(ctx, spec, main, root, out, ours(1024))
		if err != nil {
			return fmt.Errorf("docker memory: %w", err)
		}
		add("docker service after enable", mib(dm.docker), "its memory.current: dockerd and its containerd 1.6, no container")
		add("MemAvailable with docker (1 GiB VM)", fmt.Sprintf("%d MiB", dm.availKB/1024), "from /proc/meminfo")
	}

	if o.console {
		// Not fatal: the Debian userland is built with mmdebstrap, as root,
		// when the cache lacks it, and the rows above are worth keeping.
		if def, debian, err := consoleMemory(ctx, main, root, out, ours(1024)); err != nil {
			fmt.Fprintf(os.Stderr, "bench: console memory: %v\n", err)
			add("console-debian after hostctl console switch (PSS)", "not measured", strings.SplitN(err.Error(), "\n", 2)[0])
		} else {
			add("default console after ready (PSS)", mib(def.pssKB<<10), fmt.Sprintf("its processes' Pss: berth-console, sshd, getty, the shell (memory.current %s, anon %s), 1 GiB VM", mib(def.current), mib(def.anon)))
			add("console-debian after hostctl console switch (PSS)", mib(debian.pssKB<<10), fmt.Sprintf("its processes' Pss, the same VM: %s more than the default (memory.current %s, anon %s); the test suite's bookworm userland as docker.io/library/debian:bookworm", mib((debian.pssKB-def.pssKB)<<10), mib(debian.current), mib(debian.anon)))
		}
	}

	if v, note, ok := suiteTiming(filepath.Join(root, "out", "test", "timing.txt")); ok {
		add("QEMU suite (the last make qemu-test, not this run)", v, note)
	}

	fmt.Fprintln(stdout, "| measure | value | note |\n|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(stdout, "| %s | %s | %s |\n", r[0], r[1], r[2])
	}
	if sizes, err := rootfsBreakdown(ctx, res.Files["rootfs.squashfs"]); err != nil {
		fmt.Fprintf(os.Stderr, "bench: root filesystem breakdown: %v\n", err)
	} else {
		fmt.Fprintln(stdout, "\nThe root filesystem by component (unsquashfs -lln; uncompressed; \"repeats\": files met before, which mksquashfs stores once, or hard links to them: of the same size from 64 KiB, of the same size and name below):\n\n| component | files | size | repeats |\n|---|---|---|---|")
		var total int64
		for _, r := range sizes {
			fmt.Fprintf(stdout, "| %s | %d | %s | %s |\n", r.name, r.files, mib(r.bytes), mib(r.dupes))
			total += r.bytes
		}
		fmt.Fprintf(stdout, "| all | | %s | |\n", mib(total))
	}
	fmt.Fprintln(stdout, "\nMemory by process after ready (512 MiB VM; smaps_rollup, summed by name; the PSS is its anonymous pages, heap and stacks, and the rest, mostly the pages of binaries and libraries read from the root, which the kernel can drop and read again):\n\n| process | count | RSS | PSS | PSS anonymous | PSS file-backed and shared |\n|---|---|---|---|---|---|")
	var anonTotal int64
	for _, r := range procRows {
		fmt.Fprintf(stdout, "| %s | %d | %s | %s | %s | %s |\n", r.name, procCount[r.name], mib(r.rss<<10), mib(r.pss<<10), mib(r.pssAnon<<10), mib((r.pss-r.pssAnon)<<10))
		anonTotal += r.pssAnon
	}
	fmt.Fprintf(stdout, "| all | %d | | %s | %s | %s |\n", len(mem.procs), mib(pssTotal<<10), mib(anonTotal<<10), mib((pssTotal-anonTotal)<<10))
	cpuRows, cpuCount, cpuAll := cpuByName(mem.cpu.procs)
	fmt.Fprintf(stdout, "\nProcessor time by process up to the root shell after ready (512 MiB VM, one vCPU, %.2f s after the kernel started; /proc/PID/stat, summed by name, kernel threads by the name before their '/'; \"reaped\" is the time of its children that ended, such as ssh-keygen, the shim's start command and the udev workers; init's system time holds the kernel's own start, which runs as PID 1 until it executes /init, and stage 1's):\n\n| process | count | user | system | reaped children |\n|---|---|---|---|---|\n", mem.cpu.uptime)
	for _, r := range cpuRows {
		if r.user+r.system+r.reaped == 0 {
			continue
		}
		fmt.Fprintf(stdout, "| %s | %d | %s | %s | %s |\n", r.name, cpuCount[r.name], ticks(r.user), ticks(r.system), ticks(r.reaped))
	}
	fmt.Fprintf(stdout, "| all | %d | %s | %s | %s |\n", len(mem.cpu.procs), ticks(cpuAll.user), ticks(cpuAll.system), ticks(cpuAll.reaped))
	fmt.Fprintf(stdout, "\nWhere a boot goes (PID 1's init log; the services start at once, so their steps overlap; later boots: the median of %d; as charts: %s):\n\n", o.runs, strings.Join(charts, ", "))
	fmt.Fprintln(stdout, "| step | first boot | later boot |\n|---|---|---|")
	for _, r := range timeline {
		fmt.Fprintf(stdout, "| %s | %s | %s |\n", r[0], r[1], r[2])
	}
	return nil
}

// stepRe matches a timed line of PID 1's init log: a phase's duration
// ("phase 3/10 config done in 0.412s"), a service's start steps ("service
// udev: task created (shim, OCI runtime create) in 4.856s"), the state
// partition's ("state: mke2fs /dev/vda4 in 0.183s").
var stepRe = regexp.MustCompile(`(?m)^(?:\S+Z )?((?:phase [0-9]+/[0-9]+ \S+ done|service \S+: (?:` + serviceSteps + `)|state: (?:` + stateSteps + `)).*?) in ([0-9]+(?:\.[0-9]+)?)s\s*$`)

// bootTimeline lists each timed step of the first boot and of the later
// ones (the median), in the first boot's order, then the steps only later
// boots have; "-" where a boot has no such step.
func bootTimeline(first string, later []string) [][3]string {
	steps := func(log string) (map[string]float64, []string) {
		m := map[string]float64{}
		var order []string
		for _, g := range stepRe.FindAllStringSubmatch(log, -1) {
			name := regexp.MustCompile(`^phase [0-9]+/[0-9]+ (\S+) done$`).ReplaceAllString(g[1], "phase $1")
			name = regexp.MustCompile(` /dev/\S+`).ReplaceAllString(name, "")
			v, _ := strconv.ParseFloat(g[2], 64)
			if _, seen := m[name]; !seen {
				order = append(order, name)
			}
			m[name] = v
		}
		return m, order
	}
	f, order := steps(first)
	var ls []map[string]float64
	for _, l := range later {
		m, o := steps(l)
		ls = append(ls, m)
		for _, n := range o {
			if _, ok := f[n]; !ok && !slices.Contains(order, n) {
				order = append(order, n)
			}
		}
	}
	cell := func(v float64, ok bool) string {
		if !ok {
			return "-"
		}
		return fmt.Sprintf("%.2f s", v)
	}
	var rows [][3]string
	for _, n := range order {
		v, ok := f[n]
		var vs []float64
		for _, m := range ls {
			if x, ok := m[n]; ok {
				vs = append(vs, x)
			}
		}
		rows = append(rows, [3]string{n, cell(v, ok), cell(median(vs), len(vs) > 0)})
	}
	return rows
}

// booted is what bootTo saw of one boot.
type booted struct {
	kernel, at float64  // host seconds from QEMU's start to the kernel's first line, and to the match
	match      []string // the first match of bootTo's expression
	outputs    []string // each command's output
}

// bootTo boots cfg in a new work folder under out; see bootIn.
func bootTo(ctx context.Context, cfg qemu.Config, re *regexp.Regexp, out string, commands ...string) (booted, error) {
	work, err := os.MkdirTemp(out, "vm-")
	if err != nil {
		return booted{}, err
	}
	defer os.RemoveAll(work)
	return bootIn(ctx, cfg, re, work, commands...)
}

// bootIn boots cfg in the work folder and times, from QEMU's start, the
// kernel's first line and the first match of re on the console. With
// commands, it then runs each in a root shell (berth.autologin) and keeps
// its output. It stops the machine, with a clean power-off (ACPI button)
// where there is ACPI, so the next boot of the same disk is an ordinary
// one; the bare init powers off by itself.
func bootIn(ctx context.Context, cfg qemu.Config, re *regexp.Regexp, work string, commands ...string) (booted, error) {
	var b booted
	if err := os.MkdirAll(work, 0o755); err != nil {
		return b, err
	}
	cfg.QMP = filepath.Join(work, "qmp.sock")
	if len(commands) > 0 {
		cfg.FwCfg = map[string]string{"opt/berth/cmdline": "berth.autologin"}
	}
	logf, err := os.Create(work + ".log")
	if err != nil {
		return b, err
	}
	defer logf.Close()
	vm, err := qemu.Start(ctx, cfg, work, logf)
	if err != nil {
		return b, err
	}
	defer vm.Kill()
	_, kAt, err := vm.WaitFor(kernelStartRe, 5*time.Minute)
	if err != nil {
		return b, fmt.Errorf("no kernel: %w", err)
	}
	m, at, err := vm.WaitFor(re, 5*time.Minute)
	if err != nil {
		return b, err
	}
	if len(commands) > 0 {
		if _, _, err := vm.WaitFor(regexp.MustCompile(`:~# `), 2*time.Minute); err != nil {
			return b, fmt.Errorf("root shell: %w", err)
		}
	}
	for _, c := range commands {
		o, _, err := vm.Run(c, time.Minute)
		if err != nil {
			return b, err
		}
		b.outputs = append(b.outputs, o)
	}
	vm.QMP("system_powerdown")
	vm.Wait(2 * time.Minute)
	b.kernel, b.at, b.match = kAt.Sub(vm.Started()).Seconds(), at.Sub(vm.Started()).Seconds(), m
	return b, nil
}

// kernelStartRe is the kernel's first line on the serial console.
var kernelStartRe = regexp.MustCompile(`Linux version \d`)

// firmwareBoot boots a copy (a qcow2 over it) of the raw disk image
// through the firmware twice, SeaBIOS or OVMF, and gives the second boot.
func firmwareBoot(ctx context.Context, raw string, uefi bool, readyRe *regexp.Regexp, out string) (booted, error) {
	work, err := os.MkdirTemp(out, "fw-")
	if err != nil {
		return booted{}, err
	}
	defer os.RemoveAll(work)
	disk := filepath.Join(work, "disk.qcow2")
	if err := overlay(raw, disk); err != nil {
		return booted{}, err
	}
	cfg := qemu.Config{Memory: 512, UEFI: uefi, Disks: []qemu.Disk{{Path: disk, Format: "qcow2"}}}
	var b booted
	for i := 0; i < 2; i++ {
		dir := filepath.Join(work, fmt.Sprintf("boot-%d", i))
		if b, err = bootIn(ctx, cfg, readyRe, dir); err != nil {
			return b, err
		}
		if b.match[1] != "ready" {
			return b, fmt.Errorf("the boot was %s", b.match[1])
		}
		// The second boot keeps the first's UEFI variables, as a machine does.
		cfg = cfg.Restart(dir)
	}
	return b, nil
}

// overlay makes path a new qcow2 over the raw image, so a boot leaves the
// image as it was.
func overlay(raw, path string) error {
	os.Remove(path)
	if o, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", raw, path).CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img: %v: %s", err, o)
	}
	return nil
}

// durationsCmd prints the timed lines of PID 1's init log: each phase's
// duration, the state partition's steps, each service's start steps.
const durationsCmd = "hostctl logs init | grep -E ' done in |service [^ ]+: (container|task|ready) |state: (looked for|mke2fs|mounted) |memory at PID 1'"

// memAtInitRe matches PID 1's line of the memory the kernel left it.
var memAtInitRe = regexp.MustCompile(`memory at PID 1's start: MemTotal ([0-9]+) kB, MemAvailable ([0-9]+) kB`)

// kernelShare is MemTotal minus MemAvailable when PID 1 starts, the median
// over the boots' init logs: what the kernel (and stage 1) hold before
// Berth's userspace grows. "" when no log has the line.
func kernelShare(initLogs []string) (value, note string) {
	var kb []float64
	for _, l := range initLogs {
		if m := memAtInitRe.FindStringSubmatch(l); m != nil {
			total, _ := strconv.ParseFloat(m[1], 64)
			avail, _ := strconv.ParseFloat(m[2], 64)
			kb = append(kb, total-avail)
		}
	}
	if len(kb) == 0 {
		return "", ""
	}
	return mib(int64(median(kb)) << 10), fmt.Sprintf("MemTotal − MemAvailable in PID 1's first phase, 512 MiB VM, median of %d boots", len(kb))
}

// phaseDoneRe matches the duration line the boot runner (init/boot) logs
// when a phase ends: "phase 3/10 config done in 0.412s".
var phaseDoneRe = regexp.MustCompile(`(?m)\bphase [0-9]+/[0-9]+ (\S+) done in ([0-9]+(?:\.[0-9]+)?)s\s*$`)

// phaseSeconds reads how long a phase took from an init log; ok is false
// when the log has no duration line for it.
func phaseSeconds(initLog, phase string) (secs float64, ok bool) {
	for _, m := range phaseDoneRe.FindAllStringSubmatch(initLog, -1) {
		if m[1] != phase {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return 0, false
		}
		return v, true
	}
	return 0, false
}

// phaseMeasure is the table row of a phase's time over several boots: the
// median of what their init logs say, or "missing" when any boot's log
// lacks the phase's line, for then there is nothing honest to report.
func phaseMeasure(initLogs []string, phase string) (value, note string) {
	var secs []float64
	for _, l := range initLogs {
		if s, ok := phaseSeconds(l, phase); ok {
			secs = append(secs, s)
		}
	}
	if len(initLogs) == 0 || len(secs) < len(initLogs) {
		return "missing", fmt.Sprintf("%d of %d boots logged no %q duration line", len(initLogs)-len(secs), len(initLogs), "phase N/M "+phase+" done in")
	}
	return fmt.Sprintf("%.2f s", median(secs)), fmt.Sprintf("median of %d", len(secs))
}

// memoryScript prints MemAvailable and the memory.current of the
// containerd service's cgroup: the service's process is berth-containerd
// until something uses the user containerd (which then is its child), or
// the user containerd itself, the containerd whose parent is not PID 1;
// /sys/fs/cgroup in its root is its service's cgroup.
// Then a line per process with an address space (kernel threads have
// none): "proc COMM RSS PSS", in kB, from its smaps_rollup; the console
// shares the host's PID namespace.
const memoryScript = `grep MemAvailable /proc/meminfo; ` + serviceMemory + `; ` +
	`for p in /proc/[0-9]*; do s=$(awk '/^Rss:/{r=$2} /^Pss:/{q=$2} /^Pss_Anon:/{a=$2} END{if (r != "") print r, q, a}' $p/smaps_rollup 2>/dev/null); [ -n "$s" ] && echo "proc $(cat $p/comm) $s"; done`

// serviceMemory prints the containerd service's memory.current (see
// memoryScript) as "user-containerd BYTES".
const serviceMemory = `for p in $(pidof berth-containerd) $(for p in $(pidof containerd); do [ "$(awk '/^PPid:/{print $2}' /proc/$p/status)" = 1 ] || echo $p; done); do echo "user-containerd $(cat /proc/$p/root/sys/fs/cgroup/memory.current)"; break; done`

// firstUseScript times two ctr version commands in the console, the
// first of which starts the user containerd, by the guest's uptime
// (10 ms steps), then prints the containerd service's memory.current.
const firstUseScript = `read a _ </proc/uptime; ctr version >/dev/null; read b _ </proc/uptime; ctr version >/dev/null; read c _ </proc/uptime; echo "first-use $a $b $c"; ` + serviceMemory

// firstUse is what firstUseScript reads.
type firstUse struct {
	first, next float64 // seconds: the first ctr version, and the one after
	memory      int64   // bytes: the service's memory.current after them
}

// parseFirstUse reads firstUseScript's output.
func parseFirstUse(s string) (firstUse, error) {
	var u firstUse
	err := scanLines(s,
		field{"first-use line", func(line string) bool {
			var a, b, c float64
			if _, err := fmt.Sscanf(line, "first-use %f %f %f", &a, &b, &c); err != nil {
				return false
			}
			u.first, u.next = b-a, c-b
			return true
		}},
		field{"user containerd's memory.current", sscan("user-containerd %d", &u.memory)})
	return u, err
}

// memory is what memoryScript reads.
type memory struct {
	availKB        int
	userContainerd int64 // bytes
	docker         int64 // bytes: the docker service (dockerMemory)
	firstUse       firstUse
	procs          []procMemory
	cpu            cpuUse // at the root shell after ready, before the rest
}

// procMemory is one process's resident and proportional set sizes.
type procMemory struct {
	name     string
	rss, pss int64 // kB
	pssAnon  int64 // kB: the PSS of its anonymous pages (heap, stacks)
}

// byName sums the processes of each name, largest PSS first, with the
// count of each in n; total is every process's PSS.
func byName(procs []procMemory) (rows []procMemory, n map[string]int, total int64) {
	sum := map[string]*procMemory{}
	n = map[string]int{}
	for _, p := range procs {
		if sum[p.name] == nil {
			sum[p.name] = &procMemory{name: p.name}
		}
		sum[p.name].rss += p.rss
		sum[p.name].pss += p.pss
		sum[p.name].pssAnon += p.pssAnon
		n[p.name]++
		total += p.pss
	}
	return largestFirst(sum, func(r procMemory) int64 { return r.pss }), n, total
}

// largestFirst lists the rows of a map keyed by their names, largest first
// by size, then by name.
func largestFirst[R any](rows map[string]*R, size func(R) int64) []R {
	names := make([]string, 0, len(rows))
	for name := range rows {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		if a, b := size(*rows[names[i]]), size(*rows[names[j]]); a != b {
			return a > b
		}
		return names[i] < names[j]
	})
	out := make([]R, 0, len(names))
	for _, name := range names {
		out = append(out, *rows[name])
	}
	return out
}

// parseMemory reads memoryScript's output.
func parseMemory(s string) (memory, error) {
	var m memory
	err := scanLines(s,
		field{"MemAvailable line", sscan("MemAvailable: %d kB", &m.availKB)},
		field{"user containerd's memory.current", sscan("user-containerd %d", &m.userContainerd)},
		field{"process's smaps_rollup", func(line string) bool {
			f := strings.Fields(line)
			if len(f) < 5 || f[0] != "proc" {
				return false
			}
			v, ok := ints(f[len(f)-3:])
			if ok {
				m.procs = append(m.procs, procMemory{name: strings.Join(f[1:len(f)-3], " "), rss: v[0], pss: v[1], pssAnon: v[2]})
			}
			return ok
		}})
	return m, err
}

// memAvailable boots with autologin and reads the processor time so far
// (cpuScript), as near the ready line as can be, then, once services have
// settled, MemAvailable and the user containerd's memory, and last the
// user containerd's first use (firstUseScript).
func memAvailable(ctx context.Context, cfg qemu.Config, re *regexp.Regexp, out string) (memory, error) {
	b, err := bootTo(ctx, cfg, re, out, cpuScript, "sleep 5", memoryScript, firstUseScript)
	if err != nil {
		return memory{}, err
	}
	cpu, err := parseCPU(b.outputs[0])
	if err != nil {
		return memory{}, err
	}
	m, err := parseMemory(b.outputs[2])
	if err != nil {
		return m, err
	}
	m.cpu = cpu
	m.firstUse, err = parseFirstUse(b.outputs[3])
	return m, err
}

// makeBareInitrd builds bench/bareinit into a one-file initramfs.
func makeBareInitrd(ctx context.Context, root, path string) (string, error) {
	bin := path + ".init"
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./bench/bareinit")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if o, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build bareinit: %v: %s", err, o)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	w := cpio.Newc.Writer(&buf)
	for _, r := range []cpio.Record{cpio.Directory("dev", 0o755), cpio.CharDev("dev/console", 0o600, 5, 1), cpio.StaticFile("init", string(data), 0o755)} {
		if err := w.WriteRecord(cpio.MakeReproducible(r)); err != nil {
			return "", err
		}
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, buf.Bytes(), 0o644)
}

// newestStageFile reads the file name of the newest entry of a stage that
// has one.
func newestStageFile(c *cache.Cache, stage, name string) []byte {
	ents, _ := filepath.Glob(filepath.Join(c.Root, "stage", stage, "*", name))
	var newest time.Time
	var data []byte
	for _, e := range ents {
		st, err := os.Stat(e)
		if err != nil || st.ModTime().Before(newest) {
			continue
		}
		if b, err := os.ReadFile(e); err == nil {
			newest, data = st.ModTime(), b
		}
	}
	return data
}

// kernelBuild reads how long the newest kernel stage took to build, and
// whether its tree was clean or held an earlier build.
func kernelBuild(c *cache.Cache) (secs float64, from string) {
	secs, _ = strconv.ParseFloat(strings.TrimSpace(string(newestStageFile(c, "kernel", "build-seconds"))), 64)
	from = strings.TrimSpace(string(newestStageFile(c, "kernel", "built-from")))
	if from == "" {
		from = "clean or incremental: not recorded"
	}
	return secs, from
}

// kernelIncremental reads the newest incremental check's report.
func kernelIncremental(c *cache.Cache) (kernel.IncrementalReport, bool) {
	var r kernel.IncrementalReport
	b := newestStageFile(c, "kernel-incremental", "report.json")
	return r, b != nil && json.Unmarshal(b, &r) == nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// suiteTiming reads the totals line of the last QEMU suite's timing table
// (test/sched writes it to out/test/timing.txt): the suite's time, with
// the line and when it was written as the note. Its figure comes from that
// run, not this one, and its row says so.
func suiteTiming(path string) (value, note string, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", false
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", "", false
	}
	m := regexp.MustCompile(`(?m)^(\d+) scenarios in (\S+) on (\d+) cores \(([^)]*)\)$`).FindStringSubmatch(string(b))
	if m == nil {
		return "", "", false
	}
	return m[2], fmt.Sprintf("%s scenarios on %s cores, %s; %s, written %s", m[1], m[3], m[4], path, fi.ModTime().UTC().Format(time.RFC3339)), true
}
