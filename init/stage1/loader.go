package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf16"

	"golang.org/x/sys/unix"

	"github.com/berth-os/berth/init/cmdline"
	"github.com/berth-os/berth/internal/layout"
)

// loaderGUID is the vendor GUID of the Boot Loader Interface's EFI
// variables, which systemd-stub sets.
const loaderGUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

// maxLoaderVar caps what is read of one variable: a GUID or a path.
const maxLoaderVar = 4096

// loaderVar is the string value of the Boot Loader Interface variable
// name in efivarfs at dir: "" when it is absent or not a string.
func loaderVar(dir, name string) string {
	f, err := os.Open(filepath.Join(dir, name+"-"+loaderGUID))
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, maxLoaderVar)
	n, _ := f.Read(b)
	// Four bytes of attributes, then UTF-16LE, NUL-terminated.
	if n < 4 || (n-4)%2 != 0 {
		return ""
	}
	u := make([]uint16, 0, (n-4)/2)
	for i := 4; i+1 < n; i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// slotImage matches a slot's unified kernel image path (layout.SlotUKI) as
// the firmware names it, and isoImage the ISO's (its install kit's UKI).
var (
	slotImage = regexp.MustCompile(`^\\berth\\([ab])\\berth\.efi$`)
	isoImage  = `\berth\disk\berth.efi`
)

// loaderFlags fills in berth.slot and berth.boot.part when the command
// line lacks them, from what systemd-stub recorded of where it was loaded:
// the path of the image (LoaderImageIdentifier, a slot's UKI) and the GUID
// of its partition (LoaderDevicePartUUID); or berth.boot=iso, when the
// image is the ISO's. With Secure Boot on, the stub
// boots its own signed command line, which names neither, as one image
// serves both slots of every disk. efivars is efivarfs; the notes say what
// was taken from it.
func loaderFlags(flags cmdline.Flags, efivars string) (cmdline.Flags, []string) {
	var notes []string
	out := cmdline.Flags{}
	for k, v := range flags {
		out[k] = v
	}
	_, slot := flags["berth.slot"]
	_, medium := flags["berth.boot"]
	if !slot && !medium {
		img := strings.ToLower(strings.ReplaceAll(loaderVar(efivars, "LoaderImageIdentifier"), "/", `\`))
		if m := slotImage.FindStringSubmatch(img); m != nil {
			out["berth.slot"] = m[1]
			notes = append(notes, "berth.slot="+m[1]+" from the image the firmware loaded ("+img+")")
		} else if img == isoImage {
			// The live ISO (or the ISO written to a stick): the root is
			// on its ISO 9660 volume, not a partition.
			out["berth.boot"] = "iso"
			notes = append(notes, "berth.boot=iso from the image the firmware loaded ("+img+")")
			return out, notes
		}
	}
	if _, ok := flags[layout.FlagBootPart]; !ok {
		if part := strings.ToLower(loaderVar(efivars, "LoaderDevicePartUUID")); part != "" {
			out[layout.FlagBootPart] = part
			notes = append(notes, layout.FlagBootPart+"="+part+" from the partition the firmware loaded it from")
		}
	}
	return out, notes
}

// withLoaderFlags is loaderFlags on this machine's EFI variables, when it
// booted by UEFI: efivarfs is mounted for the reading only.
func withLoaderFlags(flags cmdline.Flags) cmdline.Flags {
	if _, err := os.Stat("/sys/firmware/efi"); err != nil {
		return flags
	}
	const dir = "/efivars"
	os.MkdirAll(dir, 0o755)
	if err := unix.Mount("efivarfs", dir, "efivarfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		logf("efivarfs: %v", err)
		return flags
	}
	defer unix.Unmount(dir, 0)
	flags, notes := loaderFlags(flags, dir)
	for _, n := range notes {
		logf("%s", n)
	}
	return flags
}
