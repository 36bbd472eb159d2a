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
// (1 GiB RAM), it reads the default console's memory.current, imports the
// Debian userland as console-debian's image, switches to it with hostctl
// console switch and reads the new console's memory.current once its
// shell answers.
func consoleMemory(ctx context.Context, c *cache.Cache, root, out string, cfg qemu.Config) (def, debian int64, err error) {
	u, err := registry.Bookworm.Build(ctx, c, root, func(string, ...any) {})
	if err != nil {
		return 0, 0, err
	}
	img, err := u.Image(consoleImage)
	if err != nil {
		return 0, 0, err
	}
	b, err := registry.Tarball(consoleImage, img)
	if err != nil {
		return 0, 0, err
	}
	tarball := filepath.Join(out, "debian-console.tar")
	if err := os.WriteFile(tarball, b, 0o644); err != nil {
		return 0, 0, err
	}
	defer os.Remove(tarball)
	url, stop, err := serveFile(tarball)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	vm, done, err := bootOverlay(ctx, cfg, out, "console")
	if err != nil {
		return 0, 0, err
	}
	defer done()

	time.Sleep(5 * time.Second) // let the services settle, as memAvailable does
	if def, err = consoleCgroupMemory(vm); err != nil {
		return 0, 0, fmt.Errorf("default console: %w", err)
	}
	get := "wget -q -O /var/tmp/console.tar " + url + " && hostctl image import /var/tmp/console.tar; rm -f /var/tmp/console.tar"
	if o, code, err := vm.Run(get, 10*time.Minute); err != nil || code != 0 {
		return 0, 0, fmt.Errorf("%s: exit %d, %v\n%s", get, code, err, o)
	}
	// The switch ends the shell it runs in; the new console brings its own.
	vm.Send("hostctl console switch debian\n")
	deadline := time.Now().Add(5 * time.Minute)
	for {
		vm.Send("\n")
		if o, code, err := vm.Run("grep -q '^ID=debian' /etc/os-release && test -d /.berth", 10*time.Second); err == nil && code == 0 {
			break
		} else if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("no shell of console-debian after hostctl console switch debian: exit %d, %v\n%s", code, err, o)
		}
	}
	time.Sleep(5 * time.Second) // let its sshd and gettys settle
	if debian, err = consoleCgroupMemory(vm); err != nil {
		return 0, 0, fmt.Errorf("console-debian: %w", err)
	}
	return def, debian, nil
}

// consoleCgroupMemory reads the memory.current of the console the serial
// shell runs in: its cgroup namespace's root is its service's cgroup.
func consoleCgroupMemory(vm *qemu.VM) (int64, error) {
	o, code, err := vm.Run("cat /sys/fs/cgroup/memory.current", time.Minute)
	if err != nil || code != 0 {
		return 0, fmt.Errorf("memory.current: exit %d, %v\n%s", code, err, o)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(o), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("memory.current: %q: %w", o, err)
	}
	return n, nil
}
