// Package image reads OS image specs (images/*.yaml): what goes into a
// Berth image and which artifacts the build writes.
package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/berth-os/berth/internal/bytesize"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/osbundle"
	"github.com/berth-os/berth/internal/strictyaml"
	"github.com/berth-os/berth/internal/version"
	"github.com/berth-os/berth/services"
	"go.yaml.in/yaml/v3"
)

// Spec is one image spec.
type Spec struct {
	Name string `yaml:"name"`
	// Version is the OS version: image.json, os-release, the upgrade
	// bundle and hostctl os status show it. Changing it alone rebuilds the
	// root and what holds it, nothing else.
	Version  string   `yaml:"version"`
	Hostname string   `yaml:"hostname"`
	Cmdline  string   `yaml:"cmdline"`
	Services []string `yaml:"services"`
	Sysctl   string   `yaml:"sysctl"`
	// Compression of the root squashfs: zstd (fast to boot) or xz (small).
	Compression string `yaml:"compression"`
	// CatalogueImages are catalogue entries (services/catalogue) made
	// from Debian packages, each written as an OCI image:
	// OUT/images/NAME.oci.tar, named berth.local/NAME:VERSION and :latest.
	CatalogueImages []string `yaml:"catalogue_images"`
	// Outputs are the artifacts to write, by format name (the build's
	// table of writers checks them); empty means the default formats.
	Outputs []string `yaml:"outputs"`
	Disk    Disk     `yaml:"disk"`
	// SourceDateEpoch is the time stamped on every file the build makes
	// (seconds since 1970). Defaults to the kernel source's date.
	SourceDateEpoch int64 `yaml:"source_date_epoch"`
	// DebugEntries adds the boot menu entries that log root in without a
	// password (autologin, debug): for development images only.
	DebugEntries bool `yaml:"debug_entries"`
	// Rescue is what the console offers when boot fails or berth.break
	// stops it: password (root's password from cloud-config, else
	// nothing), shell (and a shell without a password when root has none)
	// or off. See layout.Rescue*.
	Rescue string `yaml:"rescue"`

	// SigningKey is the ed25519 private key (PEM, PKCS #8: `openssl
	// genpkey -algorithm ed25519`) that signs the upgrade bundle; the
	// root carries its public key, and accepts only bundles it signed. A
	// relative path is from the spec's folder. Empty: the builder's own
	// key, DefaultSigningKey, made on first use.
	SigningKey string `yaml:"signing_key"`

	// SecureBootKey and SecureBootCert are the RSA key (PEM, unencrypted
	// PKCS #8 or PKCS #1) and its X.509 certificate (PEM) that sign what
	// UEFI runs from the disk: GRUB and each slot's unified kernel image.
	// A firmware with Secure Boot on runs them when its db holds the
	// certificate. Relative paths are from the spec's folder. Both empty:
	// the builder's own pair, DefaultSecureBootKey, made on first use.
	SecureBootKey  string `yaml:"secure_boot_key"`
	SecureBootCert string `yaml:"secure_boot_cert"`

	// Path is the file the spec was read from.
	Path string `yaml:"-"`
}

// SigningKeyPath is the file of the spec's signing key: its signing_key
// (relative to the spec's folder), else DefaultSigningKey.
func (s *Spec) SigningKeyPath() (string, error) {
	if s.SigningKey == "" {
		return DefaultSigningKey()
	}
	return s.rel(s.SigningKey), nil
}

func (s *Spec) rel(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(s.Path), p)
}

// SecureBootKeyPaths are the files of the spec's Secure Boot key and
// certificate: its secure_boot_key and secure_boot_cert, else
// DefaultSecureBootKey's.
func (s *Spec) SecureBootKeyPaths() (key, cert string, err error) {
	if s.SecureBootKey == "" {
		return DefaultSecureBootKey()
	}
	return s.rel(s.SecureBootKey), s.rel(s.SecureBootCert), nil
}

// DefaultSecureBootKey is the builder's own Secure Boot key and
// certificate, which the build makes on first use: $BERTH_SECURE_BOOT_KEY
// and the same name with .pem for .key, else secureboot.key and
// secureboot.pem under the user's configuration folder. A firmware whose
// db holds the certificate boots what it signed, so it is kept.
func DefaultSecureBootKey() (key, cert string, err error) {
	if p := os.Getenv("BERTH_SECURE_BOOT_KEY"); p != "" {
		return p, strings.TrimSuffix(p, ".key") + ".pem", nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", "", fmt.Errorf("secure boot key: %w (set secure_boot_key in the image spec, or BERTH_SECURE_BOOT_KEY)", err)
	}
	return filepath.Join(dir, "berth", "secureboot.key"), filepath.Join(dir, "berth", "secureboot.pem"), nil
}

// DefaultSigningKey is the builder's own key, which the build makes on
// first use: $BERTH_SIGNING_KEY, else upgrade.key under the user's
// configuration folder ($XDG_CONFIG_HOME/berth, ~/.config/berth). Hosts
// built with it accept bundles it signed, so it is kept, not cached.
func DefaultSigningKey() (string, error) {
	if p := os.Getenv("BERTH_SIGNING_KEY"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("signing key: %w (set signing_key in the image spec, or BERTH_SIGNING_KEY)", err)
	}
	return filepath.Join(dir, "berth", "upgrade.key"), nil
}

// Disk sizes the raw and qcow2 images.
type Disk struct {
	Size     Size `yaml:"size"`      // whole disk
	SlotSize Size `yaml:"slot_size"` // each of BERTH_A and BERTH_B
	EFISize  Size `yaml:"efi_size"`
}

// Size is a byte count written as 512MiB, 2GiB, 64M or plain bytes: see
// package bytesize.
type Size int64

// Expected says what a Size looks like, for error messages.
func (Size) Expected() string { return "a size such as 512MiB or 2GiB" }

// ParseSize reads a size with a binary unit (K, KB and KiB are all 1024).
func ParseSize(s string) (Size, error) {
	n, err := bytesize.Parse(s)
	switch {
	case errors.Is(err, bytesize.ErrRange):
		return 0, fmt.Errorf("size %q is too large (at most 4EiB)", s)
	case err != nil:
		return 0, fmt.Errorf("expected %s, got %q", Size(0).Expected(), s)
	}
	return Size(n), nil
}

func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected %s, got %s", s.Expected(), strictyaml.Describe(n))
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

func (s Size) String() string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if s != 0 && s%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", s>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%dB", int64(s))
}

// ErrInvalid is the kind of a spec that fails validation.
var ErrInvalid = strictyaml.ErrInvalid

var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Option is an optional check of Load.
type Option func(*checks)

type checks struct {
	outputs []string
}

// KnownOutputs makes Load check the spec's outputs against the formats the
// build can write (build.Outputs), with the spec's other problems.
func KnownOutputs(names []string) Option {
	return func(c *checks) { c.outputs = names }
}

// Load reads, decodes strictly and validates a spec. servicesDir is where
// service folders live (for checking names); empty skips that check.
func Load(path, servicesDir string, opts ...Option) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read image spec: %w", err)
	}
	s := Defaults()
	if err := strictyaml.Decode(data, path, s); err != nil {
		return nil, err
	}
	s.Path = path
	var c checks
	for _, o := range opts {
		o(&c)
	}
	errs := s.validate(path, servicesDir)
	if c.outputs != nil {
		errs = append(errs, CheckOutputs(s, c.outputs)...)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// CheckOutputs lists the outputs of s that are not among known.
func CheckOutputs(s *Spec, known []string) strictyaml.Errors {
	var errs strictyaml.Errors
	for i, o := range s.Outputs {
		found := false
		for _, k := range known {
			found = found || k == o
		}
		if !found {
			errs = append(errs, &strictyaml.FieldError{Source: s.Path, Path: fmt.Sprintf("outputs[%d]", i),
				Msg: fmt.Sprintf("unknown output %q%s", o, strictyaml.Suggest(o, known))})
		}
	}
	return errs
}

// Defaults is a spec before the file is applied.
func Defaults() *Spec {
	return &Spec{
		Version:     version.Berth,
		Hostname:    "berth",
		Cmdline:     "console=tty0 console=ttyS0,115200n8",
		Sysctl:      "container-host",
		Compression: "zstd",
		Disk:        Disk{Size: 2 << 30, SlotSize: 512 << 20, EFISize: 128 << 20},
		Rescue:      layout.RescuePassword,
	}
}

// Validate checks every field and reports every problem at once. The
// outputs' names are the build's to check (CheckOutputs).
func (s *Spec) Validate(source, servicesDir string) error {
	return s.validate(source, servicesDir).Err()
}

func (s *Spec) validate(source, servicesDir string) strictyaml.Errors {
	var errs strictyaml.Errors
	bad := func(path, format string, args ...any) {
		errs = append(errs, &strictyaml.FieldError{Source: source, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if s.Name == "" {
		bad("name", "missing (expected a short name such as berth)")
	} else if !nameRe.MatchString(s.Name) {
		bad("name", "expected lowercase letters, digits and dashes, got %q", s.Name)
	}
	if err := osbundle.CheckVersion(s.Version); err != nil {
		bad("version", "%v", err)
	}
	if !hostnameOK(s.Hostname) {
		bad("hostname", "expected a host name (letters, digits, dashes; 63 characters at most per label), got %q", s.Hostname)
	}
	if len(s.Services) == 0 {
		bad("services", "missing (expected a list of service names)")
	}
	seen := map[string]bool{}
	for i, svc := range s.Services {
		p := fmt.Sprintf("services[%d]", i)
		switch {
		case seen[svc]:
			bad(p, "%s is listed twice", svc)
		case !nameRe.MatchString(svc):
			bad(p, "expected a service name, got %q", svc)
		case servicesDir != "":
			if _, err := os.Stat(filepath.Join(servicesDir, svc, "service.yaml")); err != nil {
				bad(p, "no service %q (expected a folder %s with a service.yaml)", svc, filepath.Join(servicesDir, svc))
			}
		}
		seen[svc] = true
	}
	seenImg := map[string]bool{}
	for i, name := range s.CatalogueImages {
		p := fmt.Sprintf("catalogue_images[%d]", i)
		switch {
		case seenImg[name]:
			bad(p, "%s is listed twice", name)
		case !nameRe.MatchString(name):
			bad(p, "expected the name of a catalogue entry, got %q", name)
		case servicesDir != "":
			dir := filepath.Join(servicesDir, "catalogue")
			d, err := services.LoadEntry(dir, name)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				bad(p, "no catalogue entry %q (expected a file %s)", name, filepath.Join(dir, name+".yaml"))
			case err != nil:
				bad(p, "catalogue entry %s: %v", name, err)
			case d.XBerth.Build == nil:
				bad(p, "catalogue entry %s is pulled (%s), not built: expected an entry with x-berth.build", name, d.Image)
			}
		}
		seenImg[name] = true
	}
	seenOut := map[string]bool{}
	for i, o := range s.Outputs {
		if seenOut[o] {
			bad(fmt.Sprintf("outputs[%d]", i), "%s is listed twice", o)
		}
		seenOut[o] = true
	}
	if s.Compression != "zstd" && s.Compression != "xz" {
		bad("compression", "expected zstd or xz, got %q", s.Compression)
	}
	if !slices.Contains(layout.RescueModes, s.Rescue) {
		bad("rescue", "expected %s, got %q", strings.Join(layout.RescueModes, ", "), s.Rescue)
	}
	if s.Disk.EFISize < 34<<20 {
		bad("disk.efi_size", "must be at least 34MiB (FAT32), got %s", s.Disk.EFISize)
	}
	if s.Disk.SlotSize < 64<<20 {
		bad("disk.slot_size", "must be at least 64MiB, got %s", s.Disk.SlotSize)
	}
	if min := s.Disk.EFISize + 2*s.Disk.SlotSize + 256<<20; s.Disk.Size < min {
		bad("disk.size", "must be at least %s (EFI + two slots + 256MiB of state), got %s", min, s.Disk.Size)
	}
	if (s.SecureBootKey == "") != (s.SecureBootCert == "") {
		bad("secure_boot_cert", "secure_boot_key and secure_boot_cert go together: set both or neither")
	}
	if s.SourceDateEpoch < 0 {
		bad("source_date_epoch", "must not be negative")
	}
	if strings.ContainsAny(s.Cmdline, "\n\"") {
		bad("cmdline", "must be one line without double quotes")
	}
	return errs
}

func hostnameOK(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

// IsInvalid reports whether err is a spec validation error.
func IsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }
