package installer

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/layout"
)

func writeKit(t *testing.T, manifest string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, KitDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, KitManifest), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReadKit(t *testing.T) {
	dir := writeKit(t, `{"efi_size": 67108864, "slot_size": 536870912, "boot_img": "berth/disk/boot.img",
		"core_img": "berth/disk/core.img", "root": "berth/rootfs.squashfs",
		"efi": [{"src": "boot/vmlinuz", "dst": "/berth/a/vmlinuz"}]}`)
	k, err := ReadKit(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k.Root != filepath.Join(dir, "berth/rootfs.squashfs") || k.EFI[0].Src != filepath.Join(dir, "boot/vmlinuz") || k.EFI[0].Dst != "/berth/a/vmlinuz" || k.SlotSize != 512<<20 {
		t.Errorf("kit %+v", k)
	}
	for _, tc := range []struct{ manifest, want string }{
		{`{"efi_size": 1, "slot_size": 1, "boot_img": "../../etc/shadow", "core_img": "c", "root": "r", "efi": [{"src": "a", "dst": "/a"}]}`, `"../../etc/shadow" is not a clean path`},
		{`{"efi_size": 1, "slot_size": 1, "boot_img": "b", "core_img": "c", "root": "r", "efi": [{"src": "a", "dst": "/../x"}]}`, `efi[0].dst "/../x"`},
		{`{"efi_size": 1, "slot_size": 1, "boot_img": "b", "core_img": "c", "root": "r", "efi": []}`, "efi_size, slot_size and efi are required"},
		{`{"efi_size": 1, "sizes": 2}`, `unknown field "sizes"`},
		{`{"efi_size": 1, "pad": "` + strings.Repeat("x", maxManifest) + `"}`, "is over 64 KiB"},
	} {
		if _, err := ReadKit(writeKit(t, tc.manifest)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("manifest %.60s: %v; want an error with %q", tc.manifest, err, tc.want)
		}
	}
	if _, err := ReadKit(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("no manifest: %v", err)
	}
}

// testKit is a kit whose root is a 3 MiB file.
func testKit(t *testing.T) Kit {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs.squashfs")
	if err := os.WriteFile(root, make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	return Kit{EFISize: 8 << 20, SlotSize: 16 << 20, Root: root, BootImg: root, CoreImg: root, EFI: []File{{root, "/x"}}}
}

func blankDisk(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	return p
}

// A disk that holds a partition table or a filesystem is refused, and not
// written; with Wipe (here a dry run) it is taken.
func TestInstallRefusesADiskInUse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		off   int64
		bytes []byte
		want  string
	}{
		{"ext4", 1024 + 0x38, []byte{0x53, 0xef}, "holds an ext4 filesystem; --wipe erases it"},
		{"gpt", 512, []byte("EFI PART"), "holds a GPT partition table"},
		{"data", 65600, []byte("x"), "holds data (no filesystem Berth knows)"},
		{"mbr", 446, append(append([]byte{0x80, 1, 1, 0, 0x83}, make([]byte, 59)...), 0x55, 0xaa), "holds an MBR partition table"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk := blankDisk(t, 256<<20)
			f, _ := os.OpenFile(disk, os.O_RDWR, 0)
			f.WriteAt(tc.bytes, tc.off)
			f.Close()
			before, _ := os.ReadFile(disk)
			_, err := Install(context.Background(), testKit(t), Options{Device: disk})
			if !errors.Is(err, ErrNotBlank) || !strings.Contains(err.Error(), disk+" "+tc.want) {
				t.Errorf("install onto a disk with %s: %v; want %q", tc.name, err, tc.want)
			}
			if after, _ := os.ReadFile(disk); string(after) != string(before) {
				t.Error("the refused disk was written")
			}
			plan, err := Install(context.Background(), testKit(t), Options{Device: disk, Wipe: true, DryRun: true})
			if err != nil || !strings.Contains(plan.String(), "(wiped)") {
				t.Errorf("--wipe --dry-run: %v\n%s", err, plan)
			}
		})
	}
}

// A dry run plans the whole disk and writes nothing.
func TestInstallDryRun(t *testing.T) {
	disk := blankDisk(t, 256<<20)
	plan, err := Install(context.Background(), testKit(t), Options{Device: disk, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := ByName(plan.Parts, layout.PartState)
	if plan.Size != 256<<20 || len(plan.Parts) != 5 || st.Start+st.Size != 255<<20 {
		t.Errorf("plan %+v", plan)
	}
	for _, want := range []string{disk + ": 256 MiB\n", "  2 BERTH_A          16 MiB  at    10 MiB  the running root (3 MiB, verified)\n", "BERTH_STATE"} {
		if !strings.Contains(plan.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if b, _ := os.ReadFile(disk); !isZero(b) {
		t.Error("a dry run wrote the disk")
	}
	// Two installs never share GUIDs.
	again, _ := Install(context.Background(), testKit(t), Options{Device: disk, DryRun: true})
	if again.Parts[0].GUID == plan.Parts[0].GUID {
		t.Error("two installs planned the same partition GUIDs")
	}
	// Too small a disk, too big a root.
	if _, err := Install(context.Background(), testKit(t), Options{Device: blankDisk(t, 64<<20), DryRun: true}); err == nil || !strings.Contains(err.Error(), "needs at least 64 MiB") {
		t.Errorf("a 64 MiB disk: %v", err)
	}
	k := testKit(t)
	k.EFI = append(k.EFI, File{"/nonexistent/vmlinuz", "/berth/a/vmlinuz"})
	if _, err := Install(context.Background(), k, Options{Device: disk, DryRun: true}); err == nil || !strings.Contains(err.Error(), "install kit: stat /nonexistent/vmlinuz") {
		t.Errorf("a kit without its kernel: %v", err)
	}
	k = testKit(t)
	k.SlotSize = 2 << 20
	if _, err := Install(context.Background(), k, Options{Device: disk, DryRun: true}); err == nil || !strings.Contains(err.Error(), "the root is 3 MiB; a slot holds 2 MiB") {
		t.Errorf("a root bigger than a slot: %v", err)
	}
}

func TestCheckAppend(t *testing.T) {
	if err := CheckAppend("console=ttyS1 quiet net.ifnames=0"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{`a"; set superusers=""`, "a\nb", "$x", `a\b`, "a`b`", strings.Repeat("x", 1025)} {
		if err := CheckAppend(bad); err == nil {
			t.Errorf("CheckAppend(%q) took it", bad)
		}
	}
}

// A failing mkfs's output reaches the error, through the pipe PID 1's
// reaper needs.
func TestRunKeepsOutput(t *testing.T) {
	o := Options{Run: func(c *exec.Cmd) error { return c.Run() }, MkfsEnv: []string{"PATH=/usr/bin:/bin"}}
	err := o.run(exec.Command("/bin/sh", "-c", "echo no space left >&2; exit 3"))
	if err == nil || !strings.Contains(err.Error(), "sh: exit status 3: no space left") {
		t.Errorf("run: %v", err)
	}
	if err := o.run(exec.Command("/bin/sh", "-c", "test \"$PATH\" = /usr/bin:/bin")); err != nil {
		t.Errorf("run without the environment: %v", err)
	}
}

// A disk-booted host's kit is its EFI partition's files for the running
// slot, GRUB's BIOS code kept there, and the verified part of its root.
func TestDiskKit(t *testing.T) {
	efi := t.TempDir()
	for _, f := range []string{"EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi", "berth/b/vmlinuz", "berth/b/initrd.img", "berth/b/berth.efi", "berth/b/boot.cfg", "berth/b/version", "boot/grub/grub.cfg", "berth/disk/boot.img", "berth/disk/core.img", "berth/0123.id"} {
		os.MkdirAll(filepath.Join(efi, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(efi, f), []byte(f), 0o644)
	}
	k, err := DiskKit(efi, "b", "/dev/vda3", 5<<20, 64<<20, 512<<20)
	if err != nil {
		t.Fatal(err)
	}
	if k.Root != "/dev/vda3" || k.RootSize != 5<<20 || k.BootImg != filepath.Join(efi, "berth/disk/boot.img") || k.SlotSize != 512<<20 {
		t.Errorf("kit %+v", k)
	}
	want := map[string]string{"/berth/a/vmlinuz": "berth/b/vmlinuz", "/berth/a/berth.efi": "berth/b/berth.efi", "/berth/a/boot.cfg": "berth/b/boot.cfg", "/berth/a/version": "berth/b/version", "/berth/0123.id": "berth/0123.id", EFICoreImg: "berth/disk/core.img"}
	for _, f := range k.EFI {
		if src, ok := want[f.Dst]; ok && f.Src != filepath.Join(efi, src) {
			t.Errorf("%s from %s, want %s", f.Dst, f.Src, src)
		}
		if _, err := os.Stat(f.Src); err != nil {
			t.Error(err)
		}
	}
	os.WriteFile(filepath.Join(efi, "berth/4567.id"), nil, 0o644)
	if _, err := DiskKit(efi, "b", "/dev/vda3", 1, 1, 1); err == nil || !strings.Contains(err.Error(), "2 build markers") {
		t.Errorf("two markers: %v", err)
	}
}
