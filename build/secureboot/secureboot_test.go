package secureboot

import (
	"bytes"
	"debug/pe"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The stub and the test key come from Debian's systemd-boot-efi and ovmf
// packages, which make install-deps installs; sbverify (sbsigntool)
// checks the signatures independently of this package.
const (
	debianStub   = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
	snakeoilKey  = "/usr/share/ovmf/PkKek-1-snakeoil.key"
	snakeoilCert = "/usr/share/ovmf/PkKek-1-snakeoil.pem"
)

func need(t *testing.T, files ...string) {
	t.Helper()
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%v: run scripts/install-deps", err)
		}
	}
}

// snakeoil is Debian's OVMF test key, whose PEM is encrypted with the
// password "snakeoil": openssl writes it out in the clear.
func snakeoil(t *testing.T) Key {
	t.Helper()
	need(t, snakeoilKey, snakeoilCert)
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	if out, err := exec.Command("openssl", "pkey", "-in", snakeoilKey, "-passin", "pass:snakeoil", "-out", key).CombinedOutput(); err != nil {
		t.Fatalf("openssl pkey: %v\n%s", err, out)
	}
	k, made, err := LoadKey(key, snakeoilCert, false)
	if err != nil || made {
		t.Fatalf("LoadKey: %v (made %v)", err, made)
	}
	return k
}

func sbverify(t *testing.T, img []byte, cert string) (string, error) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "img.efi")
	if err := os.WriteFile(f, img, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sbverify", "--cert", cert, f).CombinedOutput()
	return string(out), err
}

func testUKI(t *testing.T) []byte {
	t.Helper()
	need(t, debianStub)
	stub, err := os.ReadFile(debianStub)
	if err != nil {
		t.Fatal(err)
	}
	kernel := bytes.Repeat([]byte("kernel"), 300001)
	img, err := UKI(stub, []Section{
		{".osrel", []byte("ID=berth\n")},
		{".cmdline", []byte("console=ttyS0 berth.verity=x")},
		{".initrd", bytes.Repeat([]byte{7}, 1000)},
		{".linux", kernel},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestUKISections(t *testing.T) {
	img := testUKI(t)
	f, err := pe.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{".osrel": "ID=berth\n", ".cmdline": "console=ttyS0 berth.verity=x"}
	var names []string
	for _, s := range f.Sections {
		names = append(names, s.Name)
		if w, ok := want[s.Name]; ok {
			d, err := s.Data()
			if err != nil {
				t.Fatal(err)
			}
			if got := string(d[:s.VirtualSize]); got != w {
				t.Errorf("section %s = %q, want %q", s.Name, got, w)
			}
		}
		// Each added section's data starts on an ISO 9660 sector, where an
		// ISO's own directory entry can point (build/isoshare.go), and
		// raw sizes leave no gap between sections.
		if s.Name == ".osrel" || s.Name == ".cmdline" || s.Name == ".initrd" || s.Name == ".linux" {
			if s.Offset%SectorAlign != 0 {
				t.Errorf("section %s at file offset %d: want a multiple of %d", s.Name, s.Offset, SectorAlign)
			}
		}
		if i := len(names) - 1; i > 0 && f.Sections[i-1].Size > 0 && s.Size > 0 && f.Sections[i-1].Offset+f.Sections[i-1].Size != s.Offset {
			t.Errorf("a gap before section %s: %s ends at %d, %s starts at %d", s.Name, f.Sections[i-1].Name, f.Sections[i-1].Offset+f.Sections[i-1].Size, s.Name, s.Offset)
		}
		if s.Name == ".linux" {
			if s.VirtualAddress%linuxAlign != 0 || s.VirtualSize != 6*300001 {
				t.Errorf(".linux at %#x, %d bytes: want 2 MiB aligned, %d bytes", s.VirtualAddress, s.VirtualSize, 6*300001)
			}
		}
	}
	if got := strings.Join(names, " "); !strings.HasSuffix(got, ".sdmagic .osrel .cmdline .initrd .linux") {
		t.Errorf("sections %s: want the stub's, then .osrel .cmdline .initrd .linux", got)
	}
	oh := f.OptionalHeader.(*pe.OptionalHeader64)
	last := f.Sections[len(f.Sections)-1]
	if oh.SizeOfImage < last.VirtualAddress+last.VirtualSize {
		t.Errorf("SizeOfImage %#x does not cover .linux (ends at %#x)", oh.SizeOfImage, last.VirtualAddress+last.VirtualSize)
	}
	if f.FileHeader.PointerToSymbolTable != 0 {
		t.Error("the stub's symbol table is still named")
	}
}

func TestSignVerifies(t *testing.T) {
	k := snakeoil(t)
	img := testUKI(t)
	signed, err := Sign(img, k.Signer, k.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := sbverify(t, signed, snakeoilCert); err != nil || !strings.Contains(out, "Signature verification OK") {
		t.Fatalf("sbverify of the signed image: %v\n%s", err, out)
	}
	// Reproducible: signing again gives the same bytes, and re-signing a
	// signed image replaces its signature.
	again, err := Sign(signed, k.Signer, k.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, signed) {
		t.Error("two signatures of one image differ")
	}
	// A changed byte of the kernel section fails the check.
	bad := bytes.Clone(signed)
	bad[len(img)-100] ^= 1
	if out, err := sbverify(t, bad, snakeoilCert); err == nil {
		t.Errorf("sbverify passed an image changed after signing:\n%s", out)
	}
	// So does another key's certificate, and no signature at all.
	other, _, err := LoadKey(filepath.Join(t.TempDir(), "k"), filepath.Join(t.TempDir(), "c"), true)
	if err != nil {
		t.Fatal(err)
	}
	byOther, err := Sign(img, other.Signer, other.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := sbverify(t, byOther, snakeoilCert); err == nil {
		t.Errorf("sbverify passed an image signed by another key:\n%s", out)
	}
	unsigned, err := Unsigned(signed)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := sbverify(t, unsigned, snakeoilCert); err == nil || !strings.Contains(out, "No signature table") {
		t.Errorf("sbverify of the unsigned image: %v\n%s", err, out)
	}
	d1, _ := Digest(unsigned)
	d2, _ := Digest(signed)
	if !bytes.Equal(d1, d2) {
		t.Error("the digest of a signed image differs from the unsigned one's")
	}
}

func TestBadInput(t *testing.T) {
	k := snakeoil(t)
	for name, img := range map[string][]byte{
		"empty":  nil,
		"not PE": bytes.Repeat([]byte("MZ"), 100),
	} {
		if _, err := Sign(img, k.Signer, k.Cert); err == nil || !strings.Contains(err.Error(), "not a PE image") {
			t.Errorf("%s: Sign: %v, want not a PE image", name, err)
		}
		if _, err := UKI(img, nil); err == nil || !strings.Contains(err.Error(), "UKI stub: not a PE image") {
			t.Errorf("%s: UKI: %v, want UKI stub: not a PE image", name, err)
		}
	}
	signed, err := Sign(testUKI(t), k.Signer, k.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UKI(signed, nil); err == nil || !strings.Contains(err.Error(), "it is signed") {
		t.Errorf("UKI of a signed stub: %v", err)
	}
	stub, _ := os.ReadFile(debianStub)
	many := make([]Section, 9)
	for i := range many {
		many[i] = Section{".s", []byte{1}}
	}
	if _, err := UKI(stub, many); err == nil || !strings.Contains(err.Error(), "more section headers, 9 needed") {
		t.Errorf("UKI with 9 sections: %v", err)
	}
	if _, err := UKI(stub, []Section{{".toolongname", nil}}); err == nil || !strings.Contains(err.Error(), `".toolongname": 1 to 8 bytes`) {
		t.Errorf("UKI with a long name: %v", err)
	}
}

func TestLoadKeyErrors(t *testing.T) {
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "sb.key"), filepath.Join(dir, "sb.pem")
	k, made, err := LoadKey(key, cert, true)
	if err != nil || !made {
		t.Fatalf("LoadKey create: %v, made %v", err, made)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v; want 0600", err, st.Mode())
	}
	if k2, made, err := LoadKey(key, cert, true); err != nil || made || !k2.Cert.Equal(k.Cert) {
		t.Errorf("LoadKey again: %v, made %v: want the same key, not a new one", err, made)
	}
	if _, _, err := LoadKey(key, snakeoilCert, false); err == nil || !strings.Contains(err.Error(), "is not the certificate of the key") {
		t.Errorf("mismatched certificate: %v", err)
	}
	os.WriteFile(key, []byte("junk"), 0o600)
	if _, _, err := LoadKey(key, cert, true); err == nil || !strings.Contains(err.Error(), key+": no PEM block") {
		t.Errorf("junk key: %v", err)
	}
	if _, _, err := LoadKey(filepath.Join(dir, "none"), cert, false); err == nil || !os.IsNotExist(err) {
		t.Errorf("missing key: %v", err)
	}
}

// A distribution's shim trusts its vendor certificate; without it, only
// the firmware's db. Its revocations stay.
func TestWithoutVendorCert(t *testing.T) {
	const shimPath = "/usr/lib/shim/shimx64.efi"
	need(t, shimPath)
	shim, err := os.ReadFile(shimPath)
	if err != nil {
		t.Fatal(err)
	}
	out, err := WithoutVendorCert(shim)
	if err != nil {
		t.Fatal(err)
	}
	f, err := pe.NewFile(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Section(".vendor_cert")
	if s == nil {
		t.Fatal("no .vendor_cert section")
	}
	before, _ := pe.NewFile(bytes.NewReader(shim))
	old, _ := before.Section(".vendor_cert").Data()
	data, _ := s.Data()
	if le.Uint32(old) == 0 || le.Uint32(data) != 0 {
		t.Errorf("authorized size %d -> %d: want it cleared", le.Uint32(old), le.Uint32(data))
	}
	if !bytes.Equal(old[4:], data[4:]) || le.Uint32(data[4:]) == 0 {
		t.Error("the revoked list changed or is empty")
	}
	if n := countDiff(shim, out); n > 8 {
		t.Errorf("%d bytes changed: want only the size and the checksum", n)
	}
	k := snakeoil(t)
	signed, err := Sign(out, k.Signer, k.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WithoutVendorCert(signed); err == nil || !strings.Contains(err.Error(), "it is signed") {
		t.Errorf("a signed shim: %v", err)
	}
	if _, err := WithoutVendorCert(testUKI(t)); err == nil || !strings.Contains(err.Error(), "no .vendor_cert section") {
		t.Errorf("not a shim: %v", err)
	}
}

func countDiff(a, b []byte) int {
	n := 0
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n + max(len(a), len(b)) - min(len(a), len(b))
}
