//go:build qemu

package test

import (
	"encoding/base64"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var updateCaps = flag.Bool("berth.update-caps", false, "rewrite test/testdata/service-privileges.golden from the booted machine (serviceCaps)")

// capNames are the capabilities by bit number (linux/capability.h).
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// decodeCaps turns a /proc/<pid>/status capability mask into names; a
// full mask reads "all".
func decodeCaps(hex string) string {
	n, ok := new(big.Int).SetString(hex, 16)
	if !ok {
		return "bad mask " + hex
	}
	var names []string
	for i, name := range capNames {
		if n.Bit(i) == 1 {
			names = append(names, name)
		}
	}
	if len(names) == len(capNames) {
		return "all"
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// privilegesScript prints, for the main process of each system service
// (the lowest PID in its cgroup), its status lines, oom_score_adj and its
// cgroup's limits as it sees them; then both containerds' oom_score_adj
// (ctr version first starts the user containerd, which starts on first use).
// It runs in the console, whose cgroup namespace shows its own cgroup as /
// and the others' as /../NAME (the user containerd's processes, and its
// users' containers, in cgroups below /../containerd).
const privilegesScript = `ctr version >/dev/null
me=$(cat /proc/self/cgroup)
for p in /proc/[0-9]*; do
  cg=$(cat $p/cgroup 2>/dev/null) || continue
  if [ "$cg" = "$me" ]; then svc=console
  else case "$cg" in */berth/*|*/../*) ;; *) continue;; esac
    rest=${cg#*/../}; [ "$rest" = "$cg" ] && rest=${cg#*/berth/}; svc=${rest%%/*}; fi
  case "$svc" in ""|..) continue;; esac
  echo "$svc ${p#/proc/}"
done | sort -k1,1 -k2,2n | awk '!seen[$1]++' | while read svc pid; do
  s=/proc/$pid/status
  echo "@priv $svc CapEff=$(awk '/^CapEff/{print $2}' $s) CapBnd=$(awk '/^CapBnd/{print $2}' $s) NoNewPrivs=$(awk '/^NoNewPrivs/{print $2}' $s) Seccomp=$(awk '/^Seccomp:/{print $2}' $s) oom_score_adj=$(cat /proc/$pid/oom_score_adj) memory.max=$(cat /proc/$pid/root/sys/fs/cgroup/memory.max 2>/dev/null || echo ?) pids.max=$(cat /proc/$pid/root/sys/fs/cgroup/pids.max 2>/dev/null || echo ?)"
done
for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = containerd ] && echo "@priv containerd oom_score_adj=$(cat $p/oom_score_adj)"; done
echo "@priv init oom_score_adj=$(cat /proc/1/oom_score_adj)"`

// runScript runs a shell script of many lines in the guest and returns
// its output. The serial console echoes a command of many lines among its
// output, and busybox's line editor takes 1024 characters at most: the
// script goes over base64-encoded in short lines, to a file.
func (m *machine) runScript(text string) string {
	m.t.Helper()
	const f = "/tmp/berth-test-script"
	b64 := base64.StdEncoding.EncodeToString([]byte(text))
	m.sh(": > " + f + ".b64")
	for len(b64) > 0 {
		n := min(len(b64), 600)
		m.sh("printf %s " + b64[:n] + " >> " + f + ".b64")
		b64 = b64[n:]
	}
	return m.sh("base64 -d " + f + ".b64 > " + f + " && sh " + f)
}

// servicePrivileges renders the lines privilegesScript printed (those
// that start with @priv): one line per service, capabilities by name.
func servicePrivileges(out string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		l, ok := strings.CutPrefix(strings.TrimSpace(l), "@priv ")
		if !ok {
			continue
		}
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		for i, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			if k == "CapEff" || k == "CapBnd" {
				f[i+1] = k + "=" + decodeCaps(v)
			}
		}
		lines = append(lines, strings.Join(f, " "))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// serviceCaps: each system service runs with the capabilities, seccomp
// mode, no-new-privileges flag, OOM score and cgroup limits that
// test/testdata/service-privileges.golden records (issue 9, least
// privilege); a service made privileged again, or given a capability,
// changes a line.
func serviceCaps(t *testing.T) {
	m := fork(t, nil)
	got := servicePrivileges(m.runScript(privilegesScript))
	p := filepath.Join(moduleRoot, "test", "testdata", "service-privileges.golden")
	if *updateCaps {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s:\n%s", p, got)
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("service privileges differ from %s (-want +got; rewrite it with -berth.update-caps after a deliberate change):\n%s", p, diff)
	}
	for _, svc := range []string{"udev", "logging", "network", "console", "ntp"} {
		if !strings.Contains(got, svc+" ") {
			t.Errorf("no line for %s:\n%s", svc, got)
		}
	}
}
