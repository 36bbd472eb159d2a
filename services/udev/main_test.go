package udev

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-os/berth/internal/notify"
	"github.com/berth-os/berth/internal/servicetest"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    config
		wantErr string
	}{
		{name: "defaults", want: config{udevd: "/usr/lib/systemd/systemd-udevd", udevadm: "/usr/bin/udevadm", control: "/run/udev/control", settle: 120 * time.Second}},
		{name: "all set", args: []string{"-udevd", "/d", "-udevadm", "/a", "-control", "/c/s", "-settle", "5s", "-children-max", "3"}, want: config{udevd: "/d", udevadm: "/a", control: "/c/s", settle: 5 * time.Second, children: 3}},
		{name: "bad duration", args: []string{"-settle", "soon"}, wantErr: `invalid value "soon" for flag -settle: parse error`},
		{name: "unknown flag", args: []string{"-bogus"}, wantErr: "flag provided but not defined: -bogus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFlags(tc.args, &bytes.Buffer{})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(config{})); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// The usage says when READY=1 goes out: once coldplug is triggered, not
// once it has settled.
func TestUsage(t *testing.T) {
	var out bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"usage: berth-udev [flags]", "reports READY=1 once\nthey are triggered; logs when they have settled", "-settle duration"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}

func TestColdplugCalls(t *testing.T) {
	var got [][]string
	got = append(got, coldplug...)
	got = append(got, settleArgs(90*time.Second))
	want := [][]string{
		{"trigger", "--type=subsystems", "--action=add"},
		{"trigger", "--type=devices", "--action=add"},
		{"settle", "--timeout=90"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestWaitFor(t *testing.T) {
	dir := t.TempDir()
	t.Run("appears", func(t *testing.T) {
		path := filepath.Join(dir, "control")
		time.AfterFunc(50*time.Millisecond, func() { os.WriteFile(path, nil, 0o644) })
		if err := waitFor(path, 5*time.Second, make(chan error)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("udevd exits", func(t *testing.T) {
		exited := make(chan error, 1)
		exited <- errors.New("exit status 3")
		err := waitFor(filepath.Join(dir, "never"), 5*time.Second, exited)
		if err == nil || err.Error() != "systemd-udevd exited before listening: exit status 3" {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("times out", func(t *testing.T) {
		path := filepath.Join(dir, "never")
		err := waitFor(path, 60*time.Millisecond, make(chan error))
		if err == nil || err.Error() != "systemd-udevd did not create "+path+" in 60ms" {
			t.Fatalf("error %v", err)
		}
	})
}

// fakeTools writes a udevd that makes its control socket and records
// SIGTERM, and a udevadm that records its arguments, one call a line.
func fakeTools(t *testing.T, udevdExit string) (dir, udevd, udevadm string) {
	t.Helper()
	dir = t.TempDir()
	udevd = filepath.Join(dir, "udevd")
	udevadm = filepath.Join(dir, "udevadm")
	scripts := map[string]string{
		udevd: "#!/bin/sh\necho \"$*\" >" + dir + "/udevd.args\n" + udevdExit + "\ntrap 'echo SIGTERM >" + dir + "/udevd.log; exit 0' TERM\n" +
			": >" + dir + "/run/control\n" +
			"while kill -0 $PPID 2>/dev/null; do sleep 0.02; done\n", // gone with the test
		udevadm: "#!/bin/sh\necho \"$*\" >>" + dir + "/udevadm.log\n",
	}
	for p, s := range scripts {
		if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, udevd, udevadm
}

func TestChildrenMax(t *testing.T) {
	for _, tc := range []struct{ n, cpus, want int }{{0, 1, 2}, {0, 2, 4}, {0, 8, 16}, {0, 0, 2}, {5, 1, 5}} {
		if got := childrenMax(tc.n, tc.cpus); got != tc.want {
			t.Errorf("childrenMax(%d, %d) = %d, want %d", tc.n, tc.cpus, got, tc.want)
		}
	}
}

func TestRun(t *testing.T) {
	dir, udevd, udevadm := fakeTools(t, "")
	ready := servicetest.ListenNotify(t)
	t.Setenv(notify.Env, ready.Path)

	ctx, cancel := context.WithCancel(context.Background())
	var log servicetest.Log
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-udevd", udevd, "-udevadm", udevadm, "-control", filepath.Join(dir, "run/control"), "-settle", "7s", "-children-max", "3"}, &log)
	}()
	stopped := false
	t.Cleanup(func() { // stop udevd also when the test fails early
		if !stopped {
			cancel()
			<-done
		}
	})
	if got, err := ready.Read(10 * time.Second); err != nil || got != "READY=1\nSTATUS=coldplug triggered" {
		t.Errorf("notify = %q, %v", got, err)
	}
	// Ready comes after both triggers; settle runs after.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "berth-udev: coldplug settled in ") {
		if time.Now().After(deadline) {
			t.Fatalf("no settle line; log:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if args, _ := os.ReadFile(filepath.Join(dir, "udevd.args")); string(args) != "--children-max=3\n" {
		t.Errorf("udevd's arguments %q, want --children-max=3", args)
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "udevadm.log"))
	want := "trigger --type=subsystems --action=add\ntrigger --type=devices --action=add\nsettle --timeout=7\n"
	if diff := cmp.Diff(want, string(calls)); diff != "" {
		t.Errorf("udevadm calls (-want +got)\n%s", diff)
	}
	cancel()
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "udevd.log")); string(b) != "SIGTERM\n" {
		t.Errorf("udevd log %q, want SIGTERM passed on", b)
	}
}

func TestRunUdevdExitsEarly(t *testing.T) {
	dir, udevd, udevadm := fakeTools(t, "exit 3")
	err := run(context.Background(), []string{"-udevd", udevd, "-udevadm", udevadm, "-control", filepath.Join(dir, "run/control")}, &servicetest.Log{})
	if err == nil || err.Error() != "systemd-udevd exited before listening: exit status 3" {
		t.Fatalf("run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "udevadm.log")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("udevadm ran without udevd: %v", err)
	}
}

func TestRunNoUdevd(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "absent")
	err := run(context.Background(), []string{"-udevd", missing, "-control", filepath.Join(dir, "run/control")}, &servicetest.Log{})
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "start "+missing+": ") {
		t.Fatalf("run: %v", err)
	}
}
