package secureboot

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-os/berth/internal/atomicfile"
)

// Key is a Secure Boot signing key and its certificate, the one a
// firmware's db holds.
type Key struct {
	Signer crypto.Signer
	Cert   *x509.Certificate
}

// LoadKey reads a signing key (PEM: PKCS #8 or PKCS #1 RSA, unencrypted)
// and its certificate (PEM). When create is set and neither file exists,
// it makes a new RSA-2048 key and a self-signed certificate for it there
// (the key mode 0600, its folder 0700) and says so with made.
func LoadKey(keyPath, certPath string, create bool) (k Key, made bool, err error) {
	_, kerr := os.Stat(keyPath)
	_, cerr := os.Stat(certPath)
	if create && errors.Is(kerr, os.ErrNotExist) && errors.Is(cerr, os.ErrNotExist) {
		if err := newKey(keyPath, certPath); err != nil {
			return k, false, fmt.Errorf("make a Secure Boot key: %w", err)
		}
		made = true
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return k, false, err
	}
	if k.Signer, err = parseKey(kb); err != nil {
		return k, false, fmt.Errorf("%s: %w", keyPath, err)
	}
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return k, false, err
	}
	b, _ := pem.Decode(cb)
	if b == nil || b.Type != "CERTIFICATE" {
		return k, false, fmt.Errorf("%s: expected a PEM \"CERTIFICATE\" block", certPath)
	}
	if k.Cert, err = x509.ParseCertificate(b.Bytes); err != nil {
		return k, false, fmt.Errorf("%s: %w", certPath, err)
	}
	if !publicKeysEqual(k.Signer.Public(), k.Cert.PublicKey) {
		return k, false, fmt.Errorf("%s is not the certificate of the key %s", certPath, keyPath)
	}
	return k, made, nil
}

func parseKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block: expected an unencrypted \"PRIVATE KEY\" or \"RSA PRIVATE KEY\"")
	}
	var key any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("a PEM %q block, expected an unencrypted \"PRIVATE KEY\" or \"RSA PRIVATE KEY\"", b.Type)
	}
	if err != nil {
		return nil, err
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, expected an RSA key (UEFI firmware checks RSA-2048 signatures)", key)
	}
	return rk, nil
}

func newKey(keyPath, certPath string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Berth Secure Boot signing key"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(30, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	for _, p := range []string{keyPath, certPath} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
	}
	if err := atomicfile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return atomicfile.Write(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
