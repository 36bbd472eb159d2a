package osbundle

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sources writes one small file per bundle name; the root is 1 MiB.
func sources(t *testing.T) []Source {
	dir := t.TempDir()
	var srcs []Source
	for _, name := range Files {
		data := []byte("contents of " + name + "\n")
		if name == Root {
			data = bytes.Repeat(data, (1<<20)/len(data))
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, Source{Name: name, Path: p})
	}
	return srcs
}

func write(t *testing.T, key ed25519.PrivateKey) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, Manifest{Name: "berth", Version: "1.2.0", Arch: "x86_64", Build: "abc"}, sources(t), key, time.Unix(1e9, 0)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readAll(t *testing.T, r *Reader) map[string]string {
	t.Helper()
	got := map[string]string{}
	for {
		f, fr, err := r.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(fr)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		got[f.Name] = string(b)
	}
}

func TestRoundTrip(t *testing.T) {
	key := testKey(t)
	b := write(t, key)
	if again := write(t, key); !bytes.Equal(b, again) {
		t.Error("two writes of the same inputs differ")
	}
	r, err := Open(bytes.NewReader(b), key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if r.Manifest.Version != "1.2.0" || r.Manifest.Key != KeyID(key.Public().(ed25519.PublicKey)) {
		t.Errorf("manifest %+v", r.Manifest)
	}
	got := readAll(t, r)
	if len(got) != len(Files) || got[Kernel] != "contents of vmlinuz\n" || len(got[Root]) < 1<<19 {
		t.Errorf("read %d files; kernel %q", len(got), got[Kernel])
	}
}

// rewrite copies bundle b's entries through edit, which may change an
// entry's data or drop it (nil).
func rewrite(t *testing.T, b []byte, edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		data = edit(h.Name, data)
		if data == nil {
			continue
		}
		h.Size = int64(len(data))
		tw.WriteHeader(h)
		tw.Write(data)
	}
	tw.Close()
	return out.Bytes()
}

func TestRefusals(t *testing.T) {
	key := testKey(t)
	pub := key.Public().(ed25519.PublicKey)
	good := write(t, key)
	other := testKey(t)
	for _, c := range []struct {
		name string
		data []byte
		err  error
		msg  string
	}{
		{"unsigned", rewrite(t, good, func(n string, d []byte) []byte {
			if n == SignatureName {
				return nil
			}
			return d
		}), ErrUnsigned, "has no bundle.sig; this host accepts bundles signed with key " + KeyID(pub)},
		{"other key", write(t, other), ErrKey, "names key \"" + KeyID(other.Public().(ed25519.PublicKey)) + "\"; this host accepts key " + KeyID(pub)},
		{"changed manifest", rewrite(t, good, func(n string, d []byte) []byte {
			if n == ManifestName {
				return bytes.Replace(d, []byte(`"1.2.0"`), []byte(`"1.2.1"`), 1)
			}
			return d
		}), ErrBadSig, "its manifest was changed"},
		{"signature of another key", rewrite(t, good, func(n string, d []byte) []byte {
			if n == SignatureName {
				return []byte(strings.Repeat("A", 86) + "==\n")
			}
			return d
		}), ErrBadSig, "does not verify"},
		{"not a tar", []byte(strings.Repeat("x", 2000)), ErrFormat, "not a Berth upgrade bundle"},
	} {
		_, err := Open(bytes.NewReader(c.data), pub)
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v, want %v with %q", c.name, err, c.err, c.msg)
		}
	}
}

// A file changed after signing reads to its end with an error naming it.
func TestChangedFile(t *testing.T) {
	key := testKey(t)
	b := rewrite(t, write(t, key), func(n string, d []byte) []byte {
		if n == Initrd {
			d[0] ^= 1
		}
		return d
	})
	r, err := Open(bytes.NewReader(b), key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, fr, err := r.Next()
		if err != nil {
			t.Fatalf("no file failed its hash; ended with %v", err)
		}
		_, err = io.ReadAll(fr)
		if f.Name != Initrd {
			if err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "initrd.img: sha256") {
			t.Fatalf("changed initrd: %v", err)
		}
		return
	}
}

func TestKeyFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keys", "upgrade.key")
	if _, _, err := LoadKey(p, false); err == nil {
		t.Fatal("a missing key loaded")
	}
	k, made, err := LoadKey(p, true)
	if err != nil || !made {
		t.Fatalf("made %v, %v", made, err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", st.Mode())
	}
	k2, made, err := LoadKey(p, true)
	if err != nil || made || !k.Equal(k2) {
		t.Fatalf("second load: made %v, %v", made, err)
	}
	pub, err := ParsePublicKey(MarshalPublicKey(k.Public().(ed25519.PublicKey)))
	if err != nil || !pub.Equal(k.Public()) {
		t.Fatalf("public key round trip: %v", err)
	}
	if _, err := ParsePrivateKey(MarshalPublicKey(pub)); err == nil || !strings.Contains(err.Error(), `"PUBLIC KEY" block, expected "PRIVATE KEY"`) {
		t.Errorf("a public key read as a private one: %v", err)
	}
}
