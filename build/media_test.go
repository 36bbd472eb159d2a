package build

import (
	"os"
	"path/filepath"
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
	if g := j.rawMenu().GrubConfig(); !strings.Contains(g, "--id slot-b-autologin") || !strings.Contains(g, "berth.slot=a berth.boot.part=${berth_boot_part} "+j.cmdline()+" ${berth_append} berth.debug berth.autologin") {
		t.Errorf("raw grub.cfg with debug_entries lacks the autologin and debug entries:\n%s", g)
	}
	// GRUB names the partition it came from, and every entry passes it on.
	if g := j.rawMenu().GrubConfig(); !strings.Contains(g, "probe --set=berth_boot_part --part-uuid $root\n") || strings.Count(g, "berth.boot.part=${berth_boot_part}") != 6 {
		t.Errorf("raw grub.cfg does not pass on the boot partition in every entry:\n%s", g)
	}
	// Every entry adds the arguments hostctl install --append wrote.
	if g := j.rawMenu().GrubConfig(); !strings.Contains(g, "if [ -f /berth/append.cfg ]; then source /berth/append.cfg; fi\n") || strings.Count(g, "${berth_append}") != 6 {
		t.Errorf("raw grub.cfg does not add the installed arguments to every entry:\n%s", g)
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
