package cloudconfig

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/fuzzmem"
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

// 16 KiB of gzip gives 16 MiB of "- a" lines: refused before the YAML is
// parsed (it took 1 GiB of heap), naming the source and the cap.
func TestUserDataDenseYAMLRefusedUnparsed(t *testing.T) {
	data := gz(t, append([]byte("#cloud-config\nruncmd:\n"), bytes.Repeat([]byte("- a\n"), maxUserData/4-6)...))
	var err error
	got := fuzzmem.Allocated(func() { _, err = Parse("user-data", data) })
	want := "user-data: not accepted: too many nodes: the document has more than 200000 line breaks and , [ { : ? - signs, each of which may begin a node"
	if err == nil || err.Error() != want {
		t.Errorf("Parse: %v\nwant %s", err, want)
	}
	if got > 96*fuzzmem.MiB {
		t.Errorf("refusing %d bytes of gzip allocated %d MiB", len(data), got>>20)
	}
}
