//go:build qemu

package test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/test/registry"
	"github.com/berth-os/berth/test/sched"
)

// testImages are the references the catalogue's consoles use, as the test
// registry serves them: each the bookworm userland, its /etc/os-release
// marked with the reference.
var testImages = []string{"docker.io/library/debian:bookworm", "docker.io/library/ubuntu:24.04"}

// checkUserland reads the test userland's layer: merged /usr (bin, sbin,
// lib and lib64 link into /usr, as in debian:bookworm) without libperl and
// perl's modules, which only usrmerge pulled in (perl-base, which is
// Essential, stays), and with bash and apt, which tests and users run.
func checkUserland(t *testing.T) {
	t.Helper()
	u, err := registry.Bookworm.Build(sched.Ctx(t), assetCache, moduleRoot, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	tr := openTarGz(t, u.Layer)
	links, files := map[string]string{}, map[string]bool{}
	var size int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", u.Layer, err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag == tar.TypeSymlink {
			links[name] = h.Linkname
		}
		files[name] = true
		size += h.Size
	}
	for _, d := range []string{"bin", "sbin", "lib", "lib64"} {
		if links[d] != "usr/"+d {
			t.Errorf("test userland: /%s links to %q, want usr/%s (merged /usr)", d, links[d], d)
		}
	}
	for _, want := range []string{"usr/bin/bash", "usr/bin/apt", "var/lib/dpkg/info/usr-is-merged.list"} {
		if !files[want] {
			t.Errorf("test userland: no /%s", want)
		}
	}
	for _, unwanted := range []string{"usr/lib/x86_64-linux-gnu/libperl.so.5.36", "var/lib/dpkg/info/usrmerge.list"} {
		if files[unwanted] {
			t.Errorf("test userland: has /%s, want no usrmerge nor its perl (perl-base is essential)", unwanted)
		}
	}
	t.Logf("test userland: %.1f MB unpacked, %d entries", float64(size)/1e6, len(files))
}

// openTarGz opens the gzipped tar at path for the rest of the test.
func openTarGz(t *testing.T, path string) *tar.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return tar.NewReader(zr)
}

// testRegistry builds the userland (cached by its pins: TestAssets made
// it), starts the registry and pushes testImages to it; it returns the
// registry and each image's digest.
func testRegistry(t *testing.T) (*registry.Server, map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(sched.Ctx(t), 20*time.Minute)
	defer cancel()
	start := time.Now()
	u, err := registry.Bookworm.Build(ctx, assetCache, moduleRoot, t.Logf)
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
	// Small images as docker save tarballs, for hostctl image import and
	// the preload folder (gzipped).
	for _, f := range []struct{ ref, file string }{{importedRef, "import.tar"}, {preloadedRef, "preload.tar.gz"}} {
		b := smallTarball(t, f.ref)
		if strings.HasSuffix(f.file, ".gz") {
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			zw.Write(b)
			zw.Close()
			b = gz.Bytes()
		}
		srv.Serve(f.file, b)
	}
	return srv, digests
}

// smallTarball is a docker save tarball of a one-file image named ref.
func smallTarball(t *testing.T, ref string) []byte {
	t.Helper()
	l, err := registry.FileLayer(map[string][]byte{"etc/which": []byte(ref + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	img, err := registry.NewImage(ref, l)
	if err != nil {
		t.Fatal(err)
	}
	b, err := registry.Tarball(ref, img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The images of the tarballs the test registry serves as files, and of
// the one on a volume that cloud-config's mounts puts in the preload folder.
const (
	importedRef  = "docker.io/library/imported:1"
	preloadedRef = "docker.io/library/preloaded:1"
	volumeRef    = "docker.io/library/fromvolume:1"
)

// markedSnapshots prints the test images' marks found in the unpacked
// snapshots' /etc/os-release, in the system containerd's store (hostctl
// image pulls for services).
const markedSnapshots = "cat " + layout.SystemContainerdRoot + "/io.containerd.snapshotter.v1.overlayfs/snapshots/*/fs/etc/os-release 2>/dev/null | grep " + registry.MarkKey

// imagePull: with docker.io mirrored to the test registry, hostctl image
// pull fetches an image through the mirror and unpacks it; a tag the
// registry lacks fails with a clear message and changes nothing; hostctl
// image import loads a docker save tarball; after a reboot without a NIC
// the images are still there, and a tarball left in the preload folder is
// imported.
func imagePull(t *testing.T) {
	srv, digests := testRegistry(t)
	m := fork(t, nil)
	m.mirrorDockerIO(srv.GuestURL())
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
	// The fall-back to docker.io itself, after the mirror's 404, asked
	// for a name outside: the suite's DNS server refuses it, through
	// QEMU's user network, rather than letting the guest's resolver time
	// out (make qemu-test, -berth.refuse-dns).
	m.check("NamesOutsideRefused", func(m *machine) {
		if out, code := m.shCode("nslookup registry-1.docker.io 2>&1"); code == 0 || !strings.Contains(out, "REFUSED") {
			m.t.Errorf("nslookup registry-1.docker.io: exit %d, want a failure that says REFUSED\n%s", code, out)
		}
	})

	m.check("Import", func(m *machine) {
		m.sh("wget -q -O /tmp/import.tar " + srv.GuestURL() + "/files/import.tar")
		out, code := m.shCode("hostctl image import /tmp/import.tar 2>&1")
		if code != 0 || !strings.Contains(out, "imported "+importedRef+" sha256:") {
			m.t.Errorf("hostctl image import: exit %d\n%s\nwant imported %s", code, out, importedRef)
		}
		if out := m.sh("hostctl image list"); !strings.Contains(out, importedRef) {
			m.t.Errorf("hostctl image list lacks the imported %s:\n%s", importedRef, out)
		}
		out, code = m.shCode("hostctl image import /etc/hostname 2>&1")
		want := "hostctl: import /etc/hostname: import: "
		if code != 3 || !strings.Contains(out, want) || !strings.Contains(out, "(expected an OCI image layout or docker save tarball)") {
			m.t.Errorf("import of a file that is no tarball: exit %d\n%s\nwant exit 3 and %q ... (expected an OCI image layout or docker save tarball)", code, out, want)
		}
	})
	// For the next boot: a gzipped tarball in the preload folder, and a
	// read-only FAT volume with another, which mounts puts in a folder of
	// it, as a USB stick of images would be.
	m.sh("mkdir -p /var/lib/berth/preload && wget -q -O /var/lib/berth/preload/preload.tar.gz " + srv.GuestURL() + "/files/preload.tar.gz")
	m.sh("hostctl config set mounts '[[LABEL=PRELOADS, /var/lib/berth/preload/stick, vfat, ro]]'")
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "images.tar"), smallTarball(t, volumeRef), 0o644); err != nil {
		t.Fatal(err)
	}

	// A reboot with no NIC: the images are on the state partition.
	m.Send("hostctl poweroff\n")
	if err := m.Wait(3 * time.Minute); err != nil {
		t.Fatalf("hostctl poweroff: %v", err)
	}
	served := len(srv.Requests())
	cfg := m.cfg // the fork's devices and disk, booted afresh
	cfg.Incoming, cfg.QMP, cfg.Net = "", "", false
	cfg.Extra = append(append([]string(nil), cfg.Extra...), "-drive", "file="+vfatOf(t, vol, "PRELOADS")+",format=raw,if=virtio,readonly=on")
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
		if !strings.Contains(out, importedRef) {
			m.t.Errorf("after a reboot, hostctl image list lacks the imported %s:\n%s", importedRef, out)
		}
		if !strings.Contains(out, preloadedRef) {
			m.t.Errorf("after a reboot, hostctl image list lacks %s from the preload folder:\n%s", preloadedRef, out)
		}
		if !strings.Contains(out, volumeRef) {
			m.t.Errorf("after a reboot, hostctl image list lacks %s from the volume mounted in the preload folder:\n%s", volumeRef, out)
		}
		if out, code := m.shCode("ls -A /var/lib/berth/preload/.imported/preload.tar.gz /var/lib/berth/preload/.imported/stick/images.tar 2>&1"); code != 0 {
			m.t.Errorf("the preload folder records no import of both tarballs (exit %d):\n%s", code, out)
		}
		if n := len(srv.Requests()); n != served {
			m.t.Errorf("the registry got %d requests during the offline boot", n-served)
		}
	})
}
