package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Info is what PID 1 learns about its image at boot; the build writes it
// to InfoPath.
type Info struct {
	Name     string   `json:"name"`
	Hostname string   `json:"hostname"`
	Sysctl   string   `json:"sysctl"`
	Services []string `json:"services"`
	Versions Versions `json:"versions"`
	// Rescue is the image spec's rescue: what PID 1 offers on the console
	// when boot fails or berth.break stops it (Rescue* below; "" is
	// RescuePassword).
	Rescue string `json:"rescue,omitempty"`
}

// What an image offers on the console when boot fails or berth.break
// stops it: the image spec's rescue key.
const (
	// RescuePassword, the default: a shell after root's password
	// (sulogin), when cloud-config gave root one; no shell otherwise.
	RescuePassword = "password"
	// RescueShell: as RescuePassword, and a shell without a password when
	// root has none (development images). Stage 1, which has no
	// cloud-config, gives its shell only in this mode.
	RescueShell = "shell"
	// RescueOff: never a shell.
	RescueOff = "off"
)

// RescueModes are the values of the image spec's rescue key.
var RescueModes = []string{RescuePassword, RescueShell, RescueOff}

// Stage1InfoPath is where, in the initramfs, the build leaves Stage1Info.
const Stage1InfoPath = "/stage1.json"

// Stage1Info is what stage 1 learns about its image: the build writes it
// into the initramfs, which has no other configuration.
type Stage1Info struct {
	Rescue string `json:"rescue"` // one of RescueModes
}

// ReadStage1Info reads the initramfs' Stage1Info.
func ReadStage1Info(path string) (Stage1Info, error) {
	var i Stage1Info
	return i, readJSON(path, &i)
}

// Versions of the parts of an image, as manifest.json and hostctl show them.
type Versions struct {
	Kernel     string `json:"kernel"`
	Containerd string `json:"containerd"`
	Runc       string `json:"runc"`
	Berth      string `json:"berth"`
}

// ReadInfo reads an image's Info.
func ReadInfo(path string) (Info, error) {
	var i Info
	return i, readJSON(path, &i)
}

// Boot is what stage 1 tells stage 2 about this boot: the medium, the
// device the root came from and its disk, and the slot.
type Boot struct {
	Medium string `json:"medium"` // MediumDisk, MediumISO or MediumNet
	Root   string `json:"root"`   // the device the root squashfs came from, e.g. /dev/vda2; its URL for MediumNet
	Disk   string `json:"disk"`   // its whole disk's kernel name, e.g. vda
	Slot   string `json:"slot"`   // "a" or "b"
	// BootPart is the GUID of the partition the boot loader came from
	// (FlagBootPart), by which the disk was found; "" when not known.
	BootPart string `json:"boot_part,omitempty"`
	// Verity is the berth.verity value the root was opened with through
	// dm-verity; "" for a root mounted unverified.
	Verity string `json:"verity,omitempty"`
}

// Boot media.
const (
	MediumDisk = "disk"
	MediumISO  = "iso"
	MediumNet  = "net" // downloaded: berth.root=URL
)

// The kernel command line of a network root (PXE): where the root
// squashfs is, and its sha256, which stage 1 checks before mounting it.
const (
	FlagRoot       = "berth.root"
	FlagRootSHA256 = "berth.root.sha256"
)

// FlagBootPart is the GPT partition GUID of the partition the bootloader
// was loaded from (GRUB's probe --part-uuid of its own partition). Stage 1
// takes the root, and PID 1 the state, only from the disk holding it.
const FlagBootPart = "berth.boot.part"

// WriteBoot writes b to path (stage 1 writes it into the new root's /run,
// a fresh tmpfs: nothing to keep atomic).
func WriteBoot(path string, b Boot) error {
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("write boot record: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write boot record: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write boot record: %w", err)
	}
	return nil
}

// ReadBoot reads the record stage 1 left. A missing file is an error of
// kind fs.ErrNotExist (PID 1 started without stage 1, as in a test).
func ReadBoot(path string) (Boot, error) {
	var b Boot
	return b, readJSON(path, &b)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // the build and the host share these types
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("read %s: offset %d: %w", path, se.Offset, err)
		}
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}
