//go:build qemu

package test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/test/registry"
)

// testImages are the references the catalogue's consoles use, as the test
// registry serves them: each the bookworm userland, its /etc/os-release
// marked with the reference.
var testImages = []string{"docker.io/library/debian:bookworm", "docker.io/library/ubuntu:24.04"}

// testRegistry builds the userland (cached by its resolved package set),
// starts the registry and pushes testImages to it; it returns the
// registry and each image's digest.
func testRegistry(t *testing.T) (*registry.Server, map[string]string) {
	t.Helper()
	c, err := cache.Open(cache.DefaultRoot())
	if err != nil {
		t.Fatal(err)
	}
	c = c.Session()
	t.Cleanup(c.Release)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	u, err := registry.Bookworm.Build(ctx, c, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("test userland: %s in %.1fs (cached: %v)", u.Layer, time.Since(start).Seconds(), u.Hit)
	srv, err := registry.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	digests := map[string]string{}
	for _, ref := range testImages {
		img, err := u.Image(ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Push(ref, img); err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests[ref] = d.String()
		if m, err := img.Manifest(); err == nil {
			var size int64
			for _, l := range m.Layers {
				size += l.Size
			}
			t.Logf("test image %s: %s, layers %.1f MB", ref, d, float64(size)/1e6)
		}
	}
	t.Logf("test registry on %s (guest: %s), images pushed %.1fs after the start", srv.Addr, srv.GuestURL(), time.Since(start).Seconds())
	return srv, digests
}

// markedSnapshots prints the test images' marks found in the unpacked
// snapshots' /etc/os-release.
const markedSnapshots = "cat /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/*/fs/etc/os-release 2>/dev/null | grep " + registry.MarkKey

// imagePull: with docker.io mirrored to the test registry, hostctl image
// pull fetches an image through the mirror and unpacks it; a tag the
// registry lacks fails with a clear message and changes nothing; after a
// reboot without a NIC the images are still there.
func imagePull(t *testing.T) {
	srv, digests := testRegistry(t)
	cfg := directBoot(t, "berth.autologin")
	// Room on the state partition for the unpacked userland.
	if err := runCmd("qemu-img", "resize", "-q", cfg.Disks[0].Path, "+1G"); err != nil {
		t.Fatal(err)
	}
	cfg.FwCfg["opt/berth/user-data"] = fmt.Sprintf("#cloud-config\nberth:\n  registry_mirrors:\n    docker.io: [%q]\n", srv.GuestURL())
	m := boot(t, cfg)
	const debian = "docker.io/library/debian:bookworm"

	m.check("HostsToml", func(m *machine) {
		out := m.sh("cat /etc/containerd/certs.d/docker.io/hosts.toml")
		if !strings.Contains(out, `[host."`+srv.GuestURL()+`"]`) {
			m.t.Errorf("/etc/containerd/certs.d/docker.io/hosts.toml lacks the mirror %s:\n%s", srv.GuestURL(), out)
		}
	})
	if !m.check("PullThroughMirror", func(m *machine) {
		out, code, err := m.Run("hostctl image pull debian:bookworm 2>&1", 10*time.Minute)
		if err != nil || code != 0 {
			m.t.Fatalf("hostctl image pull debian:bookworm: exit %d, %v\n%s", code, err, out)
		}
		m.t.Logf("pull:\n%s", out)
		if want := "pulled " + debian + " " + digests[debian]; !strings.Contains(out, want) {
			m.t.Errorf("pull output lacks %q:\n%s", want, out)
		}
		if !srv.Served("library/debian") {
			m.t.Errorf("the test registry's access log shows no debian manifest served: %q", srv.Requests())
		}
		// Unpacked into the overlayfs snapshotter: the image's own
		// os-release, marked with its reference.
		out, _ = m.shCode(markedSnapshots)
		if !strings.Contains(out, registry.MarkKey+"="+debian) {
			m.t.Errorf("no unpacked snapshot holds the image's os-release (%s=%s):\n%s", registry.MarkKey, debian, out)
		}
	}) {
		return
	}
	m.check("PullAnotherTag", func(m *machine) {
		out, code, err := m.Run("hostctl image pull ubuntu:24.04 2>&1", 10*time.Minute)
		if err != nil || code != 0 {
			m.t.Fatalf("hostctl image pull ubuntu:24.04: exit %d, %v\n%s", code, err, out)
		}
		out, _ = m.shCode(markedSnapshots)
		if !strings.Contains(out, registry.MarkKey+"=docker.io/library/ubuntu:24.04") {
			m.t.Errorf("no unpacked snapshot holds ubuntu:24.04's os-release:\n%s", out)
		}
	})
	listRe := func(ref string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(ref) + `\s+` + strings.TrimPrefix(digests[ref], "sha256:")[:12] + `\s`)
	}
	var before string
	m.check("List", func(m *machine) {
		before = m.sh("hostctl image list")
		for _, ref := range testImages {
			if !listRe(ref).MatchString(before) {
				m.t.Errorf("hostctl image list lacks %s %.19s:\n%s", ref, digests[ref], before)
			}
		}
		if out := m.sh("hostctl image list -o json"); !strings.Contains(out, `"digest": "`+digests[debian]+`"`) {
			m.t.Errorf("hostctl image list -o json lacks %s:\n%s", digests[debian], out)
		}
	})
	m.check("MissingTag", func(m *machine) {
		out, code := m.shCode("hostctl image pull debian:no-such-tag 2>&1")
		want := "hostctl: pull docker.io/library/debian:no-such-tag: no such image in its registry or the registry's mirrors"
		if code != 4 || !strings.Contains(out, want) {
			m.t.Errorf("pull of a missing tag: exit %d\n%s\nwant exit 4 (not found) and %q", code, out, want)
		}
		if after := m.sh("hostctl image list"); after != before {
			m.t.Errorf("a failed pull changed the image list:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	// A reboot with no NIC: the images are on the state partition.
	m.Send("hostctl poweroff\n")
	if err := m.Wait(3 * time.Minute); err != nil {
		t.Fatalf("hostctl poweroff: %v", err)
	}
	served := len(srv.Requests())
	cfg.Net = false
	m = boot(t, cfg)
	m.check("OfflineAfterReboot", func(m *machine) {
		if out := m.sh("ip -o link show"); strings.Contains(out, "eth0") {
			m.t.Errorf("the second boot has a NIC:\n%s", out)
		}
		out := m.sh("hostctl image list")
		for _, ref := range testImages {
			if !listRe(ref).MatchString(out) {
				m.t.Errorf("after a reboot without network, hostctl image list lacks %s:\n%s", ref, out)
			}
		}
		if n := len(srv.Requests()); n != served {
			m.t.Errorf("the registry got %d requests during the offline boot", n-served)
		}
	})
}
