package deb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/berth-os/berth/build/cache"
	"github.com/ulikunitz/xz"
)

// The embedded keyring holds the keys that sign bookworm's suites.
func TestArchiveKeys(t *testing.T) {
	keys, err := ArchiveKeys()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range keys {
		have[strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))] = true
	}
	for name, fpr := range map[string]string{
		"archive automatic (12/bookworm)":          "B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8",
		"security archive automatic (12/bookworm)": "05AB90340C0C5E797F44A8C8254CF3B5AEC0A8F0",
		"stable release (12/bookworm)":             "4D64FEC119C2029067D6E791F8D2585B8783D481",
	} {
		if !have[fpr] {
			t.Errorf("the keyring lacks Debian's %s key %s", name, fpr)
		}
	}
}

func testKey(t testing.TB) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity("archive", "", "archive@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func clearSign(t testing.TB, key *openpgp.Entity, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, key.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(text))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func xzOf(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(s))
	w.Close()
	return buf.Bytes()
}

const testIndex = "Package: busybox-static\nVersion: 1:1.35.0-4+b3\nArchitecture: amd64\nFilename: pool/main/b/busybox/busybox-static.deb\nSize: 10\nSHA256: " +
	"0000000000000000000000000000000000000000000000000000000000000000\n\n"

func TestFetchIndexesVerified(t *testing.T) {
	trusted, stranger := testKey(t), testKey(t)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	index := xzOf(t, testIndex)
	sum := sha256.Sum256(index)
	release := func(suite, validUntil string, sum string, size int) string {
		s := fmt.Sprintf("Origin: Debian\nSuite: stable\nCodename: %s\nDate: Sat, 08 Nov 2026 10:00:00 UTC\n", suite)
		if validUntil != "" {
			s += "Valid-Until: " + validUntil + "\n"
		}
		return s + fmt.Sprintf("SHA256:\n %s %d main/binary-amd64/Packages.xz\n %s 123 main/binary-amd64/Release\n", sum, size, strings.Repeat("a", 64))
	}
	good := release("bookworm", "Sat, 15 Dec 2026 10:00:00 UTC", hex.EncodeToString(sum[:]), len(index))
	tampered := bytes.Clone(index)
	tampered[len(tampered)/2] ^= 1
	for _, tc := range []struct {
		name      string
		inRelease []byte
		index     []byte
		wantErr   error
		wantMsg   string
	}{
		{name: "signed and matching", inRelease: clearSign(t, trusted, good), index: index},
		{name: "index changed", inRelease: clearSign(t, trusted, good), index: tampered,
			wantErr: cache.ErrChecksum, wantMsg: "InRelease says " + hex.EncodeToString(sum[:])},
		{name: "not signed", inRelease: []byte(good), index: index, wantErr: ErrSignature, wantMsg: "no clear-signed message"},
		{name: "empty signed text", index: index, wantErr: ErrSignature,
			inRelease: []byte("-----BEGIN PGP SIGNED MESSAGE-----\n\n-----BEGIN PGP SIGNATURE-----"),
			wantMsg:   "InRelease of bookworm: malformed clear-signed message (runtime error: slice bounds out of range [:-1]): not signed by a Debian archive key"},
		{name: "signed by another key", inRelease: clearSign(t, stranger, good), index: index, wantErr: ErrSignature},
		{name: "changed after signing", index: index, wantErr: ErrSignature,
			inRelease: bytes.Replace(clearSign(t, trusted, good), []byte(hex.EncodeToString(sum[:])), []byte(strings.Repeat("b", 64)), 1)},
		{name: "expired", index: index, wantErr: ErrExpired, wantMsg: "valid until Sun, 01 Nov 2026",
			inRelease: clearSign(t, trusted, release("bookworm", "Sun, 01 Nov 2026 10:00:00 UTC", hex.EncodeToString(sum[:]), len(index)))},
		{name: "another suite's", index: index, wantMsg: "InRelease of bookworm is for suite stable (trixie)",
			inRelease: clearSign(t, trusted, release("trixie", "", hex.EncodeToString(sum[:]), len(index)))},
		{name: "InRelease without end", index: index, wantMsg: "dists/bookworm/InRelease: over 8388608 bytes: too long",
			inRelease: bytes.Repeat([]byte("x"), maxInRelease+1)},
		{name: "index without end", inRelease: clearSign(t, trusted, good), index: append(bytes.Clone(index), make([]byte, 1<<20)...),
			wantErr: cache.ErrChecksum, wantMsg: fmt.Sprintf("main/binary-amd64/Packages.xz: longer than the %d bytes InRelease says: sha256 mismatch", len(index))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/debian/dists/bookworm/InRelease":
					w.Write(tc.inRelease)
				case "/debian/dists/bookworm/main/binary-amd64/Packages.xz":
					w.Write(tc.index)
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			req := &Request{Mirrors: map[string]string{"debian": srv.URL + "/debian"}, Suites: []Suite{{Mirror: "debian", Suite: "bookworm"}}}
			pkgs, err := fetchIndexes(context.Background(), req, openpgp.EntityList{trusted}, now)
			if tc.wantErr == nil && tc.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(pkgs) != 1 || pkgs[0].Name != "busybox-static" || pkgs[0].MirrorBase != srv.URL+"/debian" {
					t.Errorf("packages = %+v", pkgs)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %v %q", tc.wantErr, tc.wantMsg)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want kind %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("err = %v, want it to say %q", err, tc.wantMsg)
			}
		})
	}
}
