package build

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-os/berth/build/image"
)

// The default image's ISO and disk menus boot only the default entry of
// each slot; debug_entries brings back autologin and debug, and changes
// the media's cache keys, so that a cached production image is never
// reused for a development one or the other way round.
func TestMediaMenusFollowTheSpec(t *testing.T) {
	spec := defaultSpec(t)
	j := &job{spec: spec, buildID: "0123"}
	for name, cfg := range map[string]string{
		"iso grub.cfg": j.isoMenu().GrubConfig(), "iso isolinux.cfg": j.isoMenu().SyslinuxConfig(),
		"raw grub.cfg": j.rawMenu().GrubConfig(),
	} {
		if strings.Contains(cfg, "berth.autologin") || strings.Contains(cfg, "berth.debug") {
			t.Errorf("the default image's %s logs root in:\n%s", name, cfg)
		}
	}
	m := media{Stage: "raw", Version: 1}
	prod, err := j.mediaKey(m, "boot").Key()
	if err != nil {
		t.Fatal(err)
	}

	dev := *spec
	dev.DebugEntries = true
	j = &job{spec: &dev, buildID: "0123"}
	if n := len(j.isoMenu().Entries); n != 3 {
		t.Errorf("iso menu with debug_entries: %d entries, want default, autologin and debug", n)
	}
	if g := j.rawMenu().GrubConfig(); !strings.Contains(g, "--id autologin") || !strings.Contains(g, "linux /berth/${berth_slot}/vmlinuz berth.slot=${berth_slot} berth.boot.part=${berth_boot_part} ${berth_args} ${berth_append} berth.debug berth.autologin\n") {
		t.Errorf("raw grub.cfg with debug_entries lacks the autologin and debug entries:\n%s", g)
	}
	// GRUB names the partition it came from, and every entry passes it
	// on, with the arguments hostctl install --append wrote and those of
	// the slot the environment block picks.
	g := j.rawMenu().GrubConfig()
	for _, want := range []string{
		"probe --set=berth_boot_part --part-uuid $root\n",
		"if [ -f /berth/append.cfg ]; then source /berth/append.cfg; fi\n",
		"load_env -f /boot/grub/grubenv berth_good berth_try berth_tries; fi\n",
		"  elif [ \"$berth_tries\" = 1 ]; then set berth_tries=0; set berth_slot=\"$berth_try\"\n",
		"  else set berth_rejected=\"$berth_try\"; set berth_try=\"\"; set berth_tries=\"\"; fi\n  save_env -f /boot/grub/grubenv berth_try berth_tries berth_rejected\n",
		"source /berth/$berth_slot/boot.cfg\n",
	} {
		if !strings.Contains(g, want) {
			t.Errorf("raw grub.cfg lacks %q:\n%s", want, g)
		}
	}
	if n := strings.Count(g, "berth.slot=${berth_slot} berth.boot.part=${berth_boot_part} ${berth_args} ${berth_append}"); n != 6 {
		t.Errorf("%d of 3 entries (BIOS and UEFI, 6 lines) pass the slot, the boot partition and the slot's and installed arguments:\n%s", n, g)
	}
	// Under UEFI each entry chainloads the slot's signed unified kernel
	// image; only BIOS starts the kernel itself.
	if n := strings.Count(g, "\tif [ \"$grub_platform\" = efi ]; then\n\t\tchainloader /berth/${berth_slot}/berth.efi berth.slot="); n != 3 {
		t.Errorf("%d of 3 entries chainload the slot's UKI under UEFI:\n%s", n, g)
	}
	// The ISO's GRUB for UEFI chainloads the install kit's UKI, so that
	// the live system boots under Secure Boot too.
	if iso := j.isoMenu().GrubConfig(); strings.Count(iso, "\t\tchainloader /berth/disk/berth.efi berth.boot=iso ") != 3 {
		t.Errorf("not every entry of the ISO's grub.cfg chainloads the kit's UKI under UEFI:\n%s", iso)
	}
	if key, _ := j.mediaKey(m, "boot").Key(); key == prod {
		t.Error("debug_entries leaves the media cache key as it was")
	}
}

// The spec's rescue reaches both stages: PID 1 through the image info,
// stage 1 through the initramfs.
func TestRescueReachesBothStages(t *testing.T) {
	for _, mode := range []string{"password", "shell", "off"} {
		spec := *defaultSpec(t)
		spec.Rescue = mode
		j := &job{spec: &spec}
		if got := j.imageInfo().Rescue; got != mode {
			t.Errorf("rescue %s: image info says %q", mode, got)
		}
		if got := j.initramfsContents("bb").Info.Rescue; got != mode {
			t.Errorf("rescue %s: the initramfs says %q", mode, got)
		}
	}
	// A cached initramfs of one mode is never taken for another's.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "stage1"), []byte("stage1"), 0o755)
	os.MkdirAll(filepath.Join(dir, "usr/bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "usr/bin/busybox"), []byte("busybox"), 0o755)
	keys := map[string]string{}
	for _, mode := range []string{"password", "shell", "off"} {
		j := &job{spec: &image.Spec{Rescue: mode}, gobin: dir}
		key, err := initramfsKey(j.initramfsContents(dir))
		if err != nil {
			t.Fatal(err)
		}
		if other, ok := keys[key]; ok {
			t.Errorf("rescue %s and %s share the initramfs cache key", mode, other)
		}
		keys[key] = mode
	}
}

// The disk's GRUB claims the SBAT generations of Debian's signed GRUB of
// the same source version: moving the grub2 pin means checking them
// (Debian's grub-efi-amd64-signed, objcopy --only-section=.sbat).
func TestGrubSBAT(t *testing.T) {
	lock, err := os.ReadFile("../images/packages.lock")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`- name: grub-efi-amd64-bin\n\s+version: (\S+)`).FindSubmatch(lock)
	if m == nil {
		t.Fatal("images/packages.lock pins no grub-efi-amd64-bin")
	}
	for _, line := range strings.Split(strings.TrimSpace(grubSBAT), "\n")[2:] {
		if !strings.Contains(line, ","+string(m[1])+",") {
			t.Errorf("SBAT line %q is not for the pinned GRUB %s", line, m[1])
		}
	}
}
