package osbundle

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

func parsePEM(data []byte, typ string) (any, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("no PEM block: expected %q", typ)
	}
	if b.Type != typ {
		return nil, fmt.Errorf("a PEM %q block, expected %q", b.Type, typ)
	}
	if typ == "PUBLIC KEY" {
		return x509.ParsePKIXPublicKey(b.Bytes)
	}
	return x509.ParsePKCS8PrivateKey(b.Bytes)
}

// MarshalPublicKey writes pub in PEM (PKIX).
func MarshalPublicKey(pub ed25519.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub) // never fails for ed25519
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// LoadKey reads the private key at path. When create is set and there is
// no file, it makes a new key there (mode 0600, its folder 0700) and says
// so with made.
func LoadKey(path string, create bool) (key ed25519.PrivateKey, made bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, false, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, false, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, err
		}
		f, err := os.CreateTemp(filepath.Dir(path), ".key-*")
		if err != nil {
			return nil, false, err
		}
		tmp := f.Name()
		_, err = f.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(tmp)
			return nil, false, err
		}
		// A link, not a rename: two builds that race both end with the
		// key that won.
		err = os.Link(tmp, path)
		os.Remove(tmp)
		if err != nil && !errors.Is(err, os.ErrExist) {
			return nil, false, err
		}
		if err == nil {
			return key, true, nil
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("signing key: %w", err)
	}
	key, err = ParsePrivateKey(b)
	if err != nil {
		return nil, false, fmt.Errorf("signing key %s: %w", path, err)
	}
	return key, false, nil
}
