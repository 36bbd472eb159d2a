package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/internal/qemu"
	"github.com/berth-os/berth/test/registry"
)

// consoleImage is the image console-debian runs; the bench makes it from
// the test suite's pinned bookworm userland, as the QEMU tests do.
const consoleImage = "docker.io/library/debian:bookworm"

// consoleMemory measures what a distribution console adds over the
// default one: in a VM booted from a fresh overlay of the image's disk
// (1 GiB RAM), it reads the default console's use, imports the Debian
// userland as console-debian's image, switches to it with hostctl console
// switch and reads the new console's once its shell answers. The PSS of
// a console's processes is the fair figure: memory.current also holds the
// page cache charged to the cgroup that first read a file, which the
// default console did for both.
func consoleMemory(ctx context.Context, c *cache.Cache, root, out string, cfg qemu.Config) (def, debian consoleUse, err error) {
	u, err := registry.Bookworm.Build(ctx, c, root, func(string, ...any) {})
	if err != nil {
		return def, debian, err
	}
	img, err := u.Image(consoleImage)
	if err != nil {
		return def, debian, err
	}
	b, err := registry.Tarball(consoleImage, img)
	if err != nil {
		return def, debian, err
	}
	tarball := filepath.Join(out, "debian-console.tar")
	if err := os.WriteFile(tarball, b, 0o644); err != nil {
		return def, debian, err
	}
	defer os.Remove(tarball)
	url, stop, err := serveFile(tarball)
	if err != nil {
		return def, debian, err
	}
	defer stop()
	vm, done, err := bootOverlay(ctx, cfg, out, "console")
	if err != nil {
		return def, debian, err
	}
	defer done()

	time.Sleep(5 * time.Second) // let the services settle, as memAvailable does
	if def, err = consoleCgroupMemory(vm); err != nil {
		return def, debian, fmt.Errorf("default console: %w", err)
	}
	get := "wget -q -O /var/tmp/console.tar " + url + " && hostctl image import /var/tmp/console.tar; rm -f /var/tmp/console.tar"
	if o, code, err := vm.Run(get, 10*time.Minute); err != nil || code != 0 {
		return def, debian, fmt.Errorf("%s: exit %d, %v\n%s", get, code, err, o)
	}
	// The switch ends the shell it runs in; the new console brings its own.
	vm.Send("hostctl console switch debian\n")
	deadline := time.Now().Add(5 * time.Minute)
	for {
		vm.Send("\n")
		if o, code, err := vm.Run("grep -q '^ID=debian' /etc/os-release && test -d /.berth", 10*time.Second); err == nil && code == 0 {
			break
		} else if time.Now().After(deadline) {
			return def, debian, fmt.Errorf("no shell of console-debian after hostctl console switch debian: exit %d, %v\n%s", code, err, o)
		}
	}
	time.Sleep(5 * time.Second) // let its sshd and gettys settle
	if debian, err = consoleCgroupMemory(vm); err != nil {
		return def, debian, fmt.Errorf("console-debian: %w", err)
	}
	return def, debian, nil
}

// consoleMemoryScript prints, for the console the serial shell runs in
// (its cgroup namespace's root is its service's cgroup): its
// memory.current, the anon line of its memory.stat, and the sum of the Pss
// of every process in it and its child cgroups, in kB.
const consoleMemoryScript = `cat /sys/fs/cgroup/memory.current; grep '^anon ' /sys/fs/cgroup/memory.stat; t=0; for p in $(cat $(find /sys/fs/cgroup -name cgroup.procs)); do q=$(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup 2>/dev/null); t=$((t+${q:-0})); done; echo "pss $t"`

// consoleUse is what consoleMemoryScript reads: bytes, but pss in kB.
type consoleUse struct {
	current, anon, pssKB int64
}

// consoleCgroupMemory runs consoleMemoryScript in the serial shell.
func consoleCgroupMemory(vm *qemu.VM) (consoleUse, error) {
	o, code, err := vm.Run(consoleMemoryScript, time.Minute)
	if err != nil || code != 0 {
		return consoleUse{}, fmt.Errorf("console memory: exit %d, %v\n%s", code, err, o)
	}
	return parseConsoleUse(o)
}

// parseConsoleUse reads consoleMemoryScript's output.
func parseConsoleUse(s string) (consoleUse, error) {
	var u consoleUse
	lines := strings.Fields(strings.ReplaceAll(s, "\r", ""))
	if len(lines) != 5 || lines[1] != "anon" || lines[3] != "pss" {
		return u, fmt.Errorf("console memory: %q, want memory.current, anon N, pss N", s)
	}
	var err error
	for i, v := range []*int64{&u.current, &u.anon, &u.pssKB} {
		if *v, err = strconv.ParseInt(lines[[]int{0, 2, 4}[i]], 10, 64); err != nil {
			return u, fmt.Errorf("console memory: %q: %w", s, err)
		}
	}
	return u, nil
}
