package cloudconfig

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// mimeOf wraps parts (raw bodies, base64-encoded on the wire) in one
// multipart/mixed message.
func mimeOf(parts ...[]byte) []byte {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=\"BB\"\nMIME-Version: 1.0\n\n")
	for i, p := range parts {
		fmt.Fprintf(&b, "--BB\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"p%d\"\n\n%s\n", i, b64(p))
	}
	b.WriteString("--BB--\n")
	return []byte(b.String())
}

func b64(p []byte) string { return base64.StdEncoding.EncodeToString(p) }

// Gzip inside MIME parts cannot multiply the 16 MiB cap: what all of
// them decompress to counts together.
func TestUserDataDecompressionCapInAll(t *testing.T) {
	seven := gz(t, append([]byte("#cloud-config\n#"), bytes.Repeat([]byte("x"), 7<<20)...))
	if _, err := SplitUserData(mimeOf(seven, seven)); err != nil {
		t.Fatalf("two parts of 7 MiB: %v", err)
	}
	_, err := SplitUserData(mimeOf(seven, seven, seven))
	if err == nil || !strings.Contains(err.Error(), "user-data decompresses to over 16 MiB in all") {
		t.Fatalf("three parts of 7 MiB: %v, want the cap in all", err)
	}
}

// MIME parts holding gzipped MIME holding gzipped MIME...: each level is a
// split; past maxNesting the user-data is refused, not recursed into.
func TestUserDataNestingCap(t *testing.T) {
	doc := []byte("#cloud-config\nhostname: deep\n")
	for i := 0; i < maxNesting; i++ {
		doc = gz(t, mimeOf(doc))
	}
	parts, err := SplitUserData(doc)
	if err != nil || len(parts) != 1 {
		t.Fatalf("%d levels: %v, %d parts", maxNesting, err, len(parts))
	}
	_, err = SplitUserData(gz(t, mimeOf(doc)))
	if err == nil || !strings.Contains(err.Error(), "user-data nests MIME parts or gzip more than 8 deep") {
		t.Fatalf("%d levels: %v, want the nesting cap", maxNesting+1, err)
	}
}
