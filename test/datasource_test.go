//go:build qemu

package test

import (
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// dsUserData is the user-data every datasource test hands over; the
// hostname comes from the meta-data where the source has meta-data.
func dsUserData(ds, hostname, pub string) string {
	s := "#cloud-config\n"
	if hostname != "" {
		s += "hostname: " + hostname + "\n"
	}
	return s + fmt.Sprintf(`ssh_authorized_keys: [%q]
write_files:
  - {path: /var/lib/cc/ds, content: "%s\n", permissions: "0600"}
runcmd:
  - echo %s >> /var/lib/cc/runcmd
`, pub, ds, ds)
}

// checkDatasource checks what dsUserData asks for, and that hostctl config
// status names the source as used.
func (m *machine) checkDatasource(ds, hostname, pub string) {
	m.t.Helper()
	if got := strings.TrimSpace(m.sh("hostname")); got != hostname {
		m.t.Errorf("hostname %q, want %q", got, hostname)
	}
	if out := m.sh("stat -c %a /var/lib/cc/ds; cat /var/lib/cc/ds"); out != "600\n"+ds+"\n" {
		m.t.Errorf("write_files: %q", out)
	}
	if out := m.sh("cat /root/.ssh/authorized_keys"); !strings.Contains(out, pub) {
		m.t.Errorf("authorized_keys lacks the key:\n%s", out)
	}
	m.eventually("cat /var/lib/cc/runcmd", regexp.MustCompile(`^`+ds+`\n$`), 2*time.Minute)
	out, _ := m.shCode("hostctl config status")
	if !regexp.MustCompile(`datasource\s+` + regexp.QuoteMeta(ds) + `\s+used`).MatchString(out) {
		m.t.Errorf("hostctl config status does not show %s used:\n%s", ds, out)
	}
}

// seedDir writes files into a fresh folder.
func seedDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// isoOf makes an ISO 9660 image (Rock Ridge and Joliet, as genisoimage
// does for cloud-init seeds) of a folder, with a volume label.
func isoOf(t *testing.T, dir, label string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), label+".iso")
	if err := runCmd("xorriso", "-as", "mkisofs", "-quiet", "-o", p, "-V", label, "-J", "-r", dir); err != nil {
		t.Fatal(err)
	}
	return p
}

// vfatOf makes a FAT image holding the files of a folder, with a label.
func vfatOf(t *testing.T, dir, label string) string {
	t.Helper()
	return vfatSized(t, dir, label, 2048)
}

// vfatSized is vfatOf with a filesystem of kib KiB.
func vfatSized(t *testing.T, dir, label string, kib int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), label+".img")
	if err := runCmd("mkfs.fat", "-C", "-n", label, p, strconv.Itoa(kib)); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if err := runCmd("mcopy", "-i", p, filepath.Join(dir, e.Name()), "::"); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// serve serves files over HTTP on 127.0.0.1, which the VM reaches as
// 10.0.2.2 through QEMU's user network; it returns the port and a log of
// the paths asked for.
func serve(t *testing.T, files map[string]string) (int, func() []string) {
	t.Helper()
	return serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(data))
	})
}

// serveHTTP serves h on 127.0.0.1 (10.0.2.2 to the guest) and returns the
// port and the paths asked for, in order.
func serveHTTP(t *testing.T, h http.HandlerFunc) (int, func() []string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var asked []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		h(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), asked...)
	}
}

func datasourceNoCloudISO(t *testing.T) {
	_, pub := sshKey(t)
	// runcmd output goes to the log service; a failing command is
	// reported and boot goes on.
	seed := seedDir(t, map[string]string{
		"user-data": dsUserData("nocloud", "", pub) + "  - echo runcmd-output-marker\n  - exit 3\n",
		"meta-data": "instance-id: iid-nocloud-iso\nlocal-hostname: cc-nocloud-iso\n",
	})
	cfg := directBoot(t, "berth.autologin")
	cfg.Extra = append(cfg.Extra, "-drive", "file="+isoOf(t, seed, "cidata")+",media=cdrom,readonly=on,if=ide")
	m := boot(t, cfg)
	m.checkDatasource("nocloud", "cc-nocloud-iso", pub)
	m.eventually("hostctl logs cloud-config", regexp.MustCompile(`runcmd-output-marker`), time.Minute)
	out := m.eventually("hostctl config status; echo exit=$?", regexp.MustCompile(`runcmd\[2\]`), time.Minute)
	if !strings.Contains(out, "exit status 3") || !strings.Contains(out, "exit=1") {
		t.Errorf("hostctl config status after a failing runcmd:\n%s", out)
	}
}

func datasourceNoCloudVFAT(t *testing.T) {
	_, pub := sshKey(t)
	// network-config (netplan, version 2) gives the second NIC, matched by
	// its MAC address, a static address.
	seed := seedDir(t, map[string]string{
		"user-data":      dsUserData("nocloud", "", pub),
		"meta-data":      "instance-id: iid-nocloud-vfat\nlocal-hostname: cc-nocloud-vfat\n",
		"network-config": "version: 2\nethernets:\n  lan:\n    match: {macaddress: \"52:54:00:be:00:11\"}\n    addresses: [192.168.77.9/24]\n    nameservers: {addresses: [192.168.77.3]}\n",
	})
	cfg := directBoot(t, "berth.autologin")
	cfg.Extra = append(cfg.Extra, "-drive", "file="+vfatOf(t, seed, "CIDATA")+",format=raw,if=virtio,readonly=on")
	cfg.Extra = append(cfg.Extra, extraNIC("n1", "52:54:00:be:00:11", "192.168.77.0/24")...)
	m := boot(t, cfg)
	m.checkDatasource("nocloud", "cc-nocloud-vfat", pub)
	m.eventually("ip -o -4 addr", regexp.MustCompile(`inet 192\.168\.77\.9/24`), time.Minute)
	if out := m.sh("cat /etc/resolv.conf"); !strings.Contains(out, "nameserver 192.168.77.3") {
		t.Errorf("resolv.conf:\n%s", out)
	}
}

func datasourceConfigDrive(t *testing.T) {
	_, pub := sshKey(t)
	// MIME multipart user-data: the cloud-config and a script, run once
	// after ready.
	seed := seedDir(t, map[string]string{
		"openstack/latest/user_data": multipartUserData(t, dsUserData("configdrive", "", pub),
			"#!/bin/sh\necho script ran as $(id -un) > /var/lib/cc/script\n"),
		"openstack/latest/meta_data.json": `{"uuid": "5e1f7a3c-0b9d-4b8e-9a54-0d5c1f7e2a11", "hostname": "cc-config2.novalocal", "name": "cc-config2"}`,
	})
	cfg := directBoot(t, "berth.autologin")
	cfg.Extra = append(cfg.Extra, "-drive", "file="+isoOf(t, seed, "config-2")+",media=cdrom,readonly=on,if=ide")
	m := boot(t, cfg)
	m.checkDatasource("configdrive", "cc-config2", pub)
	m.eventually("cat /var/lib/cc/script", regexp.MustCompile(`^script ran as root\n$`), time.Minute)
}

// multipartUserData is user-data as cloud-init's make-mime writes it.
func multipartUserData(t *testing.T, cloudConfig, script string) string {
	var b strings.Builder
	w := multipart.NewWriter(&b)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"" + w.Boundary() + "\"\nMIME-Version: 1.0\n\n")
	for _, p := range []struct{ typ, name, body string }{
		{"text/cloud-config", "config.yaml", cloudConfig},
		{"text/x-shellscript", "setup.sh", script},
	} {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", p.typ+`; charset="us-ascii"`)
		h.Set("Content-Disposition", `attachment; filename="`+p.name+`"`)
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write([]byte(p.body))
	}
	w.Close()
	return b.String()
}

// berth.cloud_config_url= on the kernel command line: user-data over HTTP
// once the network is up.
func datasourceCmdlineURL(t *testing.T) {
	_, pub := sshKey(t)
	// gzip-compressed, as clouds that limit user-data size get it.
	var gz strings.Builder
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(dsUserData("url", "cc-url", pub)))
	zw.Close()
	port, asked := serve(t, map[string]string{"/cc/user-data": gz.String()})
	// Pinned by its sha256 in the URL's fragment: plain http is then safe,
	// and nothing warns.
	sum := sha256.Sum256([]byte(gz.String()))
	m := boot(t, directBoot(t, fmt.Sprintf("berth.autologin berth.cloud_config_url=http://10.0.2.2:%d/cc/user-data#sha256=%x", port, sum)))
	m.checkDatasource("url", "cc-url", pub)
	if got := asked(); len(got) == 0 || got[0] != "/cc/user-data" {
		t.Errorf("the server was asked for %q", got)
	}
	if out, _ := m.shCode("hostctl config status"); strings.Contains(out, "plain http") {
		t.Errorf("a pinned URL is warned about:\n%s", out)
	}
}

// ds=nocloud;s=URL: a NoCloud seed over HTTP, user-data and meta-data.
func datasourceNoCloudNet(t *testing.T) {
	_, pub := sshKey(t)
	port, asked := serve(t, map[string]string{
		"/seed/user-data": dsUserData("nocloud-net", "", pub),
		"/seed/meta-data": "instance-id: iid-nocloud-net\nlocal-hostname: cc-nocloud-net\n",
	})
	m := boot(t, directBoot(t, fmt.Sprintf("berth.autologin ds=nocloud;s=http://10.0.2.2:%d/seed/", port)))
	m.checkDatasource("nocloud-net", "cc-nocloud-net", pub)
	if got := strings.Join(asked(), " "); !strings.Contains(got, "/seed/user-data") || !strings.Contains(got, "/seed/meta-data") {
		t.Errorf("the server was asked for %q", got)
	}
	// Unpinned over plain http: named in the status (and on the consoles).
	if out, _ := m.shCode("hostctl config status"); !strings.Contains(out, "plain http and no sha256 pin") {
		t.Errorf("hostctl config status does not warn of the unpinned plain-http seed:\n%s", out)
	}
}

// User-data kept on the state partition is read at the next boot. A fork
// of the saved ready machine, rebooted.
func datasourceStateFile(t *testing.T) {
	_, pub := sshKey(t)
	m := fork(t, nil)
	ud := dsUserData("state", "cc-state", pub)
	m.sh(fmt.Sprintf("mkdir -p /var/lib/berth/config && printf '%%s' '%s' > /var/lib/berth/config/user-data", ud))
	m.Send("hostctl reboot\n")
	m.waitReady()
	m.checkDatasource("state", "cc-state", pub)
}

// berth.state.* on the kernel command line: another device for the state
// partition, not formatted while autoformat is false.
func stateDevFromCmdline(t *testing.T) {
	cfg := directBoot(t, "berth.autologin berth.state.dev=/dev/vdb berth.state.autoformat=false")
	extra := filepath.Join(t.TempDir(), "extra.raw")
	if err := os.WriteFile(extra, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(extra, 256<<20); err != nil {
		t.Fatal(err)
	}
	cfg.Extra = append(cfg.Extra, "-drive", "file="+extra+",format=raw,if=virtio")
	m := boot(t, cfg)
	if !strings.Contains(m.Output(), "/dev/vdb is blank and berth.state.autoformat=false: not formatting it") {
		t.Error("no word on the console of the blank device left alone")
	}
	if out := m.sh("grep ' /var ' /proc/mounts"); !strings.HasPrefix(out, "tmpfs /var tmpfs") {
		t.Errorf("/var: %q, want a tmpfs", out)
	}
	m.poweroffExitsZero()

	cfg.FwCfg["opt/berth/cmdline"] = "berth.autologin berth.state.dev=/dev/vdb"
	m = boot(t, cfg)
	if out := m.sh("grep ' /var ' /proc/mounts"); !strings.HasPrefix(out, "/dev/vdb /var ext4") {
		t.Errorf("/var: %q, want /dev/vdb", out)
	}
	if out := m.sh("grep -c vda4 /proc/mounts || true"); strings.TrimSpace(out) != "0" {
		t.Errorf("BERTH_STATE mounted too: %q", out)
	}
}
