package images

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/test/registry"
	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestHostsFiles(t *testing.T) {
	got := HostsFiles(map[string][]string{
		"docker.io":         {"http://10.0.2.2:5000", "https://mirror.example.com/v2"},
		"registry.lan:5000": {"http://10.0.0.9:5000"},
	})
	want := map[string]string{
		"docker.io/hosts.toml": `# Rendered by Berth from berth.registry_mirrors.docker.io: mirrors first, then the registry.
server = "https://registry-1.docker.io"

[host."http://10.0.2.2:5000"]
  capabilities = ["pull", "resolve"]

[host."https://mirror.example.com/v2"]
  capabilities = ["pull", "resolve"]
`,
		"registry.lan:5000/hosts.toml": `# Rendered by Berth from berth.registry_mirrors.registry.lan:5000: mirrors first, then the registry.
server = "https://registry.lan:5000"

[host."http://10.0.0.9:5000"]
  capabilities = ["pull", "resolve"]
`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("HostsFiles (-want +got):\n%s", d)
	}
}

func TestWriteHostsRemovesRegistriesNoLongerConfigured(t *testing.T) {
	dir := t.TempDir()
	if err := WriteHosts(dir, map[string][]string{"docker.io": {"http://a"}, "quay.io": {"http://b"}}); err != nil {
		t.Fatal(err)
	}
	// A certificate the admin put beside quay.io's file stays.
	if err := os.WriteFile(filepath.Join(dir, "quay.io", "ca.crt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "ghcr.io"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ghcr.io", HostsFile), []byte("old"), 0o644)
	if err := WriteHosts(dir, map[string][]string{"docker.io": {"http://c"}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "docker.io", HostsFile))
	if err != nil || !strings.Contains(string(b), `[host."http://c"]`) || strings.Contains(string(b), "http://a") {
		t.Errorf("docker.io/hosts.toml = %q, %v; want the new mirror only", b, err)
	}
	for _, gone := range []string{"quay.io/" + HostsFile, "ghcr.io"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: still there (%v); want it removed", gone, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "quay.io", "ca.crt")); err != nil {
		t.Errorf("quay.io/ca.crt: %v; want it kept", err)
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "debian", want: "docker.io/library/debian:latest"},
		{in: "debian:bookworm", want: "docker.io/library/debian:bookworm"},
		{in: "ghcr.io/a/b:1", want: "ghcr.io/a/b:1"},
		{in: "10.0.2.2:5000/x", want: "10.0.2.2:5000/x:latest"},
		{in: "Debian:bookworm", err: `image reference "Debian:bookworm": invalid reference format: repository name (library/Debian) must be lowercase`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Normalize(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || !errors.Is(err, errkind.ErrInvalidConfig) {
					t.Fatalf("Normalize(%q) = %q, %v; want the error %q (invalid config)", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// served starts the test registry with one image at ref.
func served(t *testing.T, ref string) (*registry.Server, v1.Image) {
	t.Helper()
	srv, err := registry.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	l, err := registry.FileLayer(map[string][]byte{"etc/hello": []byte("hi\n")})
	if err != nil {
		t.Fatal(err)
	}
	img, err := registry.NewImage(ref, l)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Push(ref, img); err != nil {
		t.Fatal(err)
	}
	return srv, img
}

func hostsDir(t *testing.T, mirrors map[string][]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteHosts(dir, mirrors); err != nil {
		t.Fatal(err)
	}
	return dir
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// A docker.io reference resolves through the mirror of the hosts folder,
// over plain http, and its content can be fetched from there.
func TestResolveThroughMirror(t *testing.T) {
	const ref = "docker.io/library/debian:bookworm"
	srv, img := served(t, ref)
	o := Options{HostsDir: hostsDir(t, map[string][]string{"docker.io": {srv.URL()}})}
	ctx := ctxT(t)
	name, desc, err := o.Resolver(ctx).Resolve(ctx, ref)
	if err != nil {
		t.Fatalf("resolve %s through %s: %v\naccess log: %q", ref, srv.URL(), err, srv.Requests())
	}
	if name != ref || desc.Digest.String() != digestOf(t, img) {
		t.Errorf("resolved %s %s; want %s %s", name, desc.Digest, ref, digestOf(t, img))
	}
	if !srv.Served("library/debian") {
		t.Errorf("the mirror's access log shows no manifest served: %q", srv.Requests())
	}
	f, err := o.Resolver(ctx).Fetcher(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		t.Fatalf("fetch the manifest: %v", err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if m, _ := img.RawManifest(); string(b) != string(m) {
		t.Errorf("fetched manifest %q; want %q", b, m)
	}
}

// A tag the mirror does not have is not found, and says which image.
func TestResolveMissingTag(t *testing.T) {
	// The registry itself is a closed port: after the mirror's 404 its
	// own endpoint fails at once, as Docker Hub does off the network.
	const reg = "127.0.0.1:1"
	srv, _ := served(t, reg+"/library/debian:bookworm")
	o := Options{HostsDir: hostsDir(t, map[string][]string{reg: {srv.URL()}})}
	ctx := ctxT(t)
	ref := reg + "/library/debian:nope"
	_, _, err := o.Resolver(ctx).Resolve(ctx, ref)
	if !errdefs.IsNotFound(err) {
		t.Fatalf("resolve %s: %v; want not found", ref, err)
	}
	perr := pullError(ref, err)
	want := "pull " + ref + ": no such image in its registry or the registry's mirrors"
	if !errors.Is(perr, errkind.ErrNotFound) || !strings.HasPrefix(perr.Error(), want) {
		t.Errorf("pull error %q; want it to start %q, of kind not found", perr, want)
	}
}

// Credentials of berth.registry_auths are sent to the host they are for,
// given as a user and password or as Docker's auth string.
func TestCredentials(t *testing.T) {
	const ref = "docker.io/library/private:1"
	srv, _ := served(t, ref)
	srv.Handler = func(w http.ResponseWriter, r *http.Request) bool {
		if u, p, ok := r.BasicAuth(); ok && u == "berth" && p == "s3cret" {
			return false
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
		return true
	}
	host := strings.TrimPrefix(srv.URL(), "http://")
	dir := hostsDir(t, map[string][]string{"docker.io": {srv.URL()}})
	for _, tc := range []struct {
		name  string
		auths map[string]Auth
		ok    bool
	}{
		{"user and password", map[string]Auth{host: {Username: "berth", Password: "s3cret"}}, true},
		{"auth string", map[string]Auth{host: {Auth: base64.StdEncoding.EncodeToString([]byte("berth:s3cret"))}}, true},
		{"wrong password", map[string]Auth{host: {Username: "berth", Password: "nope"}}, false},
		{"for another host", map[string]Auth{"quay.io": {Username: "berth", Password: "s3cret"}}, false},
		{"none", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			_, _, err := Options{HostsDir: dir, Auths: tc.auths}.Resolver(ctx).Resolve(ctx, ref)
			if tc.ok && err != nil {
				t.Fatalf("resolve with credentials: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("resolve without the right credentials succeeded; want it refused")
			}
		})
	}
}

func TestAuthString(t *testing.T) {
	for _, tc := range []struct{ auth, err string }{
		{"!!", "auth: expected base64 of user:password: illegal base64 data at input byte 0"},
		{base64.StdEncoding.EncodeToString([]byte("nocolon")), "auth: expected base64 of user:password, the decoded text has no colon"},
	} {
		_, _, err := Options{Auths: map[string]Auth{"r.io": {Auth: tc.auth}}}.credentials("r.io")
		if err == nil || err.Error() != "registry r.io: "+tc.err {
			t.Errorf("auth %q: %v; want %q", tc.auth, err, "registry r.io: "+tc.err)
		}
	}
}

// Pulls go through berth.proxy: the mirror's name is known to the proxy
// only.
func TestProxy(t *testing.T) {
	const ref = "docker.io/library/debian:bookworm"
	srv, _ := served(t, ref)
	target, _ := url.Parse(srv.URL())
	var mu sync.Mutex
	var seen []string
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy, err := registry.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.Handler = func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		seen = append(seen, r.Host)
		mu.Unlock()
		rp.ServeHTTP(w, r)
		return true
	}
	const mirror = "http://mirror.berth.test:5000"
	o := Options{
		HostsDir: hostsDir(t, map[string][]string{"docker.io": {mirror}}),
		Proxy:    Proxy{HTTP: proxy.URL(), No: "localhost"},
	}
	ctx := ctxT(t)
	if _, _, err := o.Resolver(ctx).Resolve(ctx, ref); err != nil {
		t.Fatalf("resolve through the proxy: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 || seen[0] != "mirror.berth.test:5000" {
		t.Errorf("the proxy saw hosts %q; want mirror.berth.test:5000", seen)
	}
}

func TestProxyEnv(t *testing.T) {
	got := Proxy{HTTP: "http://p:3128", No: "10.0.0.0/8"}.Env()
	want := []string{"HTTP_PROXY=http://p:3128", "http_proxy=http://p:3128", "NO_PROXY=10.0.0.0/8", "no_proxy=10.0.0.0/8"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Env (-want +got):\n%s", d)
	}
}

// An import takes a tarball as it is or gzipped (a preload folder's
// .tar.gz).
func TestGunzip(t *testing.T) {
	tarball := bytes.Repeat([]byte("ustar tarball "), 1000)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarball)
	zw.Close()
	for name, in := range map[string][]byte{"plain": tarball, "gzipped": gz.Bytes()} {
		r, err := gunzip(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, tarball) {
			t.Errorf("%s: read %d bytes, %v; want the %d bytes of the tarball", name, len(got), err, len(tarball))
		}
	}
}
