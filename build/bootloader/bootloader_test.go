package bootloader

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func menu(debug bool) Menu {
	entries := NewMenu("/berth/a/vmlinuz", "/berth/a/initrd.img", "berth.slot=a console=ttyS0", "", "", debug)
	for _, e := range NewMenu("/berth/b/vmlinuz", "/berth/b/initrd.img", "berth.slot=b console=ttyS0", "slot-b-", " slot B", debug) {
		e.IfExists = true
		entries = append(entries, e)
	}
	return Menu{Timeout: 1, Marker: "/berth/x.id", Entries: entries}
}

func TestGrubConfig(t *testing.T) {
	g := menu(true).GrubConfig()
	for _, want := range []string{
		"set timeout=1\n",
		"serial --unit=0 --speed=115200\n",
		"set superusers=\"root\"\nexport superusers\n",
		"menuentry \"Berth\" --id berth --unrestricted {\n\tlinux /berth/a/vmlinuz berth.slot=a console=ttyS0\n\tinitrd /berth/a/initrd.img\n}\n",
		"menuentry \"Berth (autologin on every console)\" --id autologin --unrestricted {\n\tlinux /berth/a/vmlinuz berth.slot=a console=ttyS0 berth.autologin\n",
		"if [ -e /berth/b/vmlinuz ]; then\nmenuentry \"Berth slot B\" --id slot-b- --unrestricted {",
	} {
		if !strings.Contains(g, want) {
			t.Errorf("grub.cfg lacks %q:\n%s", want, g)
		}
	}
}

// A production menu, one entry, is not shown: GRUB boots it at once. A
// menu with a choice waits Timeout for it.
func TestGrubTimeout(t *testing.T) {
	one := Menu{Timeout: 1, Entries: NewMenu("/berth/a/vmlinuz", "/berth/a/initrd.img", "berth.slot=a", "", "", false)}
	if g := one.GrubConfig(); !strings.Contains(g, "set timeout=0\n") || strings.Contains(g, "set timeout=1") {
		t.Errorf("a menu of one entry: want set timeout=0:\n%s", g)
	}
	for _, m := range []Menu{menu(true), menu(false)} {
		if g := m.GrubConfig(); !strings.Contains(g, "set timeout=1\n") {
			t.Errorf("a menu of %d entries: want set timeout=1:\n%s", len(m.Entries), g)
		}
	}
}

func TestSyslinuxConfig(t *testing.T) {
	s := menu(true).SyslinuxConfig()
	for _, want := range []string{"DEFAULT berth\n", "TIMEOUT 10\n", "ALLOWOPTIONS 0\n", "LABEL debug\n", "APPEND berth.slot=a console=ttyS0 berth.debug berth.autologin\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("syslinux.cfg lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "/berth/b/") {
		t.Errorf("syslinux cannot test for slot B, so it must not list it:\n%s", s)
	}
}

func TestIPXEScript(t *testing.T) {
	pxe := func(debug bool) string {
		m := Menu{Timeout: 1, Entries: NewMenu(IPXEBase+"vmlinuz", IPXEBase+"initrd.img", "console=ttyS0 berth.root="+IPXEBase+"rootfs.squashfs", "", "", debug)}
		return m.IPXEScript()
	}
	one := pxe(false)
	if !strings.HasPrefix(one, "#!ipxe\n") {
		t.Errorf("the script does not start with #!ipxe:\n%s", one)
	}
	for _, want := range []string{
		"isset ${base-url} || set base-url http://${next-server}/\n",
		"kernel ${base-url}vmlinuz initrd=initrd.img console=ttyS0 berth.root=${base-url}rootfs.squashfs\ninitrd ${base-url}initrd.img\nboot\n",
	} {
		if !strings.Contains(one, want) {
			t.Errorf("the script lacks %q:\n%s", want, one)
		}
	}
	if strings.Contains(one, "menu") || strings.Contains(one, "autologin") {
		t.Errorf("a production script has one entry and no menu:\n%s", one)
	}
	menu := pxe(true)
	for _, want := range []string{
		"item autologin Berth (autologin on every console)\n",
		"choose --default berth --timeout 1000 target && goto ${target} || goto berth\n",
		":debug\nkernel ${base-url}vmlinuz initrd=initrd.img console=ttyS0 berth.root=${base-url}rootfs.squashfs berth.debug berth.autologin\n",
	} {
		if !strings.Contains(menu, want) {
			t.Errorf("the debug script lacks %q:\n%s", want, menu)
		}
	}
}

// A production menu (no debug_entries) offers nothing that logs root in:
// one entry per slot, neither config mentions autologin or debug.
func TestProductionMenu(t *testing.T) {
	m := menu(false)
	var labels []string
	for _, e := range m.Entries {
		labels = append(labels, idOf(e.Label))
	}
	if got := strings.Join(labels, " "); got != "berth slot-b-" {
		t.Errorf("entries %q, want only the default entry of each slot", got)
	}
	for name, cfg := range map[string]string{"grub.cfg": m.GrubConfig(), "syslinux.cfg": m.SyslinuxConfig()} {
		for _, bad := range []string{"autologin", "berth.debug", "LABEL debug", "--id debug"} {
			if strings.Contains(cfg, bad) {
				t.Errorf("production %s holds %q:\n%s", name, bad, cfg)
			}
		}
		if !strings.Contains(cfg, "berth.slot=a console=ttyS0") {
			t.Errorf("production %s lacks the default entry:\n%s", name, cfg)
		}
	}
}

// FAT images made twice from the same files are the same bytes, whatever
// the builder's time zone (FAT records local time) and locale.
func TestFATReproducible(t *testing.T) {
	for _, tool := range []string{"mkfs.fat", "mcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing: run make deps", tool)
		}
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "kernel")
	os.WriteFile(src, []byte("kernel bytes"), 0o644)
	var sums []string
	for _, b := range []struct{ name, tz, locale string }{{"a.img", "UTC", "C"}, {"b.img", "Asia/Tokyo", "fr_FR.UTF-8"}} {
		t.Setenv("TZ", b.tz)
		t.Setenv("LC_ALL", b.locale)
		f, err := NewFAT(context.Background(), filepath.Join(dir, b.name), FATOptions{Size: 8 << 20, Label: "EFI", Hidden: 2048, Epoch: 1735689600})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Copy(context.Background(), src, "/berth/a/vmlinuz"); err != nil {
			t.Fatal(err)
		}
		if err := f.CopyData(context.Background(), []byte("cfg"), "/boot/grub/grub.cfg"); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(f.Path)
		sums = append(sums, string(b))
	}
	if sums[0] != sums[1] {
		t.Error("FAT images from the same input differ between time zones")
	}
	out, err := exec.Command("mtype", "-i", filepath.Join(dir, "a.img"), "::/berth/a/vmlinuz").CombinedOutput()
	if err != nil || string(out) != "kernel bytes" {
		t.Errorf("file in image: %q %v", out, err)
	}
}
