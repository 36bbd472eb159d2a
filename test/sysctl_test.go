//go:build qemu

package test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/berth-os/berth/sysctl"
)

var updateSysctls = flag.Bool("berth.update-sysctls", false, "rewrite sysctl/kernel.txt from the booted kernel's /proc/sys (checkSysctlTable)")

// sysctlModules add sysctls of their own when loaded (fs.xfs, fs.nfs,
// sunrpc); the table is made, and checked, with them loaded.
const sysctlModules = "xfs nfs"

// sysctlDump lists /proc/sys in three parts: the files the owner may write,
// those it may read, then every file with the first line of its value. It
// runs in a subshell that leaves the console's working folder alone. The
// value is read with head: the shell's read takes a byte at a time, and
// the kernel's number handlers answer a read past offset 0 with nothing.
const sysctlDump = `(modprobe -a ` + sysctlModules + ` >/dev/null 2>&1; cd /proc/sys && echo '== w' && find . -type f -perm -200 && echo '== r' && find . -type f -perm -400 && echo '== v' && find . -type f | while read -r f; do printf '%s\t%s\n' "$f" "$(head -n 1 "$f" 2>/dev/null)"; done; echo '== end')`

// liveSysctls is the table of the booted kernel, from sysctlDump.
func liveSysctls(t *testing.T, m *machine) sysctl.Table {
	t.Helper()
	out := m.sh(sysctlDump)
	live, err := parseSysctlDump(out)
	if err != nil {
		t.Fatalf("%v:\n%s", err, lastLines(out, 20))
	}
	return live
}

// parseSysctlDump reads sysctlDump's output into a table.
func parseSysctlDump(out string) (sysctl.Table, error) {
	out = strings.ReplaceAll(out, "\r", "")
	w, r := map[string]bool{}, map[string]bool{}
	values := map[string]string{}
	part := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "== ") {
			part = line[3:]
			continue
		}
		if !strings.HasPrefix(line, "./") {
			continue
		}
		name, value, _ := strings.Cut(line[2:], "\t")
		if strings.HasPrefix(name, "fs/binfmt_misc/") {
			continue // a filesystem mounted there, not sysctls
		}
		switch part {
		case "w":
			w[name] = true
		case "r":
			r[name] = true
		case "v":
			values[name] = value
		}
	}
	if part != "end" || len(values) < 200 {
		return nil, fmt.Errorf("the /proc/sys dump is cut short (%d files, last part %q)", len(values), part)
	}
	live := sysctl.Table{}
	for name, v := range values {
		live.Add(strings.ReplaceAll(name, "/", "."), v, r[name], w[name])
	}
	return live, nil
}

// diffSysctls lists how the table differs from the live kernel's: what it
// lacks or has of another shape, and what the kernel lacks (but for
// hardwareSysctls).
func diffSysctls(table, live sysctl.Table) []string {
	var diffs []string
	for _, n := range live.Names() {
		want, ok := table[n]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("+ %s (the kernel has it, the table does not)", live[n]))
		case want != live[n]:
			diffs = append(diffs, fmt.Sprintf("~ %s (the kernel shows %s)", want, live[n]))
		}
	}
	for _, n := range table.Names() {
		if _, ok := live[n]; !ok && !hardwareSysctls.MatchString(n) {
			diffs = append(diffs, fmt.Sprintf("- %s (the table has it, the kernel does not)", table[n]))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// hardwareSysctls are sysctls that exist only with a device: a CD drive
// (dev.cdrom), which the table is made with.
var hardwareSysctls = regexp.MustCompile(`^dev\.cdrom\.`)

// sysctlTable runs checkSysctlTable on a fork of the saved ready machine.
func sysctlTable(t *testing.T) {
	checkSysctlTable(t, fork(t, nil))
}

// checkSysctlTable compares sysctl/kernel.txt with the booted kernel's
// /proc/sys (with -berth.update-sysctls, rewrites it from there: boot
// with a CD drive for dev.cdrom), then checks that hostctl refuses a
// sysctl that is not a number, or not the kernel's, and writes nothing;
// and that a value the kernel refuses when it is applied shows in
// hostctl config status with its key.
func checkSysctlTable(t *testing.T, m *machine) {
	t.Helper()
	live := liveSysctls(t, m)
	if *updateSysctls {
		release := strings.TrimSpace(m.sh("uname -r"))
		text := live.Format(sysctl.KernelTableHeader + "\nKernel " + release + ".")
		p := filepath.Join(moduleRoot, "sysctl", "kernel.txt")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s: %d sysctls of kernel %s", p, len(live), release)
	} else {
		diffs := diffSysctls(sysctl.Kernel(), live)
		if len(diffs) > 0 {
			if len(diffs) > 40 {
				diffs = append(diffs[:40], fmt.Sprintf("... and %d more", len(diffs)-40))
			}
			t.Errorf("sysctl/kernel.txt differs from the booted kernel's /proc/sys (rewrite it with -berth.update-sysctls):\n%s", strings.Join(diffs, "\n"))
		}
	}

	// Refused before anything is written: exit 3 (invalid config), the
	// field and what was expected, the local config and the kernel unchanged.
	local := localConfig
	snapshot := func() string {
		out, _ := m.shCode("cat " + local + " 2>&1; cat /proc/sys/vm/swappiness")
		return out
	}
	before := snapshot()
	for cmd, want := range map[string]string{
		"hostctl config set berth.sysctl.vm.swappiness banana":                    `berth.sysctl."vm.swappiness": expected a number, got "banana"`,
		"hostctl config set berth.sysctl.vm.swapiness 10":                         `berth.sysctl."vm.swapiness": unknown sysctl: Berth's kernel has no vm.swapiness (did you mean vm.swappiness?)`,
		"hostctl config set berth.sysctl.net.ipv4.ip_local_port_range 1024-65000": `expected up to 2 numbers separated by spaces`,
	} {
		out, code := m.shCode(cmd)
		if code != 3 || !strings.Contains(out, want) {
			t.Errorf("%s: exit %d, want 3 and %q\n%s", cmd, code, want, out)
		}
	}
	if after := snapshot(); after != before {
		t.Errorf("a refused hostctl config set changed the local config or the kernel:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// Valid in shape, refused by the kernel (vm.swappiness is 0 to 200):
	// written, reported with its key, and shown by hostctl config status.
	out, code := m.shCode("hostctl config set berth.sysctl.vm.swappiness 500")
	if code == 0 || !strings.Contains(out, `berth.sysctl."vm.swappiness" = 500: the kernel refused it`) {
		t.Errorf("hostctl config set berth.sysctl.vm.swappiness 500: exit %d, want an apply error naming the key\n%s", code, out)
	}
	out, code = m.shCode("hostctl config status")
	if code != 1 || !strings.Contains(out, `apply error: berth.sysctl."vm.swappiness" = 500: the kernel refused it: write /proc/sys/vm/swappiness: invalid argument`) {
		t.Errorf("hostctl config status: exit %d, want 1 with the apply error and its key\n%s", code, out)
	}
	m.sh("hostctl config unset berth.sysctl.vm.swappiness")
}
