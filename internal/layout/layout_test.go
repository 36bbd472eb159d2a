package layout

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Stage 1 writes the record and stage 2 reads it back with the same type.
func TestBootRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "run/berth/boot.json")
	want := Boot{Medium: MediumDisk, Root: "/dev/vda2", Disk: "vda", Slot: "a"}
	if err := WriteBoot(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBoot(p)
	if err != nil || got != want {
		t.Fatalf("ReadBoot = %+v, %v; want %+v", got, err, want)
	}
}

func TestReadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadBoot(filepath.Join(dir, "boot.json")); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "boot.json") {
		t.Errorf("missing: %v", err)
	}
	for name, body := range map[string]string{
		"broken.json":  `{"medium": "disk"`,
		"unknown.json": `{"medium": "disk", "rot": "/dev/vda2"}`,
		"type.json":    `{"medium": 3}`,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := ReadBoot(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: got %v, want an error naming the file", name, err)
		}
	}
	p := filepath.Join(dir, "unknown.json")
	if _, err := ReadBoot(p); err == nil || !strings.Contains(err.Error(), `unknown field "rot"`) {
		t.Errorf("unknown field: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "info.json"), []byte(`{"name":"berth","services":["udev"],"versions":{"berth":"1"}}`), 0o644)
	info, err := ReadInfo(filepath.Join(dir, "info.json"))
	if err != nil || info.Name != "berth" || info.Services[0] != "udev" || info.Versions.Berth != "1" {
		t.Errorf("ReadInfo = %+v, %v", info, err)
	}
}

func TestSlotPart(t *testing.T) {
	for slot, want := range map[string]string{"a": PartA, "b": PartB, "": PartA} {
		if got := SlotPart(slot); got != want {
			t.Errorf("SlotPart(%q) = %s, want %s", slot, got, want)
		}
	}
}
