package deb

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/berth-os/berth/build/cache"
	"github.com/ulikunitz/xz"
)

// archiveKeys is /usr/share/keyrings/debian-archive-keyring.gpg of
// debian-archive-keyring 2023.3+deb12u2 (sha256 506b815c…852017): the
// archive and stable release keys of Debian 11, 12 and 13. A suite's
// InRelease must carry a valid signature by one of them.
//
//go:embed keys/debian-archive-keyring.gpg
var archiveKeys []byte

// ErrSignature means an InRelease file is not signed by a Debian archive key.
var ErrSignature = errors.New("not signed by a Debian archive key")

// ErrExpired means an InRelease file is past its Valid-Until: a mirror
// may be replaying an old index.
var ErrExpired = errors.New("past its Valid-Until")

// ArchiveKeys is Debian's archive keyring.
func ArchiveKeys() (openpgp.EntityList, error) {
	keys, err := openpgp.ReadKeyRing(bytes.NewReader(archiveKeys))
	if err != nil {
		return nil, fmt.Errorf("read Debian archive keyring: %w", err)
	}
	return keys, nil
}

// Release is a suite's verified InRelease.
type Release struct {
	Suite, Codename string
	ValidUntil      time.Time // zero when the file sets none
	// Files maps index paths (main/binary-amd64/Packages.xz) to their
	// sha256 and size.
	Files map[string]IndexFile
}

// IndexFile is one file a Release lists.
type IndexFile struct {
	SHA256 string
	Size   int64
}

// VerifyRelease checks an InRelease file's signature against keys, and
// that it is for suite and not expired at now, and returns what it says.
func VerifyRelease(data []byte, suite string, keys openpgp.KeyRing, now time.Time) (*Release, error) {
	b, err := decodeClearSigned(data)
	if err != nil {
		return nil, fmt.Errorf("InRelease of %s: %v: %w", suite, err, ErrSignature)
	}
	if b == nil {
		return nil, fmt.Errorf("InRelease of %s: no clear-signed message: %w", suite, ErrSignature)
	}
	if _, err := b.VerifySignature(keys, nil); err != nil {
		return nil, fmt.Errorf("InRelease of %s: %v: %w", suite, err, ErrSignature)
	}
	stanzas := parseStanzas(string(b.Plaintext))
	if len(stanzas) == 0 {
		return nil, fmt.Errorf("InRelease of %s: empty", suite)
	}
	f := stanzas[0]
	r := &Release{Suite: f["Suite"], Codename: f["Codename"], Files: map[string]IndexFile{}}
	if suite != r.Suite && suite != r.Codename {
		return nil, fmt.Errorf("InRelease of %s is for suite %s (%s)", suite, r.Suite, r.Codename)
	}
	if v := f["Valid-Until"]; v != "" {
		t, err := time.Parse(time.RFC1123, strings.Replace(v, "UTC", "GMT", 1))
		if err != nil {
			return nil, fmt.Errorf("InRelease of %s: Valid-Until %q: %w", suite, v, err)
		}
		r.ValidUntil = t
		if now.After(t) {
			return nil, fmt.Errorf("InRelease of %s: valid until %s: %w", suite, v, ErrExpired)
		}
	}
	for _, line := range strings.Split(f["SHA256"], "\n") {
		fields := strings.Fields(line)
		if len(fields) != 3 {
			continue
		}
		size, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("InRelease of %s: SHA256 line %q: %w", suite, line, err)
		}
		r.Files[fields[2]] = IndexFile{SHA256: fields[0], Size: size}
	}
	return r, nil
}

// decodeClearSigned is clearsign.Decode, which panics on some malformed
// messages: go-crypto v1.4.1 slices past the start of an empty text
// ("-----BEGIN PGP SIGNED MESSAGE-----\n\n-----BEGIN PGP SIGNATURE-----"),
// and an InRelease comes from a mirror before its signature is checked.
// A panic is a malformed message, an error.
func decodeClearSigned(data []byte) (b *clearsign.Block, err error) {
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("malformed clear-signed message (%v)", p)
		}
	}()
	b, _ = clearsign.Decode(data)
	return b, nil
}

// packagesIndex is the index Berth reads in each suite.
const packagesIndex = "main/binary-amd64/Packages.xz"

// FetchIndexes downloads and parses the Packages index of every suite,
// each checked against its suite's InRelease, whose signature is checked
// against Debian's archive keys. Plain http is enough: the signature, not
// the transport, says the index is Debian's.
func FetchIndexes(ctx context.Context, r *Request) ([]Package, error) {
	keys, err := ArchiveKeys()
	if err != nil {
		return nil, err
	}
	return fetchIndexes(ctx, r, keys, time.Now())
}

func fetchIndexes(ctx context.Context, r *Request, keys openpgp.KeyRing, now time.Time) ([]Package, error) {
	var all []Package
	for _, s := range r.Suites {
		base := strings.TrimRight(r.Mirrors[s.Mirror], "/")
		dist := fmt.Sprintf("%s/dists/%s/", base, s.Suite)
		data, err := get(ctx, dist+"InRelease", maxInRelease)
		if err != nil {
			return nil, err
		}
		rel, err := VerifyRelease(data, s.Suite, keys, now)
		if err != nil {
			return nil, err
		}
		want, ok := rel.Files[packagesIndex]
		if !ok {
			return nil, fmt.Errorf("InRelease of %s lists no %s", s.Suite, packagesIndex)
		}
		url := dist + packagesIndex
		body, err := get(ctx, url, want.Size)
		if errors.Is(err, errTooLong) {
			return nil, fmt.Errorf("index %s: longer than the %d bytes InRelease says: %w", url, want.Size, cache.ErrChecksum)
		}
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		if got := hex.EncodeToString(sum[:]); got != want.SHA256 || int64(len(body)) != want.Size {
			return nil, fmt.Errorf("index %s: got sha256 %s (%d bytes), InRelease says %s (%d bytes): %w",
				url, got, len(body), want.SHA256, want.Size, cache.ErrChecksum)
		}
		xr, err := xz.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", url, err)
		}
		text, err := io.ReadAll(xr)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", url, err)
		}
		all = append(all, ParseIndex(string(text), base)...)
	}
	return all, nil
}

// errTooLong is get's error for a body past its limit.
var errTooLong = errors.New("too long")

// maxInRelease bounds an InRelease, which is read before its signature
// is checked: bookworm's is 150 KiB.
const maxInRelease = 8 << 20

// get fetches an index (InRelease, Packages.xz) whole, refusing one of
// more than limit bytes: a mirror, or anyone on the way to it over plain
// http, could send without end.
func get(ctx context.Context, url string, limit int64) ([]byte, error) {
	resp, err := cache.Get(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("fetch index %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch index %s: %s: %w", url, resp.Status, cache.ErrHTTP)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("fetch index %s: %w", url, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("fetch index %s: over %d bytes: %w", url, limit, errTooLong)
	}
	return body, nil
}
