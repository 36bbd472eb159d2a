package kernel

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/internal/atomicfile"
)

// Lockdown refuses unsigned modules, so the build signs every module
// (CONFIG_MODULE_SIG_ALL). Left to itself, the kernel build makes a new
// random key on every cold build, and no two kernels would match. Berth
// gives it a key instead: the one named by $BERTH_MODULE_SIGNING_KEY (a PEM
// file with the private key and its certificate, for builders who share a
// key), else one made on first use and kept in the cache's keys/ folder,
// which prune never touches. The certificate is part of the kernel's cache
// key; the private key is read only when the kernel is compiled. Signatures
// are RSA PKCS#1 v1.5, so the same key signs the same module the same way.

// SigningKeyEnv names a PEM file with the module signing key and its
// certificate.
const SigningKeyEnv = "BERTH_MODULE_SIGNING_KEY"

// treeKeyPath is CONFIG_MODULE_SIG_KEY: where the build finds the key in
// the source tree (the kernel's default, relative so .config does not name
// the cache).
const treeKeyPath = "certs/signing_key.pem"

const (
	keyFile  = "kernel-module-signing.pem" // private key + certificate, 0600
	certFile = "kernel-module-signing.crt" // certificate alone, 0644
)

// signingKey is the key the modules are signed with.
type signingKey struct {
	pem  string // path of the PEM with the private key and the certificate
	cert []byte // the certificate, DER
}

// KeyDir is where a cache keeps its module signing key.
func KeyDir(c *cache.Cache) string { return filepath.Join(c.Root, "keys") }

// loadSigningKey returns the key named by $BERTH_MODULE_SIGNING_KEY, else
// the cache's, which it makes on first use.
func loadSigningKey(c *cache.Cache) (signingKey, error) {
	if p := os.Getenv(SigningKeyEnv); p != "" {
		data, err := os.ReadFile(p)
		if err != nil {
			return signingKey{}, fmt.Errorf("kernel: $%s: %w", SigningKeyEnv, err)
		}
		cert, err := parseKeyPEM(data)
		if err != nil {
			return signingKey{}, fmt.Errorf("kernel: $%s (%s): %w", SigningKeyEnv, p, err)
		}
		return signingKey{pem: p, cert: cert}, nil
	}
	dir := KeyDir(c)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return signingKey{}, fmt.Errorf("kernel: module signing key: %w", err)
	}
	// Two builds on a cold cache make one key, not two.
	if unlock, err := c.LockWork("keys"); err == nil {
		defer unlock()
	}
	k := signingKey{pem: filepath.Join(dir, keyFile)}
	data, err := os.ReadFile(filepath.Join(dir, certFile))
	if err == nil {
		block, _ := pem.Decode(data)
		if block == nil || block.Type != "CERTIFICATE" {
			return signingKey{}, fmt.Errorf("kernel: %s: not a PEM certificate", filepath.Join(dir, certFile))
		}
		k.cert = block.Bytes
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return signingKey{}, fmt.Errorf("kernel: module signing key: %w", err)
	}
	keyPEM, certDER, err := newSigningKey(time.Now())
	if err != nil {
		return signingKey{}, fmt.Errorf("kernel: module signing key: %w", err)
	}
	// The private key first: a certificate alone names a key nobody has.
	if err := atomicfile.Write(k.pem, keyPEM, 0o600); err != nil {
		return signingKey{}, fmt.Errorf("kernel: module signing key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	if err := atomicfile.Write(filepath.Join(dir, certFile), certPEM, 0o644); err != nil {
		return signingKey{}, fmt.Errorf("kernel: module signing key: %w", err)
	}
	k.cert = certDER
	return k, nil
}

// newSigningKey makes an RSA key and a self-signed certificate for it, as
// certs/default_x509.genkey would: digital signature and code signing, no CA.
func newSigningKey(now time.Time) (keyPEM, certDER []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	skid := sha1.Sum(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Berth"}, CommonName: "Berth kernel module signing key"},
		NotBefore:             now.Add(-time.Hour).UTC().Truncate(time.Second),
		NotAfter:              time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		SubjectKeyId:          skid[:],
		AuthorityKeyId:        skid[:],
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	return b.Bytes(), certDER, nil
}

// parseKeyPEM checks that data holds an RSA private key and a certificate
// for it, and returns the certificate.
func parseKeyPEM(data []byte) ([]byte, error) {
	var key any
	var cert *x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "CERTIFICATE":
			cert, err = x509.ParseCertificate(block.Bytes)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", block.Type, err)
		}
	}
	rk, ok := key.(*rsa.PrivateKey)
	switch {
	case key == nil:
		return nil, errors.New("no private key (want PEM PRIVATE KEY or RSA PRIVATE KEY)")
	case !ok:
		return nil, fmt.Errorf("private key is %T; want RSA, whose signatures are reproducible", key)
	case cert == nil:
		return nil, errors.New("no CERTIFICATE")
	case !rk.PublicKey.Equal(cert.PublicKey):
		return nil, errors.New("the certificate is not the private key's")
	}
	return cert.Raw, nil
}

// installKey puts the key where the build looks for it, unless it is there
// already (rewriting it would make make re-sign everything).
func installKey(k signingKey, tree string) error {
	data, err := os.ReadFile(k.pem)
	if err != nil {
		return fmt.Errorf("kernel: module signing key: %w", err)
	}
	dst := filepath.Join(tree, treeKeyPath)
	if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := atomicfile.Write(dst, data, 0o600); err != nil {
		return fmt.Errorf("kernel: module signing key: %w", err)
	}
	return nil
}
