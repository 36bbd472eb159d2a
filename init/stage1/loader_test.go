package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/berth-os/berth/init/cmdline"
	"github.com/berth-os/berth/installer"
)

// efivar writes an efivarfs file: attributes, then UTF-16LE with a NUL.
func efivar(t *testing.T, dir, name, value string) {
	t.Helper()
	b := []byte{6, 0, 0, 0}
	for _, c := range utf16.Encode([]rune(value + "\x00")) {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-"+loaderGUID), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoaderFlags(t *testing.T) {
	dir := t.TempDir()
	efivar(t, dir, "LoaderImageIdentifier", `\berth\b\berth.efi`)
	efivar(t, dir, "LoaderDevicePartUUID", "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE")
	// Under Secure Boot the stub's own command line names neither.
	got, notes := loaderFlags(cmdline.Parse("console=ttyS0 berth.verity=x"), dir)
	want := cmdline.Parse("console=ttyS0 berth.verity=x berth.slot=b berth.boot.part=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee")
	if !reflect.DeepEqual(got, want) || len(notes) != 2 {
		t.Errorf("loaderFlags = %v %q; want %v", got, notes, want)
	}
	// What the command line says wins: GRUB passes both without Secure Boot.
	cl := cmdline.Parse("berth.slot=a berth.boot.part=11111111-2222-4333-8444-555555555555")
	if got, notes := loaderFlags(cl, dir); !reflect.DeepEqual(got, cl) || len(notes) != 0 {
		t.Errorf("loaderFlags with both on the command line = %v %q", got, notes)
	}
	// An image that is not a slot's UKI names no slot.
	for _, img := range []string{`\EFI\BOOT\BOOTX64.EFI`, `\berth\c\berth.efi`, `\berth\a\vmlinuz`} {
		efivar(t, dir, "LoaderImageIdentifier", img)
		if got, _ := loaderFlags(cmdline.Parse(""), dir); got["berth.slot"] != "" {
			t.Errorf("image %s: berth.slot=%s, want none", img, got["berth.slot"])
		}
	}
	// The ISO's image (the install kit's UKI, which the ISO's GRUB
	// chainloads): the live medium, and no boot partition, whatever the
	// firmware recorded of the stick the ISO was written to.
	efivar(t, dir, "LoaderImageIdentifier", `\berth\disk\berth.efi`)
	got, notes = loaderFlags(cmdline.Parse("berth.verity=x"), dir)
	if want := cmdline.Parse("berth.verity=x berth.boot=iso"); !reflect.DeepEqual(got, want) || len(notes) != 1 || !strings.Contains(notes[0], "berth.boot=iso") {
		t.Errorf("the ISO's image: loaderFlags = %v %q; want %v", got, notes, want)
	}
	if want := "\\" + strings.ReplaceAll(installer.KitDir, "/", "\\") + "\\berth.efi"; isoImage != want {
		t.Errorf("isoImage = %s, but the install kit's UKI is %s", isoImage, want)
	}
	// Forward slashes and any case name the same image.
	efivar(t, dir, "LoaderImageIdentifier", `/BERTH/B/BERTH.EFI`)
	if got, _ := loaderFlags(cmdline.Parse(""), dir); got["berth.slot"] != "b" {
		t.Errorf("/BERTH/B/BERTH.EFI: berth.slot=%q, want b", got["berth.slot"])
	}
	// No variables (BIOS, another loader): the flags as they were.
	empty := t.TempDir()
	if got, notes := loaderFlags(cmdline.Parse("quiet"), empty); !reflect.DeepEqual(got, cmdline.Parse("quiet")) || notes != nil {
		t.Errorf("no variables: %v %q", got, notes)
	}
	// A variable too short to hold a string is none.
	os.WriteFile(filepath.Join(empty, "LoaderDevicePartUUID-"+loaderGUID), []byte{6, 0}, 0o644)
	if v := loaderVar(empty, "LoaderDevicePartUUID"); v != "" {
		t.Errorf("short variable = %q", v)
	}
	efivar(t, empty, "LoaderDevicePartUUID", strings.Repeat("x", 5000))
	if v := loaderVar(empty, "LoaderDevicePartUUID"); len(v) != (maxLoaderVar-4)/2 {
		t.Errorf("a long variable is read to %d characters, want the cap %d", len(v), (maxLoaderVar-4)/2)
	}
}
