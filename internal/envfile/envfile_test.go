package envfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The file's variables replace the environment's of the same name, in the
// file's order; a missing file adds nothing; a bad line names the file and
// line.
func TestMerge(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "proxy.env")
	os.WriteFile(f, []byte("# comment\n\nNO_PROXY=a,b\nHTTPS_PROXY=http://p:1\nNO_PROXY=c\n"), 0o644)
	got, err := Merge([]string{"PATH=/bin", "NO_PROXY=old"}, f)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"PATH=/bin", "NO_PROXY=c", "HTTPS_PROXY=http://p:1"}, got); diff != "" {
		t.Errorf("environment (-want +got)\n%s", diff)
	}
	if got, err := Merge([]string{"PATH=/bin"}, filepath.Join(dir, "none")); err != nil || !cmp.Equal(got, []string{"PATH=/bin"}) {
		t.Errorf("a missing file: %q, %v", got, err)
	}
	os.WriteFile(f, []byte("HTTP_PROXY=x\njunk\n"), 0o644)
	if _, err := Merge(nil, f); err == nil || err.Error() != f+`:2: "junk" is no NAME=value line` {
		t.Errorf("a bad line: %v", err)
	}
}

// Set replaces the variables it names wherever they are, and keeps the
// rest in order; Lookup finds a name's value.
func TestSetLookup(t *testing.T) {
	got := Set([]string{"A=1", "NOTIFY_SOCKET=/run/notify", "B=2", "NOTIFY_SOCKETS=x"}, "NOTIFY_SOCKET=@mine", "C=3")
	if diff := cmp.Diff([]string{"A=1", "B=2", "NOTIFY_SOCKETS=x", "NOTIFY_SOCKET=@mine", "C=3"}, got); diff != "" {
		t.Errorf("Set (-want +got)\n%s", diff)
	}
	if v, ok := Lookup(got, "NOTIFY_SOCKET"); !ok || v != "@mine" {
		t.Errorf("Lookup NOTIFY_SOCKET: %q, %v", v, ok)
	}
	if v, ok := Lookup(got, "NOTIFY"); ok {
		t.Errorf("Lookup NOTIFY, a prefix of names only: %q", v)
	}
}
