package hostctl

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
)

// userHost records the definitions and removals it is asked for.
type userHost struct {
	host
	defined []api.ServiceDefinition
	removed []string
}

func (h *userHost) DefineServices(_ context.Context, d api.ServiceDefinition) (api.DefineResult, error) {
	h.defined = append(h.defined, d)
	if strings.Contains(string(d.Data), "bad") {
		return api.DefineResult{}, api.BadRequest(fmt.Errorf("%s:3: services.web.bad: unknown key", d.Origin))
	}
	return api.DefineResult{Services: []api.ServiceResult{{Name: "web", Started: d.Now, State: "running"}}}, nil
}

func (h *userHost) RemoveService(_ context.Context, name string) error {
	if name != "web" {
		return errkind.Mark(errkind.ErrNotFound, fmt.Errorf("no service %q", name))
	}
	h.removed = append(h.removed, name)
	return nil
}

// enable FILE sends the file's content with its absolute path; enable URL
// sends the URL alone (PID 1 fetches it); a name is still a name; the
// host's refusal comes back with its message; rm asks for the removal.
func TestServiceEnableDefinition(t *testing.T) {
	h := &userHost{}
	sock := start(t, h)
	dir := t.TempDir()
	good := filepath.Join(dir, "web.yaml")
	os.WriteFile(good, []byte("services:\n  web:\n    image: debian:bookworm\n"), 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("services:\n  web:\n    bad: 1\n"), 0o644)
	runIt := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"--socket", sock, "service"}, args...), &out, &errb)
		return out.String(), err
	}
	if out, err := runIt("enable", good, "--now"); err != nil || out != "web: started (running)\n" {
		t.Errorf("enable FILE --now: %q %v", out, err)
	}
	if len(h.defined) != 1 || h.defined[0].Origin != good || !strings.Contains(string(h.defined[0].Data), "debian:bookworm") || !h.defined[0].Now {
		t.Errorf("host heard %+v", h.defined)
	}
	if _, err := runIt("enable", "http://10.0.2.2:8080/web.yaml#sha256=00"); err != nil {
		t.Errorf("enable URL: %v", err)
	}
	if d := h.defined[len(h.defined)-1]; d.Origin != "http://10.0.2.2:8080/web.yaml#sha256=00" || len(d.Data) != 0 {
		t.Errorf("enable URL sent %+v", d)
	}
	if _, err := runIt("enable", bad); err == nil || !strings.Contains(err.Error(), "enable "+bad+": "+bad+":3: services.web.bad: unknown key") {
		t.Errorf("enable of a bad file: %v", err)
	}
	if _, err := runIt("enable", filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml: no such file") {
		t.Errorf("enable of a missing file: %v", err)
	}
	n := len(h.defined)
	runIt("enable", "udev")
	if len(h.defined) != n || !strings.HasPrefix(h.verbs[len(h.verbs)-1], "enable udev") {
		t.Errorf("enable NAME went as a definition: %v %v", h.defined[n:], h.verbs)
	}
	if out, err := runIt("rm", "web"); err != nil || out != "web: removed\n" || len(h.removed) != 1 {
		t.Errorf("rm web: %q %v %v", out, err, h.removed)
	}
	if _, err := runIt("remove", "nosuch"); err == nil || !strings.Contains(err.Error(), `remove service nosuch: no service "nosuch"`) {
		t.Errorf("remove nosuch: %v", err)
	}
}

// list shows a user service's origin after its source.
func TestPrintServicesOrigin(t *testing.T) {
	var b bytes.Buffer
	printServices(&b, []api.Service{{Name: "web", Source: api.SourceUser, Origin: "/root/web.yaml", State: "running", Image: "debian:bookworm"}}, time.Now())
	if !strings.Contains(b.String(), "web   user:/root/web.yaml  no ") {
		t.Errorf("list:\n%s", b.String())
	}
}

// pullHost has a user service web and pulls its image.
type pullHost struct {
	userHost
	pulled []string
}

func (h *pullHost) ServiceStatus(n string) (api.ServiceStatus, error) {
	if n == "web" {
		return api.ServiceStatus{Service: api.Service{Name: "web", Source: api.SourceUser, Image: "debian:bookworm"}}, nil
	}
	return h.userHost.ServiceStatus(n)
}
func (h *pullHost) Images(context.Context) ([]api.Image, error) { return nil, nil }
func (h *pullHost) ImportImages(context.Context, io.Reader, io.Writer) ([]api.Image, error) {
	return nil, nil
}
func (h *pullHost) PullImage(_ context.Context, ref string, progress io.Writer) (api.Image, error) {
	h.pulled = append(h.pulled, ref)
	fmt.Fprintln(progress, "resolving "+ref)
	return api.Image{Name: "docker.io/library/" + ref, Digest: "sha256:ab"}, nil
}

// hostctl service pull pulls a service's image again, by its reference.
func TestServicePull(t *testing.T) {
	h := &pullHost{}
	sock := start(t, h)
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--socket", sock, "service", "pull", "web"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if len(h.pulled) != 1 || h.pulled[0] != "debian:bookworm" || !strings.Contains(out.String(), "pulled docker.io/library/debian:bookworm sha256:ab for web\n") {
		t.Errorf("pulled %q, output %q", h.pulled, out.String())
	}
}

// --since takes a duration back from now or a time; anything else is a
// usage error naming the flag.
func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"10m":                  now.Add(-10 * time.Minute),
		"1h30m":                now.Add(-90 * time.Minute),
		"2026-12-01T15:00:00Z": time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC),
		"2026-12-01T15:00:00":  time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC),
		"2026-12-01":           time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"yesterday", "-5m"} {
		if _, err := parseSince(in, now); err == nil || !strings.Contains(err.Error(), "--since: expected a duration") {
			t.Errorf("%s: %v", in, err)
		}
	}
}
