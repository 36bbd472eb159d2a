package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/strictyaml"
)

func TestLoadDefaultSpec(t *testing.T) {
	s, err := Load("../../images/berth.yaml", "../../services")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range s.CatalogueImages {
		if _, err := os.Stat(filepath.Join("../../services/catalogue", name+".yaml")); err != nil {
			t.Errorf("catalogue_images: %v", err)
		}
	}
	if s.Name != "berth" || len(s.Services) == 0 || strings.Join(s.Outputs, " ") != "kernel vmlinux initrd squashfs iso raw bundle qcow2 vmdk vdi vhd vhdx ova gce pxe" || s.Version != "0.1.0" {
		t.Errorf("spec = %+v", s)
	}
	if s.Disk.Size != 2<<30 || s.Disk.SlotSize != 512<<20 || s.Disk.EFISize != 128<<20 {
		t.Errorf("disk = %+v", s.Disk)
	}
	// The default image is a production image: no boot entries that log
	// root in, and a rescue shell only after root's password.
	if s.DebugEntries || s.Rescue != "password" {
		t.Errorf("debug_entries %v, rescue %q: want false and password", s.DebugEntries, s.Rescue)
	}
}

// The development keys: each value they take, YAML 1.1's off included
// (a string here, not a boolean).
func TestLoadDevelopmentKeys(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "services", "udev"), 0o755)
	os.WriteFile(filepath.Join(dir, "services", "udev", "service.yaml"), []byte("name: udev\n"), 0o644)
	for _, tc := range []struct {
		body   string
		debug  bool
		rescue string
	}{
		{"", false, "password"},
		{"debug_entries: true\nrescue: shell\n", true, "shell"},
		{"debug_entries: false\nrescue: password\n", false, "password"},
		{"rescue: off\n", false, "off"},
	} {
		p := filepath.Join(dir, "spec.yaml")
		os.WriteFile(p, []byte("name: x\nservices: [udev]\n"+tc.body), 0o644)
		s, err := Load(p, filepath.Join(dir, "services"))
		if err != nil {
			t.Errorf("%q: %v", tc.body, err)
			continue
		}
		if s.DebugEntries != tc.debug || s.Rescue != tc.rescue {
			t.Errorf("%q: debug_entries %v, rescue %q; want %v, %q", tc.body, s.DebugEntries, s.Rescue, tc.debug, tc.rescue)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "services", "udev"), 0o755)
	os.WriteFile(filepath.Join(dir, "services", "udev", "service.yaml"), []byte("name: udev\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "services", "catalogue"), 0o755)
	os.WriteFile(filepath.Join(dir, "services", "catalogue", "pulled.yaml"), []byte("services:\n  pulled:\n    image: docker.io/library/debian:12\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "services", "catalogue", "broken.yaml"), []byte("services:\n  broken:\n    restart: sometimes\n    image: berth.local/broken\n    x-berth: {build: {debs: broken, package: broken}}\n"), 0o644)
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"unknown key", "name: x\nservices: [udev]\nkernle: {}\n", []string{"spec.yaml:3: kernle: unknown key"}},
		{"wrong type", "name: x\nservices: udev\n", []string{`spec.yaml:2: services: expected a list, got the string "udev"`}},
		{"bad size", "name: x\nservices: [udev]\ndisk: {size: huge}\n", []string{`spec.yaml:3: disk.size: expected a size such as 512MiB or 2GiB, got "huge"`}},
		{"unknown service and output, all at once", "name: x\nservices: [udev, nope]\noutputs: [iso, qcow]\n", []string{
			`spec.yaml: services[1]: no service "nope"`,
			`spec.yaml: outputs[1]: unknown output "qcow" (did you mean qcow2?)`,
		}},
		{"missing name", "services: [udev]\n", []string{"spec.yaml: name: missing"}},
		{"output twice", "name: x\nservices: [udev]\noutputs: [iso, iso]\n", []string{"spec.yaml: outputs[1]: iso is listed twice"}},
		{"disk too small", "name: x\nservices: [udev]\ndisk: {size: 512MiB}\n", []string{"spec.yaml: disk.size: must be at least"}},
		{"bad hostname", "name: x\nhostname: -bad-\nservices: [udev]\n", []string{`spec.yaml: hostname: expected a host name`}},
		{"bad rescue", "name: x\nservices: [udev]\nrescue: sometimes\n", []string{`spec.yaml: rescue: expected password, shell, off, got "sometimes"`}},
		{"rescue not a string", "name: x\nservices: [udev]\nrescue: [shell]\n", []string{`spec.yaml:3: rescue: expected a string, got a list`}},
		{"catalogue images", "name: x\nservices: [udev]\ncatalogue_images: [qga, pulled, qga, broken, Bad]\n", []string{
			`spec.yaml: catalogue_images[0]: no catalogue entry "qga" (expected a file ` + filepath.Join(dir, "services", "catalogue", "qga.yaml") + `)`,
			`spec.yaml: catalogue_images[1]: catalogue entry pulled is pulled (docker.io/library/debian:12), not built: expected an entry with x-berth.build`,
			`spec.yaml: catalogue_images[2]: qga is listed twice`,
			`spec.yaml: catalogue_images[3]: catalogue entry broken: ` + filepath.Join(dir, "services", "catalogue", "broken.yaml") + `:3: services.broken.restart: expected always`,
			`spec.yaml: catalogue_images[4]: expected the name of a catalogue entry, got "Bad"`,
		}},
		{"debug_entries not a boolean", "name: x\nservices: [udev]\ndebug_entries: yes\n", []string{`spec.yaml:3: debug_entries: expected a boolean (true or false), got the string "yes"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "spec.yaml")
			os.WriteFile(p, []byte(tc.body), 0o644)
			_, err := Load(p, filepath.Join(dir, "services"), KnownOutputs([]string{"iso", "raw", "qcow2"}))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, strictyaml.ErrInvalid) {
				t.Errorf("error kind: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), strings.Replace(w, "spec.yaml", p, 1)) {
					t.Errorf("error\n%v\nlacks %q", err, w)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "absent.yaml"), ""); err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{"512MiB": 512 << 20, "2GiB": 2 << 30, "64M": 64 << 20, "4096": 4096, "1 GiB": 1 << 30} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1.5GiB", "-1M", "12 parsecs"} {
		_, err := ParseSize(in)
		if want := fmt.Sprintf("expected a size such as 512MiB or 2GiB, got %q", in); err == nil || err.Error() != want {
			t.Errorf("ParseSize(%q): err = %v, want %q", in, err, want)
		}
	}
	if _, err := ParseSize("99999999999TiB"); err == nil || !strings.Contains(err.Error(), "is too large") {
		t.Errorf("ParseSize(huge): err = %v, want too large", err)
	}
	if s := Size(512 << 20).String(); s != "512MiB" {
		t.Errorf("String = %s", s)
	}
}

// version is checked; a relative signing_key is from the spec's folder.
func TestVersionAndKey(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.yaml")
	os.WriteFile(p, []byte("name: x\nservices: [a]\nversion: \"1.0 beta\"\n"), 0o644)
	_, err := Load(p, "")
	if err == nil || !strings.Contains(err.Error(), "version") || !strings.Contains(err.Error(), `"1.0 beta" is not a version`) {
		t.Errorf("a bad version: %v", err)
	}
	os.WriteFile(p, []byte("name: x\nservices: [a]\nversion: 1.0.1\nsigning_key: keys/k.pem\n"), 0o644)
	s, err := Load(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if k, err := s.SigningKeyPath(); err != nil || k != filepath.Join(dir, "keys/k.pem") {
		t.Errorf("signing key %q, %v", k, err)
	}
	t.Setenv("BERTH_SIGNING_KEY", "/k")
	s.SigningKey = ""
	if k, err := s.SigningKeyPath(); err != nil || k != "/k" {
		t.Errorf("default signing key %q, %v", k, err)
	}
}

// The Secure Boot key and certificate go together; relative paths are from
// the spec's folder; without them, the builder's own pair.
func TestSecureBootKey(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.yaml")
	os.WriteFile(p, []byte("name: x\nservices: [a]\nsecure_boot_key: sb.key\n"), 0o644)
	if _, err := Load(p, ""); err == nil || !strings.Contains(err.Error(), "secure_boot_cert: secure_boot_key and secure_boot_cert go together") {
		t.Errorf("a key without its certificate: %v", err)
	}
	os.WriteFile(p, []byte("name: x\nservices: [a]\nsecure_boot_key: keys/sb.key\nsecure_boot_cert: /etc/sb.pem\n"), 0o644)
	s, err := Load(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if k, c, err := s.SecureBootKeyPaths(); err != nil || k != filepath.Join(dir, "keys/sb.key") || c != "/etc/sb.pem" {
		t.Errorf("secure boot key %q %q, %v", k, c, err)
	}
	t.Setenv("BERTH_SECURE_BOOT_KEY", "/keys/sb.key")
	s.SecureBootKey, s.SecureBootCert = "", ""
	if k, c, err := s.SecureBootKeyPaths(); err != nil || k != "/keys/sb.key" || c != "/keys/sb.pem" {
		t.Errorf("default secure boot key %q %q, %v", k, c, err)
	}
}
