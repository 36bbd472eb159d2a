// Package osbundle reads and writes Berth upgrade bundles: everything one
// slot of a disk needs, signed. A bundle is a tar whose first entry is its
// manifest (bundle.json), its second the manifest's ed25519 signature
// (bundle.sig), then each file the manifest lists, in its order, with the
// size and sha256 it gives. A host checks the signature against the key
// its own verified root carries before it reads further, and each file's
// hash as it streams, so a bundle is written as it arrives and never held
// whole.
package osbundle

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Entry names.
const (
	ManifestName  = "bundle.json"
	SignatureName = "bundle.sig"
)

// The files of a bundle, in the order the build writes them: the slot's
// root (squashfs and verity tree) first, its kernel and initrd, its
// unified kernel image (the same kernel and initrd, signed for UEFI), its
// boot.cfg (berth.verity and the command line), then the disk's boot
// loader: shim and GRUB for UEFI, the disk's grub.cfg, GRUB's BIOS core image and
// MBR code.
const (
	Root    = "root.img"
	Kernel  = "vmlinuz"
	Initrd  = "initrd.img"
	UKI     = "berth.efi"
	BootCfg = "boot.cfg"
	Shim    = "BOOTX64.EFI"
	GrubEFI = "grubx64.efi"
	GrubCfg = "grub.cfg"
	CoreImg = "core.img"
	BootImg = "boot.img"
)

// Files are the names every bundle holds, in order.
var Files = []string{Root, Kernel, Initrd, UKI, BootCfg, Shim, GrubEFI, GrubCfg, CoreImg, BootImg}

// A bundle in an OCI registry is an artifact (OCI image spec 1.1) of
// ArtifactType whose one layer, of LayerType, is the bundle file as it is;
// its config is the empty descriptor, and the annotation
// org.opencontainers.image.version gives its version.
const (
	ArtifactType = "application/vnd.berth.bundle.v1"
	LayerType    = "application/vnd.berth.bundle.v1.tar"
)

// Format is the version of the bundle layout this package reads and writes.
const Format = 1

// Limits of what a host reads: a hostile bundle can't make it hold much.
const (
	maxManifest  = 64 << 10
	maxSignature = 1 << 10
	// MaxSmallFile caps every file but the root (GRUB images, boot.cfg,
	// grub.cfg, and the kernel and initrd).
	MaxSmallFile = 256 << 20
)

// Manifest describes a bundle.
type Manifest struct {
	Format  int    `json:"format"`
	Name    string `json:"name"`    // the image spec's name
	Version string `json:"version"` // the image spec's version
	Arch    string `json:"arch"`    // x86_64
	Build   string `json:"build"`   // the build id of its media
	// Key is the ID of the key that signed it (KeyID).
	Key   string `json:"key"`
	Files []File `json:"files"`
}

// File is one file of a bundle.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

var (
	versionRe = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+~_-]{0,63}$`)
	shaRe     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// CheckVersion checks an OS version: letters, digits and . + ~ _ -, at
// most 64 characters.
func CheckVersion(v string) error {
	if !versionRe.MatchString(v) {
		return fmt.Errorf("%q is not a version: expected letters, digits and . + ~ _ - (at most 64), such as 1.2.0", v)
	}
	return nil
}

// check says what is wrong with a manifest a host was given.
func (m *Manifest) check() error {
	if m.Format != Format {
		return fmt.Errorf("format %d: this host reads format %d", m.Format, Format)
	}
	if err := CheckVersion(m.Version); err != nil {
		return fmt.Errorf("version: %w", err)
	}
	if len(m.Files) != len(Files) {
		return fmt.Errorf("files: %d listed, expected %s", len(m.Files), strings.Join(Files, ", "))
	}
	for i, f := range m.Files {
		if f.Name != Files[i] {
			return fmt.Errorf("files[%d]: %q, expected %q", i, f.Name, Files[i])
		}
		if !shaRe.MatchString(f.SHA256) {
			return fmt.Errorf("files[%d] (%s): sha256 %q is not 64 hex digits", i, f.Name, f.SHA256)
		}
		if f.Size < 0 || f.Name != Root && f.Size > MaxSmallFile {
			return fmt.Errorf("files[%d] (%s): size %d is out of range", i, f.Name, f.Size)
		}
	}
	return nil
}

// File returns the manifest's entry for name.
func (m *Manifest) File(name string) (File, bool) {
	i := slices.IndexFunc(m.Files, func(f File) bool { return f.Name == name })
	if i < 0 {
		return File{}, false
	}
	return m.Files[i], true
}

// KeyID names a public key: the first 16 hex digits of its sha256.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

// Source is one file going into a bundle: its name (one of Files) and the
// path it is read from, with its sha256 when the caller knows it.
type Source struct {
	Name, Path, SHA256 string
}

// Write writes a bundle of the files srcs (every name of Files, in that
// order) with manifest m (its Files and Key are filled in), signed with
// key; every entry is stamped mtime. The same inputs give the same bytes:
// ed25519 signatures are deterministic.
func Write(w io.Writer, m Manifest, srcs []Source, key ed25519.PrivateKey, mtime time.Time) error {
	if len(srcs) != len(Files) {
		return fmt.Errorf("bundle: %d files, expected %d", len(srcs), len(Files))
	}
	m.Format = Format
	m.Key = KeyID(key.Public().(ed25519.PublicKey))
	m.Files = nil
	for i, s := range srcs {
		if s.Name != Files[i] {
			return fmt.Errorf("bundle: file %d is %s, expected %s", i, s.Name, Files[i])
		}
		st, err := os.Stat(s.Path)
		if err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		sum := s.SHA256
		if sum == "" {
			if sum, err = fileSHA256(s.Path); err != nil {
				return fmt.Errorf("bundle: %w", err)
			}
		}
		m.Files = append(m.Files, File{Name: s.Name, Size: st.Size(), SHA256: sum})
	}
	if err := m.check(); err != nil {
		return fmt.Errorf("bundle: manifest: %w", err)
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	manifest = append(manifest, '\n')
	sig := []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(key, manifest)) + "\n")
	tw := tar.NewWriter(w)
	header := func(name string, size int64) error {
		return tw.WriteHeader(&tar.Header{Name: name, Size: size, Mode: 0o644, ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX})
	}
	for _, e := range []struct {
		name string
		data []byte
	}{{ManifestName, manifest}, {SignatureName, sig}} {
		if err := header(e.name, int64(len(e.data))); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	for i, s := range srcs {
		if err := header(s.Name, m.Files[i].Size); err != nil {
			return err
		}
		if err := copyFile(tw, s.Path, m.Files[i].Size); err != nil {
			return fmt.Errorf("bundle: %s: %w", s.Name, err)
		}
	}
	return tw.Close()
}

func copyFile(w io.Writer, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err == nil && n != size {
		err = fmt.Errorf("changed while being written: %d bytes, expected %d", n, size)
	}
	return err
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Errors a host reports when it refuses a bundle before writing anything.
var (
	ErrUnsigned = errors.New("the bundle is not signed")
	ErrKey      = errors.New("the bundle is signed by another key")
	ErrBadSig   = errors.New("the bundle's signature does not verify")
	ErrFormat   = errors.New("not a Berth upgrade bundle")
)

// Reader reads a bundle whose signature Open checked.
type Reader struct {
	Manifest Manifest
	tr       *tar.Reader
	next     int
	cur      *fileReader
}

// Open reads the manifest and signature at the start of r, and checks the
// signature with pub. The errors wrap ErrFormat, ErrUnsigned, ErrKey or
// ErrBadSig.
func Open(r io.Reader, pub ed25519.PublicKey) (*Reader, error) {
	tr := tar.NewReader(r)
	manifest, err := readEntry(tr, ManifestName, maxManifest)
	if err != nil {
		return nil, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(manifest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, ManifestName, err)
	}
	want := KeyID(pub)
	sig, err := readEntry(tr, SignatureName, maxSignature)
	if errors.Is(err, errMissing) {
		return nil, fmt.Errorf("%w: it has no %s; this host accepts bundles signed with key %s", ErrUnsigned, SignatureName, want)
	}
	if err != nil {
		return nil, err
	}
	if m.Key != want {
		return nil, fmt.Errorf("%w: its manifest names key %q; this host accepts key %s", ErrKey, m.Key, want)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sig)))
	if err != nil || len(raw) != ed25519.SignatureSize || !ed25519.Verify(pub, manifest, raw) {
		return nil, fmt.Errorf("%w with key %s: its manifest was changed, or signed with another key", ErrBadSig, want)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, ManifestName, err)
	}
	return &Reader{Manifest: m, tr: tr}, nil
}

var errMissing = errors.New("missing entry")

// ReadManifest reads the manifest of the bundle file at path, without
// checking its signature: the builder's view, for pushing it.
func ReadManifest(path string) (Manifest, error) {
	var m Manifest
	f, err := os.Open(path)
	if err != nil {
		return m, err
	}
	defer f.Close()
	b, err := readEntry(tar.NewReader(f), ManifestName, maxManifest)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: %s: %v", ErrFormat, ManifestName, err)
	}
	return m, m.check()
}

// readEntry reads the next entry, which must be name and at most max bytes.
func readEntry(tr *tar.Reader, name string, max int64) ([]byte, error) {
	h, err := tr.Next()
	switch {
	case errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%w: %s: %w", ErrFormat, name, errMissing)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	case h.Name != name:
		if name == SignatureName {
			return nil, fmt.Errorf("%w: found %s instead", errMissing, h.Name)
		}
		return nil, fmt.Errorf("%w: the first entry is %q, expected %s", ErrFormat, h.Name, name)
	case h.Typeflag != tar.TypeReg || h.Size > max:
		return nil, fmt.Errorf("%w: %s is not a regular file of at most %d bytes", ErrFormat, name, max)
	}
	return io.ReadAll(tr)
}

// Next returns the next file of the bundle and its contents. Reading the
// contents to the end checks its sha256: the last Read returns an error
// when it differs. Next returns io.EOF after the last file.
func (r *Reader) Next() (File, io.Reader, error) {
	if r.cur != nil && !r.cur.done {
		return File{}, nil, fmt.Errorf("bundle: %s was not read to its end", r.cur.f.Name)
	}
	if r.next == len(r.Manifest.Files) {
		return File{}, nil, io.EOF
	}
	f := r.Manifest.Files[r.next]
	h, err := r.tr.Next()
	if err != nil {
		return File{}, nil, fmt.Errorf("bundle: %s: %w", f.Name, noEOF(err))
	}
	if h.Name != f.Name || h.Typeflag != tar.TypeReg || h.Size != f.Size {
		return File{}, nil, fmt.Errorf("bundle: entry %q of %d bytes, expected %s of %d bytes", h.Name, h.Size, f.Name, f.Size)
	}
	r.next++
	r.cur = &fileReader{f: f, r: r.tr, h: sha256.New()}
	return f, r.cur, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// fileReader hashes a file as it is read and checks the hash at its end.
type fileReader struct {
	f    File
	r    io.Reader
	h    hash.Hash
	n    int64
	done bool
}

func (fr *fileReader) Read(p []byte) (int, error) {
	if fr.done {
		return 0, io.EOF
	}
	n, err := fr.r.Read(p)
	fr.h.Write(p[:n])
	fr.n += int64(n)
	if errors.Is(err, io.EOF) {
		if fr.n != fr.f.Size {
			return n, fmt.Errorf("bundle: %s: %w", fr.f.Name, io.ErrUnexpectedEOF)
		}
		if got := hex.EncodeToString(fr.h.Sum(nil)); got != fr.f.SHA256 {
			return n, fmt.Errorf("bundle: %s: sha256 %s, expected %s from the signed manifest", fr.f.Name, got, fr.f.SHA256)
		}
		fr.done = true
	}
	return n, err
}

// ParsePrivateKey reads an ed25519 private key in PEM (PKCS #8, as
// `openssl genpkey -algorithm ed25519` writes it).
func ParsePrivateKey(pemData []byte) (ed25519.PrivateKey, error) {
	k, err := parsePEM(pemData, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the key is a %T, expected an ed25519 key", k)
	}
	return priv, nil
}

// ParsePublicKey reads an ed25519 public key in PEM (PKIX).
func ParsePublicKey(pemData []byte) (ed25519.PublicKey, error) {
	k, err := parsePEM(pemData, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("the key is a %T, expected an ed25519 key", k)
	}
	return pub, nil
}
