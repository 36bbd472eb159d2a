package kernel

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/build/cache"
)

// The cache makes its key once and gives the same certificate after, so the
// kernel's cache key (and the kernel) stays the same from build to build.
func TestSigningKeyMadeOnceAndKept(t *testing.T) {
	t.Setenv(SigningKeyEnv, "")
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k1, err := loadSigningKey(c)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := loadSigningKey(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1.cert) == 0 || !bytes.Equal(k1.cert, k2.cert) {
		t.Fatalf("certificate changed between loads (%d, %d bytes)", len(k1.cert), len(k2.cert))
	}
	fi, err := os.Stat(k1.pem)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(k1.pem)
	cert, err := parseKeyPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cert, k1.cert) {
		t.Error("the kept PEM's certificate is not the one the cache key uses")
	}
	// Installed in a tree once; a second install leaves the file alone.
	tree := t.TempDir()
	os.MkdirAll(filepath.Join(tree, "certs"), 0o755)
	if err := installKey(k1, tree); err != nil {
		t.Fatal(err)
	}
	old := time.Unix(1000, 0)
	os.Chtimes(filepath.Join(tree, treeKeyPath), old, old)
	if err := installKey(k1, tree); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(tree, treeKeyPath)); !fi.ModTime().Equal(old) {
		t.Error("installKey rewrote an identical key (make would re-sign every module)")
	}
}

func TestSigningKeyFromEnv(t *testing.T) {
	keyPEM, certDER, err := newSigningKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.pem")
	os.WriteFile(p, keyPEM, 0o600)
	t.Setenv(SigningKeyEnv, p)
	c, _ := cache.Open(t.TempDir())
	k, err := loadSigningKey(c)
	if err != nil {
		t.Fatal(err)
	}
	if k.pem != p || !bytes.Equal(k.cert, certDER) {
		t.Errorf("got %s, want the key at %s", k.pem, p)
	}
	if _, err := os.Stat(KeyDir(c)); err == nil {
		t.Error("a key was made in the cache although $BERTH_MODULE_SIGNING_KEY names one")
	}

	// A certificate that is not the key's, and a file with no key.
	other, _, err := newSigningKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keyOnly := keyPEM[:bytes.Index(keyPEM, []byte("-----BEGIN CERTIFICATE"))]
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"mismatch", append(append([]byte{}, keyOnly...), other[bytes.Index(other, []byte("-----BEGIN CERTIFICATE")):]...), "not the private key's"},
		{"no key", keyPEM[len(keyOnly):], "no private key"},
		{"no cert", keyOnly, "no CERTIFICATE"},
	} {
		os.WriteFile(p, tc.data, 0o600)
		_, err := loadSigningKey(c)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), SigningKeyEnv) {
			t.Errorf("%s: err = %v, want %q naming $%s", tc.name, err, tc.want, SigningKeyEnv)
		}
	}
}

// The key's path in the tree is not the one kbuild makes a random key at.
func TestTreeKeyPathIsConfigured(t *testing.T) {
	if treeKeyPath == "certs/signing_key.pem" {
		t.Error("treeKeyPath is kbuild's default, where a clean build makes a random key over ours")
	}
	if got := Wanted()["CONFIG_MODULE_SIG_KEY"]; got != `"`+treeKeyPath+`"` {
		t.Errorf("fragments set CONFIG_MODULE_SIG_KEY=%s, want %q", got, treeKeyPath)
	}
}

func TestCheckSigned(t *testing.T) {
	t.Setenv(SigningKeyEnv, "")
	keyOf := func() signingKey {
		c, err := cache.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		k, err := loadSigningKey(c)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ours, other := keyOf(), keyOf()
	// signed appends what sign-file appends: a PKCS#7 blob (here only the
	// signer's issuer and serial, which is what checkSigned looks for),
	// struct module_signature, the magic.
	signed := func(k signingKey) []byte {
		cert, err := x509.ParseCertificate(k.cert)
		if err != nil {
			t.Fatal(err)
		}
		serial, _ := asn1.Marshal(cert.SerialNumber)
		blob := append(append([]byte("pkcs7:"), cert.RawIssuer...), serial...)
		st := make([]byte, 12)
		st[6] = 2 // PKEY_ID_PKCS7
		binary.BigEndian.PutUint32(st[8:], uint32(len(blob)))
		return append(append(append([]byte("\x7fELF module body"), blob...), st...), moduleSigMagic...)
	}
	for _, tc := range []struct {
		name    string
		keyring []byte
		module  []byte
		err     string
	}{
		{"ours", ours.cert, signed(ours), ""},
		{"module signed by another key", ours.cert, signed(other), "is signed by another key"},
		{"unsigned module", ours.cert, []byte("\x7fELF module body"), "not signed"},
		{"keyring of another key", other.cert, signed(ours), "built-in keyring (certs/signing_key.x509) holds another certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree, mods := t.TempDir(), t.TempDir()
			os.MkdirAll(filepath.Join(tree, "certs"), 0o755)
			os.MkdirAll(filepath.Join(mods, "lib/modules/6.12/kernel"), 0o755)
			if err := os.WriteFile(filepath.Join(tree, "certs/signing_key.x509"), tc.keyring, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(mods, "lib/modules/6.12/kernel/a.ko"), tc.module, 0o644); err != nil {
				t.Fatal(err)
			}
			err := checkSigned(ours, tree, mods)
			if tc.err == "" && err != nil {
				t.Fatal(err)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err = %v, want one saying %q", err, tc.err)
			}
		})
	}
}
