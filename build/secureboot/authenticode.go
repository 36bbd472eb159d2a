package secureboot

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"sort"
	"unicode/utf16"
)

// Object identifiers of an Authenticode signature.
var (
	oidSignedData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidSHA256           = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSA              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidContentType      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSpcIndirectData  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 4}
	oidSpcPEImageData   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 15}
	oidSpcSpOpusInfo    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 12}
	oidSpcStatementType = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 11}
	oidIndividualCode   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 21}
)

// Digest is the Authenticode SHA-256 hash of a PE image: what a signature
// of it signs, and what the firmware computes before it runs it.
func Digest(img []byte) ([]byte, error) {
	h, err := parsePE(img)
	if err != nil {
		return nil, err
	}
	ranges, err := authenticodeRanges(img, h)
	if err != nil {
		return nil, err
	}
	d := sha256.New()
	for _, r := range ranges {
		d.Write(img[r[0]:r[1]])
	}
	return d.Sum(nil), nil
}

// Unsigned returns img without its certificate table (its signatures), as
// it was before it was signed.
func Unsigned(img []byte) ([]byte, error) {
	h, err := parsePE(img)
	if err != nil {
		return nil, err
	}
	off, size := h.certTable(img)
	if off == 0 {
		return img, nil
	}
	if off+size != len(img) {
		return nil, fmt.Errorf("PE image: the certificate table (%d bytes at %d) is not at the end of the file", size, off)
	}
	out := bytes.Clone(img[:off])
	le.PutUint64(out[h.certDir:], 0)
	// Sign pads an image to 8 bytes before the table; the padding stays,
	// as it is hashed.
	le.PutUint32(out[h.checksum:], peChecksum(out, h.checksum))
	return out, nil
}

// Sign returns img signed with key, whose certificate is cert: an
// Authenticode signature (PKCS #7 SignedData over the image's SHA-256
// digest) in the image's certificate table. A signature it already had is
// replaced. The same input gives the same bytes: the signature holds no
// time, and RSA PKCS #1 v1.5 signatures are deterministic.
func Sign(img []byte, key crypto.Signer, cert *x509.Certificate) ([]byte, error) {
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return nil, errors.New("sign: the key is not an RSA key (UEFI firmware checks RSA-2048 signatures)")
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, errors.New("sign: the key is not the certificate's")
	}
	out, err := Unsigned(img)
	if err != nil {
		return nil, err
	}
	out = append(bytes.Clone(out), make([]byte, alignUp(len(out), 8)-len(out))...)
	h, err := parsePE(out)
	if err != nil {
		return nil, err
	}
	digest, err := Digest(out)
	if err != nil {
		return nil, err
	}
	p7, err := signedData(digest, key, cert)
	if err != nil {
		return nil, err
	}
	// WIN_CERTIFICATE: length, revision 2.0, type PKCS_SIGNED_DATA.
	n := 8 + len(p7)
	wc := make([]byte, 8, alignUp(n, 8))
	le.PutUint32(wc[0:], uint32(n))
	le.PutUint16(wc[4:], 0x0200)
	le.PutUint16(wc[6:], 0x0002)
	wc = append(wc, p7...)
	wc = append(wc, make([]byte, alignUp(n, 8)-n)...)
	le.PutUint32(out[h.certDir:], uint32(len(out)))
	le.PutUint32(out[h.certDir+4:], uint32(len(wc)))
	out = append(out, wc...)
	le.PutUint32(out[h.checksum:], peChecksum(out, h.checksum))
	return out, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// DER, written by hand: the parts of a signature must be encoded exactly
// (SET OF sorted, the digest over a content without its own header).

func tlv(tag byte, content ...[]byte) []byte {
	c := bytes.Join(content, nil)
	n := len(c)
	var l []byte
	switch {
	case n < 0x80:
		l = []byte{byte(n)}
	case n < 0x100:
		l = []byte{0x81, byte(n)}
	case n < 0x10000:
		l = []byte{0x82, byte(n >> 8), byte(n)}
	default:
		l = []byte{0x83, byte(n >> 16), byte(n >> 8), byte(n)}
	}
	return append(append([]byte{tag}, l...), c...)
}

func seq(c ...[]byte) []byte { return tlv(0x30, c...) }

// set is a DER SET OF: its elements sorted by their encoding.
func set(c ...[]byte) []byte {
	s := append([][]byte(nil), c...)
	sort.Slice(s, func(i, j int) bool { return bytes.Compare(s[i], s[j]) < 0 })
	return tlv(0x31, s...)
}

func oid(o asn1.ObjectIdentifier) []byte {
	b, _ := asn1.Marshal(o) // never fails for a valid identifier
	return b
}

func algorithm(o asn1.ObjectIdentifier) []byte { return seq(oid(o), []byte{0x05, 0x00}) }

func octets(b []byte) []byte { return tlv(0x04, b) }

func integer(i int) []byte {
	b, _ := asn1.Marshal(i)
	return b
}

// spcIndirectData is SpcIndirectDataContent: the image's digest, as a PE
// image's (SpcPeImageData with the customary empty flags and "obsolete"
// file link).
func spcIndirectData(digest []byte) []byte {
	obsolete := utf16.Encode([]rune("<<<Obsolete>>>"))
	bmp := make([]byte, 0, 2*len(obsolete))
	for _, r := range obsolete {
		bmp = append(bmp, byte(r>>8), byte(r))
	}
	link := tlv(0xa0, tlv(0xa2, tlv(0x80, bmp))) // file [0] { SpcLink.file [2] { SpcString.unicode [0] } }
	peImageData := seq([]byte{0x03, 0x01, 0x00}, link)
	return seq(seq(oid(oidSpcPEImageData), peImageData), seq(algorithm(oidSHA256), octets(digest)))
}

// contentOf is a DER value's content, without its tag and length.
func contentOf(der []byte) []byte {
	var v asn1.RawValue
	asn1.Unmarshal(der, &v) // der is ours and well formed
	return v.Bytes
}

func signedData(digest []byte, key crypto.Signer, cert *x509.Certificate) ([]byte, error) {
	content := spcIndirectData(digest)
	// The message digest is of the content's value, without its header,
	// as Authenticode defines it.
	md := sha256.Sum256(contentOf(content))
	attrs := [][]byte{
		seq(oid(oidContentType), set(oid(oidSpcIndirectData))),
		seq(oid(oidMessageDigest), set(octets(md[:]))),
		seq(oid(oidSpcSpOpusInfo), set(seq())),
		seq(oid(oidSpcStatementType), set(seq(oid(oidIndividualCode)))),
	}
	signedAttrs := set(attrs...)
	ad := sha256.Sum256(signedAttrs)
	sig, err := key.Sign(rand.Reader, ad[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	serial, err := asn1.Marshal(cert.SerialNumber)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	signer := seq(
		integer(1),
		seq(cert.RawIssuer, serial),
		algorithm(oidSHA256),
		append([]byte{0xa0}, signedAttrs[1:]...), // [0] IMPLICIT SET OF
		algorithm(oidRSA),
		octets(sig),
	)
	sd := seq(
		integer(1),
		set(algorithm(oidSHA256)),
		seq(oid(oidSpcIndirectData), tlv(0xa0, content)),
		tlv(0xa0, cert.Raw), // certificates [0] IMPLICIT
		set(signer),
	)
	return seq(oid(oidSignedData), tlv(0xa0, sd)), nil
}
