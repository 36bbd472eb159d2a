package hostctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
)

type osHost struct {
	host
	configHost
	os   api.OS
	repo string // berth.upgrade.repository
}

func (h *osHost) ConfigValue(key string) (api.ConfigValue, error) {
	if key == repositoryKey && h.repo != "" {
		return api.ConfigValue{Key: key, Value: h.repo, Source: "local"}, nil
	}
	return api.ConfigValue{}, errkind.Mark(errkind.ErrNotFound, fmt.Errorf("%s: not set", key))
}

func (h *osHost) OSStatus(context.Context) (api.OS, error) { return h.os, nil }

func (h *osHost) Rollback(_ context.Context, req api.RollbackRequest) (string, error) {
	if req.Tries < 1 || req.Tries > 3 {
		return "", api.BadRequest(fmt.Errorf("rollback: --tries %d: expected 1 to 3", req.Tries))
	}
	return fmt.Sprintf("slot b is tried at the next boot (%d tries)", req.Tries), nil
}

// Upgrade reads the whole bundle, as the host does, and says what it got.
func (h *osHost) Upgrade(_ context.Context, req api.UpgradeRequest, body io.Reader, progress io.Writer) (api.UpgradeResult, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return api.UpgradeResult{}, err
	}
	if req.Ref != "" {
		b = []byte("bundle pulled from " + req.Ref)
	}
	if !bytes.HasPrefix(b, []byte("bundle")) {
		return api.UpgradeResult{}, api.BadRequest(errors.New("upgrade: refused, nothing was written: not a Berth upgrade bundle"))
	}
	fmt.Fprintf(progress, "read %d bytes\n", len(b))
	return api.UpgradeResult{Message: fmt.Sprintf("%s (stage %v, tries %d)", b, req.Stage, req.Tries)}, nil
}

func (h *osHost) Versions(_ context.Context, repo string) ([]string, error) {
	if repo != "registry.lan/berth/os" {
		return nil, api.BadRequest(errors.New("os list: no repository " + repo))
	}
	return []string{"1.2", "1.3"}, nil
}

func TestOSStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		os   api.OS
		want string
	}{
		{"disk", api.OS{Version: "1.2", Medium: "disk", Disk: "vda", BootPart: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", Root: "/dev/vda2", Slot: "a", Verity: "300:ab",
			Slots: []api.Slot{{Name: "a", Partition: "/dev/vda2", State: api.SlotRunning}, {Name: "b", Partition: "/dev/vda3", State: api.SlotEmpty}},
			Boot:  &api.BootChain{Good: "a"}},
			`version         1.2
medium          disk (vda)
boot partition  0FC63DAF-8483-4772-8E79-3D69D8477DE4
root            /dev/vda2 (slot a)
verified        yes: dm-verity, berth.verity=300:ab
good slot       a
slot a          /dev/vda2  running
slot b          /dev/vda3  empty
`},
		{"a slot tried, another rejected", api.OS{Version: "1.3", Medium: "disk", Disk: "vda", Root: "/dev/vda3", Slot: "b", Verity: "300:ab",
			Slots: []api.Slot{{Name: "a", Partition: "/dev/vda2", State: api.SlotRoot}, {Name: "b", Partition: "/dev/vda3", State: api.SlotRunning}},
			Boot:  &api.BootChain{Good: "a", Trying: "b", TriesLeft: 2, Rejected: "b", Why: "service network is failed"}},
			`version    1.3
medium     disk (vda)
root       /dev/vda3 (slot b)
verified   yes: dm-verity, berth.verity=300:ab
good slot  a
trying     slot b (2 tries left)
rejected   slot b: service network is failed
slot a     /dev/vda2  holds a root
slot b     /dev/vda3  running
`},
		{"after an upgrade", api.OS{Version: "1.3", Medium: "disk", Disk: "vda", Root: "/dev/vda3", Slot: "b",
			Slots:       []api.Slot{{Name: "a", Partition: "/dev/vda2", State: api.SlotRoot, Version: "1.2"}, {Name: "b", Partition: "/dev/vda3", State: api.SlotRunning, Version: "1.3"}},
			Boot:        &api.BootChain{Good: "b"},
			LastUpgrade: &api.Upgrade{From: "1.2", To: "1.3", Slot: "b", At: time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC), Result: api.UpgradeKept}},
			`version       1.3
medium        disk (vda)
root          /dev/vda3 (slot b)
verified      no: booted without berth.verity
good slot     b
slot a        /dev/vda2  holds a root  1.2
slot b        /dev/vda3  running       1.3
last upgrade  1.2 -> 1.3 in slot b, 2026-12-04T19:00:00Z: kept
`},
		{"kernel booted by hand", api.OS{Version: "1.2", Medium: "iso", Disk: "sr0", Root: "/dev/sr0", Slot: "a"},
			`version   1.2
medium    iso (sr0)
root      /dev/sr0 (slot a)
verified  no: booted without berth.verity
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := start(t, &osHost{os: tc.os})
			for _, args := range [][]string{{"os"}, {"os", "status"}} {
				var out, errb bytes.Buffer
				if err := run(context.Background(), append([]string{"--socket", sock}, args...), &out, &errb); err != nil {
					t.Fatal(err)
				}
				if out.String() != tc.want {
					t.Errorf("hostctl %v:\n%s\nwant:\n%s", args, out.String(), tc.want)
				}
			}
		})
	}
}

// hostctl os upgrade streams a file or a URL's body to the host.
func TestOSUpgrade(t *testing.T) {
	sock := start(t, &osHost{})
	file := filepath.Join(t.TempDir(), "x.bundle")
	os.WriteFile(file, []byte("bundle one"), 0o644)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/x.bundle" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("bundle two"))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--image", file}, "read 10 bytes\nbundle one (stage false, tries 3)\n"},
		{[]string{"--image", srv.URL + "/x.bundle", "--stage", "--tries", "1"}, "read 10 bytes\nbundle two (stage true, tries 1)\n"},
		{[]string{"--activate"}, "slot b is tried at the next boot (3 tries)\n"},
		{[]string{"--image", "registry.lan/berth/os:1.3"}, "read 44 bytes\nbundle pulled from registry.lan/berth/os:1.3 (stage false, tries 3)\n"},
	} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), append([]string{"--socket", sock, "os", "upgrade"}, tc.args...), &out, &errb); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if out.String() != tc.want {
			t.Errorf("hostctl os upgrade %v: %q, want %q", tc.args, out.String(), tc.want)
		}
	}
	os.WriteFile(file, []byte("junk"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--image: name the bundle, a file, an http(s) URL or a registry reference, or set berth.upgrade.repository"},
		{[]string{"--version", "1.3"}, "or set berth.upgrade.repository"},
		{[]string{"--image", file, "--version", "1.3"}, "--version: picks a version of berth.upgrade.repository; --image names the bundle itself"},
		{[]string{"--image", file + ".missing"}, "no such file"},
		{[]string{"--image", srv.URL + "/nothing"}, "404 Not Found"},
		{[]string{"--image", file}, "refused, nothing was written: not a Berth upgrade bundle"},
		{[]string{"--activate", "--image", file}, "--activate: takes no --image"},
		{[]string{"--activate", "--version", "1.3"}, "--activate: takes no --image, --version"},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"--socket", sock, "os", "upgrade"}, tc.args...), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("hostctl os upgrade %v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// Without --image, hostctl os upgrade takes the newest version of
// berth.upgrade.repository above the running one, or --version of it.
func TestOSUpgradeFromRepository(t *testing.T) {
	for _, tc := range []struct {
		running string
		args    []string
		want    string
	}{
		{"1.2", nil, "registry.lan/berth/os:1.3 is the newest version above the running 1.2\nread 44 bytes\nbundle pulled from registry.lan/berth/os:1.3 (stage false, tries 3)\n"},
		{"1.2", []string{"--version", "1.2", "--tries", "1"}, "read 44 bytes\nbundle pulled from registry.lan/berth/os:1.2 (stage false, tries 1)\n"},
		{"1.3", []string{"--reboot"}, "registry.lan/berth/os offers no version above the running 1.3 (it has: 1.2, 1.3)\n"},
	} {
		h := &osHost{os: api.OS{Version: tc.running}, repo: "registry.lan/berth/os"}
		sock := start(t, h)
		var out, errb bytes.Buffer
		if err := run(context.Background(), append([]string{"--socket", sock, "os", "upgrade"}, tc.args...), &out, &errb); err != nil {
			t.Fatalf("%s %v: %v", tc.running, tc.args, err)
		}
		if out.String() != tc.want {
			t.Errorf("running %s, hostctl os upgrade %v: %q, want %q", tc.running, tc.args, out.String(), tc.want)
		}
		if len(h.shut) != 0 {
			t.Errorf("running %s, hostctl os upgrade %v rebooted with nothing written", tc.running, tc.args)
		}
	}
	var out, errb bytes.Buffer
	sock := start(t, &osHost{os: api.OS{Version: "2.0-rc1"}, repo: "registry.lan/berth/os"})
	if err := run(context.Background(), []string{"--socket", sock, "os", "upgrade"}, &out, &errb); err == nil || !strings.Contains(err.Error(), `the running version "2.0-rc1" is not a semantic version to compare registry.lan/berth/os's with: name one with --version`) {
		t.Errorf("an upgrade from a version that can't be compared: %v", err)
	}
	sock = start(t, &osHost{os: api.OS{Version: "1.2"}, repo: "registry.lan/x"})
	if err := run(context.Background(), []string{"--socket", sock, "os", "upgrade"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "no repository registry.lan/x") {
		t.Errorf("an upgrade from a repository that is not there: %v", err)
	}
}

func TestNewest(t *testing.T) {
	for _, tc := range []struct {
		tags          []string
		running, want string
	}{
		{[]string{"0.1.0", "0.1.1-next", "0.1.1", "0.2.0-rc1", "latest"}, "0.1.0", "0.2.0-rc1"},
		{[]string{"v1.10.0", "v1.9.0"}, "1.2.0", "v1.10.0"},
		{[]string{"1.0", "1.1"}, "1.1", ""},
		{[]string{"latest", "stable"}, "0.1.0", ""},
		{nil, "0.1.0", ""},
	} {
		if got := newest(tc.tags, tc.running); got != tc.want {
			t.Errorf("newest(%v, %s) = %q, want %q", tc.tags, tc.running, got, tc.want)
		}
	}
}

func TestOSList(t *testing.T) {
	sock := start(t, &osHost{os: api.OS{Version: "1.2"}})
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--socket", sock, "os", "list", "registry.lan/berth/os"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if out.String() != "1.2 (running)\n1.3\n" {
		t.Errorf("hostctl os list: %q", out.String())
	}
	err := run(context.Background(), []string{"--socket", sock, "os", "list", "registry.lan/x"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "no repository registry.lan/x") {
		t.Errorf("hostctl os list of another repository: %v", err)
	}
	err = run(context.Background(), []string{"--socket", sock, "os", "list"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "name a REPOSITORY, or set berth.upgrade.repository") {
		t.Errorf("hostctl os list with no repository: %v", err)
	}
	// berth.upgrade.repository when none is named.
	sock = start(t, &osHost{os: api.OS{Version: "1.3"}, repo: "registry.lan/berth/os"})
	out.Reset()
	if err := run(context.Background(), []string{"--socket", sock, "os", "list"}, &out, &errb); err != nil || out.String() != "1.2\n1.3 (running)\n" {
		t.Errorf("hostctl os list from berth.upgrade.repository: %q, %v", out.String(), err)
	}
}

func TestOSRollback(t *testing.T) {
	sock := start(t, &osHost{})
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--socket", sock, "os", "rollback", "--tries", "1"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if out.String() != "slot b is tried at the next boot (1 tries)\n" {
		t.Errorf("hostctl os rollback: %q", out.String())
	}
	err := run(context.Background(), []string{"--socket", sock, "os", "rollback", "--tries", "7"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "--tries 7: expected 1 to 3") {
		t.Errorf("hostctl os rollback --tries 7: %v", err)
	}
}
