package logging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-os/berth/internal/notify"
	"github.com/berth-os/berth/internal/servicetest"
)

func TestByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantStr string
		wantErr bool // the error names the value and the expected form
	}{
		{in: "1048576", want: 1 << 20, wantStr: "1MiB"},
		{in: "1MiB", want: 1 << 20, wantStr: "1MiB"},
		{in: "1M", want: 1 << 20, wantStr: "1MiB"},
		{in: "512KiB", want: 512 << 10, wantStr: "512KiB"},
		{in: "2G", want: 2 << 30, wantStr: "2GiB"},
		{in: "1000", want: 1000, wantStr: "1000"},
		{in: "100B", want: 100, wantStr: "100"},
		{in: "", wantErr: true},
		{in: "MiB", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "1.5MiB", wantErr: true},
		{in: "1TiB", want: 1 << 40, wantStr: "1024GiB"},
		{in: "64kib", want: 64 << 10, wantStr: "64KiB"},
		{in: "99999999999GiB", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var s byteSize
			err := s.Set(tc.in)
			if tc.wantErr {
				want := fmt.Sprintf("parse size %q: want bytes like 1048576 or 1MiB", tc.in)
				if err == nil || err.Error() != want {
					t.Fatalf("Set(%q) = %d, %v; want error %q", tc.in, s, err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if int64(s) != tc.want || s.String() != tc.wantStr {
				t.Errorf("Set(%q): %d %q, want %d %q", tc.in, s, s.String(), tc.want, tc.wantStr)
			}
		})
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown flag", []string{"-bogus"}, "flag provided but not defined"},
		{"arguments", []string{"extra"}, "unexpected arguments"},
		{"zero max-size", []string{"-max-size", "0"}, "-max-size: 0: not positive"},
		{"bad max-size", []string{"-max-size", "big"}, "parse size"},
		{"negative keep", []string{"-keep", "-1"}, "-keep: -1: negative"},
		{"every problem at once", []string{"-dir", "", "-syslog", "", "-keep", "-2"}, "-dir: empty\n-syslog: empty\n-keep: -2: negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(t.Context(), tc.args, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(t.Context(), []string{"-h"}, &stderr); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"usage: logging", "-ingest", "-syslog", "-kmsg", "-max-size", "(default 1MiB)", "-keep"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestRefusesToReplaceAFile(t *testing.T) {
	dir := t.TempDir()
	notSocket := filepath.Join(dir, "ingest.sock")
	if err := os.WriteFile(notSocket, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	err := run(t.Context(), []string{"-dir", dir, "-ingest", notSocket, "-syslog", filepath.Join(dir, "dev-log"), "-kmsg", ""}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("error %v, want one about a file that is not a socket", err)
	}
	if _, err := os.Stat(notSocket); err != nil {
		t.Errorf("the file was removed: %v", err)
	}
}

// waitFor polls until check returns "", or fails the test with its last
// complaint.
func waitFor(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEndToEnd runs the service as main does, in a temporary directory, and
// drives all three inputs through their real sockets and files.
func TestEndToEnd(t *testing.T) {
	tmp := t.TempDir()
	logDir := filepath.Join(tmp, "log")
	ingestPath := filepath.Join(tmp, "run", "ingest.sock")
	syslogPath := filepath.Join(tmp, "run", "dev-log")
	kmsgPath := filepath.Join(tmp, "kmsg")
	bootIDPath := filepath.Join(tmp, "boot_id")
	kmsg := "6,1,12345678,-;virtio_net virtio0 eth0: link up\n SUBSYSTEM=virtio\n DEVICE=+virtio:virtio0\n" +
		"4,2,13000001,-;EXT4-fs (vda2): mounted filesystem\n"
	for path, data := range map[string]string{kmsgPath: kmsg, bootIDPath: "3b3ac1d3-e5f4-4c2b-9f0e-000000000001\n"} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	ready := servicetest.ListenNotify(t)
	t.Setenv(notify.Env, ready.Path)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &servicetest.Log{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"-dir", logDir, "-ingest", ingestPath, "-syslog", syslogPath,
			"-kmsg", kmsgPath, "-boot-id", bootIDPath, "-max-size", "64KiB", "-keep", "2",
		}, stderr)
	}()

	// Ready comes only once both sockets listen.
	msg, err := ready.Read(30 * time.Second)
	if err != nil {
		t.Fatalf("no readiness notification: %v\nstderr:\n%s", err, stderr.String())
	}
	if got := notify.Parse([]byte(msg)); got["READY"] != "1" {
		t.Fatalf("notification %q, want READY=1", msg)
	}
	for _, p := range []string{ingestPath, syslogPath} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Type() != fs.ModeSocket {
			t.Fatalf("after READY, %s is not a socket: %v", p, err)
		}
	}
	if fi, _ := os.Stat(syslogPath); fi.Mode().Perm() != 0o666 {
		t.Errorf("syslog socket mode %v, want 0666", fi.Mode().Perm())
	}

	// Service output: two services, with a bad line between their records.
	c, err := net.Dial("unix", ingestPath)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	records := `{"svc":"network","ts":1732337700123456789,"stream":"stdout","line":"network: eth0: lease 10.0.2.15"}
this is not json
{"svc":"console","ts":1732337701000001000,"stream":"stderr","line":"getty: ttyS0 ready"}
{"svc":"../evil","ts":1732337701000001000,"stream":"stderr","line":"escape"}
{"svc":"network","ts":1732337702500000000,"stream":"stdout","line":"network: ready"}
`
	if _, err := c.Write([]byte(records)); err != nil {
		t.Fatal(err)
	}

	// Syslog, as glibc sends it.
	sl, err := net.Dial("unixgram", syslogPath)
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	if _, err := sl.Write([]byte("<30>Nov 23 04:55:00 dhcpcd[42]: eth0: leased 10.0.2.15")); err != nil {
		t.Fatal(err)
	}

	wantFiles := map[string]string{
		"network.log": "2024-11-23T04:55:00.123456Z network: eth0: lease 10.0.2.15\n2024-11-23T04:55:02.500000Z network: ready\n",
		"console.log": "2024-11-23T04:55:01.000001Z getty: ttyS0 ready\n",
	}
	host := hostname()
	stampRE := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z`
	wantPatterns := map[string]*regexp.Regexp{
		"messages": regexp.MustCompile(`^` + stampRE + ` ` + regexp.QuoteMeta(host) + ` daemon\.info dhcpcd\[42\]: eth0: leased 10\.0\.2\.15\n$`),
		"kernel": regexp.MustCompile(`^` + stampRE + ` \[   12\.345678\] virtio_net virtio0 eth0: link up\n` +
			stampRE + ` \[   13\.000001\] EXT4-fs \(vda2\): mounted filesystem\n$`),
		".kernel.seq": regexp.MustCompile(`^3b3ac1d3-e5f4-4c2b-9f0e-000000000001 2\n$`),
	}
	waitFor(t, "the log files", func() string {
		got := map[string]string{}
		for name := range wantFiles {
			b, _ := os.ReadFile(filepath.Join(logDir, name))
			got[name] = string(b)
		}
		if diff := cmp.Diff(wantFiles, got); diff != "" {
			return "service logs (-want +got):\n" + diff
		}
		for name, re := range wantPatterns {
			b, _ := os.ReadFile(filepath.Join(logDir, name))
			if !re.Match(b) {
				return name + " = " + string(b) + ", want it to match " + re.String()
			}
		}
		return ""
	})
	entries, err := os.ReadDir(logDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{".kernel.seq", "console.log", "kernel", "messages", "network.log"}, names); diff != "" {
		t.Errorf("files in %s (-want +got):\n%s", logDir, diff)
	}
	// The wall time of a kernel record is boot time + its time since boot:
	// on this machine, in the past and after the boot.
	kernel, _ := os.ReadFile(filepath.Join(logDir, "kernel"))
	at, err := time.Parse(stampLayout, strings.Fields(string(kernel))[0])
	if err != nil {
		t.Fatal(err)
	}
	boot, err := bootTime()
	if err != nil {
		t.Fatal(err)
	}
	if want := boot.Add(12345678 * time.Microsecond); at.Sub(want).Abs() > time.Second {
		t.Errorf("kernel record at %v, want boot (%v) + 12.345678s = %v", at, boot, want)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	for _, p := range []string{ingestPath, syslogPath} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("socket %s left behind: %v", p, err)
		}
	}
	diag := stderr.String()
	for _, want := range []string{"logging: ready", "logging: ingest: skipping malformed records", "logging: stopping"} {
		if !strings.Contains(diag, want) {
			t.Errorf("stderr lacks %q:\n%s", want, diag)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(diag), "\n") {
		if !strings.HasPrefix(line, "logging: ") {
			t.Errorf("stderr line without the logging: prefix: %q", line)
		}
	}
}
