package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/services"
)

// userHost is servicesHost with the user services in a temporary folder
// and images that pull unless their reference says "missing".
func userHost(t *testing.T) (*host, *[]string) {
	t.Helper()
	h, _ := servicesHost(t, nil)
	oldAt, oldImage := userServicesAt, userImage
	userServicesAt = filepath.Join(t.TempDir(), "services")
	var pulled []string
	userImage = func(_ *host, _ context.Context, d *services.Definition) error {
		if strings.Contains(d.Image, "missing") {
			return fmt.Errorf("service %s: its image %s cannot be pulled: not found", d.Name, d.Image)
		}
		pulled = append(pulled, d.Image)
		return nil
	}
	t.Cleanup(func() { userServicesAt, userImage = oldAt, oldImage })
	return h, &pulled
}

func localYAML(h *host) string {
	b, _ := os.ReadFile(h.cfg.store.LocalPath())
	return string(b)
}

func storedFiles(t *testing.T) []string {
	ents, _ := os.ReadDir(userServicesAt)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

const twoServices = `services:
  web:
    image: debian:bookworm
    command: [sleep, infinity]
    privileged: true
  job:
    image: busybox:1
    command: [sh, -c, "exit 3"]
    restart: on-failure
    depends_on: [web, network]
`

// enable FILE pulls every image, stores each service in its own file with
// its origin, enables them all in the local layer, and list shows them as
// user services with their origin; they survive as files (a reboot reads
// them again).
func TestDefineServicesFile(t *testing.T) {
	h, pulled := userHost(t)
	res, err := h.DefineServices(context.Background(), api.ServiceDefinition{Origin: "/root/app.yaml", Data: []byte(twoServices)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Services) != 2 || res.Services[0].Name != "web" || res.Services[1].Name != "job" {
		t.Errorf("results: %+v", res.Services)
	}
	if !slices.Equal(*pulled, []string{"debian:bookworm", "busybox:1"}) {
		t.Errorf("pulled %q, want both images", *pulled)
	}
	if got := storedFiles(t); !slices.Equal(got, []string{"job.yaml", "web.yaml"}) {
		t.Errorf("stored %q", got)
	}
	if got := localYAML(h); !strings.Contains(got, "- web") || !strings.Contains(got, "- job") {
		t.Errorf("local.yaml does not enable web and job:\n%s", got)
	}
	st, err := h.ServiceStatus("web")
	if err != nil || !st.Enabled || st.Source != api.SourceUser || st.Origin != "/root/app.yaml" || st.Image != "debian:bookworm" {
		t.Errorf("web's status: %+v %v", st, err)
	}
	// The stored file is a definition on its own: one service, its origin.
	d, err := loadUserDef("job")
	if err != nil || d.Image != "busybox:1" || len(d.DependsOn) != 2 {
		t.Errorf("stored job: %+v %v", d, err)
	}
	// Defining web again replaces it (a user service's own name).
	if _, err := h.DefineServices(context.Background(), api.ServiceDefinition{Origin: "/root/web2.yaml", Data: []byte("services:\n  web:\n    image: debian:trixie\n")}); err != nil {
		t.Errorf("redefine web: %v", err)
	}
	if st, _ := h.ServiceStatus("web"); st.Image != "debian:trixie" || st.Origin != "/root/web2.yaml" {
		t.Errorf("web after its redefinition: %+v", st)
	}
}

// Any failure changes nothing: no file, local.yaml as it was, non-nil
// error naming the origin and the field.
func TestDefineServicesRefused(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"built-in name", "services:\n  udev:\n    image: debian:bookworm\n", `/root/bad.yaml: services.udev: "udev" is a built-in service's name`},
		{"rootfs", "services:\n  web:\n    x-berth:\n      rootfs: {debs: base}\n    command: [/bin/sh]\n", "services.web.x-berth.rootfs: a user service runs an image"},
		{"strict", "services:\n  web:\n    image: debian:bookworm\n    comand: [sleep]\n", "services.web.comand"},
		{"depends_on", "services:\n  web:\n    image: debian:bookworm\n    depends_on: [nosuch]\n", `services.web.depends_on.nosuch: no service "nosuch"`},
		{"image missing", "services:\n  web:\n    image: debian:bookworm\n  db:\n    image: missing:1\n", "its image missing:1 cannot be pulled"},
		{"empty", "", "/root/bad.yaml: empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := userHost(t)
			before := localYAML(h)
			_, err := h.DefineServices(context.Background(), api.ServiceDefinition{Origin: "/root/bad.yaml", Data: []byte(tc.doc), ServiceControl: api.ServiceControl{Now: true}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
			if got := storedFiles(t); len(got) != 0 {
				t.Errorf("a refused enable stored %q", got)
			}
			if got := localYAML(h); got != before {
				t.Errorf("a refused enable changed local.yaml:\n%s", got)
			}
		})
	}
}

// A URL is fetched by PID 1 and checked against its #sha256= pin; a wrong
// pin, a body over the cap or an HTTP error changes nothing.
func TestDefineServicesURL(t *testing.T) {
	doc := "services:\n  web:\n    image: debian:bookworm\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/web.yaml":
			fmt.Fprint(w, doc)
		case "/big.yaml":
			w.Write(make([]byte, api.MaxDefinitionSize+1))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	sum := sha256.Sum256([]byte(doc))
	good := hex.EncodeToString(sum[:])
	h, _ := userHost(t)
	for _, tc := range []struct{ url, want string }{
		{srv.URL + "/web.yaml#sha256=" + strings.Repeat("0", 64), "refused: its sha256 is " + good},
		{srv.URL + "/big.yaml", "larger than 1048576 bytes"},
		{srv.URL + "/nosuch.yaml", "404 Not Found"},
		{srv.URL + "/web.yaml#sha=1", "expected #sha256=<64 hex digits>"},
	} {
		_, err := h.DefineServices(context.Background(), api.ServiceDefinition{Origin: tc.url})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.url, err, tc.want)
		}
		if got := storedFiles(t); len(got) != 0 {
			t.Errorf("%s: stored %q", tc.url, got)
		}
	}
	url := srv.URL + "/web.yaml#sha256=" + good
	if _, err := h.DefineServices(context.Background(), api.ServiceDefinition{Origin: url}); err != nil {
		t.Fatal(err)
	}
	if st, err := h.ServiceStatus("web"); err != nil || st.Origin != url || !st.Enabled {
		t.Errorf("web from the URL: %+v %v", st, err)
	}
}

// rm deletes a disabled user service's file; it refuses an enabled one, a
// built-in and an unknown name.
func TestRemoveService(t *testing.T) {
	h, _ := userHost(t)
	ctx := context.Background()
	if _, err := h.DefineServices(ctx, api.ServiceDefinition{Origin: "/root/web.yaml", Data: []byte("services:\n  web:\n    image: debian:bookworm\n")}); err != nil {
		t.Fatal(err)
	}
	if err := h.RemoveService(ctx, "web"); !errors.Is(err, errkind.ErrInvalidConfig) || !strings.Contains(err.Error(), "hostctl service disable web first") {
		t.Errorf("rm of an enabled service: %v", err)
	}
	if err := h.RemoveService(ctx, "udev"); err == nil || !strings.Contains(err.Error(), "udev is a built-in service") {
		t.Errorf("rm udev: %v", err)
	}
	if err := h.RemoveService(ctx, "nosuch"); !errors.Is(err, errkind.ErrNotFound) {
		t.Errorf("rm nosuch: %v", err)
	}
	if _, err := h.EnableService(ctx, "web", false, api.ServiceControl{}); err != nil {
		t.Fatal(err)
	}
	if got := storedFiles(t); !slices.Equal(got, []string{"web.yaml"}) {
		t.Errorf("disable removed the definition: %q", got)
	}
	if err := h.RemoveService(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if got := storedFiles(t); len(got) != 0 {
		t.Errorf("rm left %q", got)
	}
	if _, err := h.ServiceStatus("web"); !errors.Is(err, errkind.ErrNotFound) {
		t.Errorf("web after rm: %v", err)
	}
}

// A stored file that no longer loads (edited by hand) is left out and
// said in the config status; the other user services and the built-ins
// stay.
func TestBadUserDefinitionReported(t *testing.T) {
	h, _ := userHost(t)
	if _, err := h.DefineServices(context.Background(), api.ServiceDefinition{Origin: "/root/web.yaml", Data: []byte("services:\n  web:\n    image: debian:bookworm\n")}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(userServicesAt, "broken.yaml"), []byte("services:\n  broken:\n    image: debian:bookworm\n    comand: [sleep]\n"), 0o600)
	configMu.Lock()
	set, warnings := h.wantedServices()
	configMu.Unlock()
	want := "berth.services: user service broken is left out: " + filepath.Join(userServicesAt, "broken.yaml") + ":4: services.broken.comand: unknown key"
	if !slices.ContainsFunc(warnings, func(w string) bool { return strings.HasPrefix(w, want) }) {
		t.Errorf("warnings %q, want one starting %q", warnings, want)
	}
	if !slices.Contains(set, "web") || !slices.Contains(set, "udev") {
		t.Errorf("set %q, want web and the built-ins", set)
	}
}

// berth.services.define: a valid inline service is listed as a user
// service from cloud-config and is in the boot set; an invalid one, one
// named as a built-in and one with a rootfs are said in the config status
// with their field paths, and everything else still starts.
func TestCloudConfigDefine(t *testing.T) {
	ds := map[string]any{"berth": map[string]any{"services": map[string]any{"define": map[string]any{
		"web":  map[string]any{"image": "debian:bookworm", "command": []any{"sleep", "infinity"}},
		"bad":  map[string]any{"image": "debian:bookworm", "comand": []any{"sleep"}},
		"udev": map[string]any{"image": "debian:bookworm"},
		"raw":  map[string]any{"x-berth": map[string]any{"rootfs": map[string]any{"debs": "base"}}, "command": []any{"/bin/sh"}},
	}}}}
	h, _ := hostBeforeServices(t, ds)
	oldAt, oldImage := userServicesAt, userImage
	userServicesAt = filepath.Join(t.TempDir(), "services")
	pulled := make(chan string, 4)
	userImage = func(_ *host, _ context.Context, d *services.Definition) error {
		pulled <- d.Image
		return fmt.Errorf("test: no image store")
	}
	t.Cleanup(func() { userServicesAt, userImage = oldAt, oldImage })
	h.phaseServices(context.Background())
	configMu.Lock()
	set, warnings := h.wantedServices()
	configMu.Unlock()
	for _, want := range []string{
		"berth.services.define.bad.comand: unknown key",
		`berth.services.define.udev: "udev" is a built-in service's name`,
		"berth.services.define.raw.x-berth.rootfs: a user service runs an image",
	} {
		if !slices.ContainsFunc(warnings, func(w string) bool { return strings.HasPrefix(w, want) }) {
			t.Errorf("warnings %q lack %q", warnings, want)
		}
	}
	if !slices.Equal(set, []string{"udev", "network", "console", "web"}) {
		t.Errorf("boot set %q, want the built-ins and web", set)
	}
	st, err := h.ServiceStatus("web")
	if err != nil || st.Source != api.SourceUser || st.Origin != "cloud-config" || !st.Enabled || st.Image != "debian:bookworm" {
		t.Errorf("web: %+v %v", st, err)
	}
	// Nothing is pulled before the ready line (no network yet); web's
	// image is, once the host is ready.
	if len(pulled) != 0 {
		t.Errorf("pulled %q before the ready line", <-pulled)
	}
	h.booted.Store(true)
	select {
	case img := <-pulled:
		if img != "debian:bookworm" {
			t.Errorf("pulled %q once ready, want web's image", img)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("web's image not pulled once the host is ready")
	}
	for _, n := range []string{"udev", "network", "console"} {
		if s, _ := h.ServiceStatus(n); s.State != api.StateRunning && s.State != "starting" {
			t.Errorf("%s: %s, want it started", n, s.State)
		}
	}
	// A file cannot take the name cloud-config gives a service.
	if _, err := h.DefineServices(context.Background(), api.ServiceDefinition{Origin: "/root/web.yaml", Data: []byte("services:\n  web:\n    image: debian:bookworm\n")}); err == nil || !strings.Contains(err.Error(), `"web" is a user service's name`) {
		t.Errorf("enable of a file named as cloud-config's web: %v", err)
	}
}
