package console

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var known = []string{"console-alpine", "console-debian", "console-ubuntu"}

func TestResolve(t *testing.T) {
	for _, tc := range []struct{ name, in, want, err string }{
		{"empty is the built-in", "", "console", ""},
		{"default", "default", "console", ""},
		{"the built-in's service", "console", "console", ""},
		{"short form", "ubuntu", "console-ubuntu", ""},
		{"catalogue entry", "console-debian", "console-debian", ""},
		{"unknown short", "fedora", "", `no console "fedora" (known: default, alpine, debian, ubuntu)`},
		{"unknown entry", "console-fedora", "", `no console "console-fedora" (known: default, alpine, debian, ubuntu)`},
		{"not a console", "docker", "", `no console "docker"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.in, append(known, "docker"))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Resolve(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Resolve(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestShort(t *testing.T) {
	for in, want := range map[string]string{"console": "default", "console-ubuntu": "ubuntu"} {
		if got := Short(in); got != want {
			t.Errorf("Short(%q) = %q, want %q", in, got, want)
		}
	}
	if IsConsole("docker") || IsConsole("console-") || !IsConsole("console") || !IsConsole("console-alpine") {
		t.Error("IsConsole: docker and console- are none; console and console-alpine are")
	}
}

func TestChoose(t *testing.T) {
	noImage := errors.New("image docker.io/library/ubuntu:24.04 is not in the local store")
	for _, tc := range []struct {
		name, in string
		check    error
		want     Choice
	}{
		{"default", "", nil, Choice{Wanted: "console", Service: "console"}},
		{"distribution console in the store", "ubuntu", nil, Choice{Wanted: "console-ubuntu", Service: "console-ubuntu"}},
		{"no image: the default runs, and says why", "ubuntu", noImage, Choice{Wanted: "console-ubuntu", Service: "console",
			Reason: "console ubuntu cannot start: image docker.io/library/ubuntu:24.04 is not in the local store; the default console runs instead"}},
		{"unknown name", "fedora", nil, Choice{Wanted: "fedora", Service: "console",
			Reason: `berth.console: no console "fedora" (known: default, alpine, debian, ubuntu); the default console runs instead`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var checked []string
			got := Choose(tc.in, known, func(s string) error { checked = append(checked, s); return tc.check })
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("Choose (-want +got):\n%s", d)
			}
			if tc.want.Wanted == "console-ubuntu" && !cmp.Equal(checked, []string{"console-ubuntu"}) {
				t.Errorf("checked %q, want console-ubuntu", checked)
			}
		})
	}
}

func TestMergeUsers(t *testing.T) {
	distro := "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\nubuntu:x:1000:1000:Ubuntu:/home/ubuntu:/bin/bash\n"
	host := "# rendered by berth\nroot:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nrancher:x:1100:1100::/home/rancher:/bin/sh\n"
	want := "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\nubuntu:x:1000:1000:Ubuntu:/home/ubuntu:/bin/bash\n" +
		"root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nrancher:x:1100:1100::/home/rancher:/bin/sh\n"
	if d := cmp.Diff(want, string(MergeUsers([]byte(distro), []byte(host)))); d != "" {
		t.Errorf("MergeUsers (-want +got):\n%s", d)
	}
	// A shadow file: the host's password for root wins, the
	// distribution's locked system accounts stay.
	got := string(MergeUsers([]byte("root:*:19000:0:99999:7:::\n_apt:*:19000:0:99999:7:::\n"), []byte("root:$6$x$y:1::::::\n")))
	if want := "_apt:*:19000:0:99999:7:::\nroot:$6$x$y:1::::::\n"; got != want {
		t.Errorf("MergeUsers(shadow) = %q, want %q", got, want)
	}
}

// fakeRuntime records the calls and fails those it is told to.
type fakeRuntime struct {
	calls   []string
	running map[string]bool
	active  string
	fail    map[string]error // "prepare console-ubuntu" -> error
}

func (f *fakeRuntime) do(call, svc string) error {
	f.calls = append(f.calls, call+" "+svc)
	return f.fail[call+" "+svc]
}

func (f *fakeRuntime) Prepare(_ context.Context, s string) error {
	if err := f.do("prepare", s); err != nil {
		return err
	}
	f.running[s] = true
	return nil
}

func (f *fakeRuntime) Activate(_ context.Context, s string) error {
	if err := f.do("activate", s); err != nil {
		return err
	}
	f.active = s
	return nil
}

func (f *fakeRuntime) Stop(_ context.Context, s string) error {
	if err := f.do("stop", s); err != nil {
		return err
	}
	delete(f.running, s)
	if f.active == s {
		f.active = ""
	}
	return nil
}

func TestSwitch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    map[string]error
		calls   []string
		active  string
		running []string
		err     string
	}{
		{name: "new ready: old stopped, new serves",
			calls:  []string{"prepare console-ubuntu", "stop console", "activate console-ubuntu"},
			active: "console-ubuntu", running: []string{"console-ubuntu"}},
		{name: "new fails to start: old stays",
			fail:   map[string]error{"prepare console-ubuntu": errors.New("not ready in 30s")},
			calls:  []string{"prepare console-ubuntu", "stop console-ubuntu"},
			active: "console", running: []string{"console"},
			err: "console switch failed: console ubuntu did not start: not ready in 30s; default stays the console"},
		{name: "new fails to take over: old comes back",
			fail:   map[string]error{"activate console-ubuntu": errors.New("sshd not listening")},
			calls:  []string{"prepare console-ubuntu", "stop console", "activate console-ubuntu", "stop console-ubuntu", "prepare console", "activate console"},
			active: "console", running: []string{"console"},
			err: "console switch failed: console ubuntu did not take over: sshd not listening; default is back"},
		{name: "old will not stop: new stopped, old serves",
			fail:   map[string]error{"stop console": errors.New("timeout")},
			calls:  []string{"prepare console-ubuntu", "stop console", "stop console-ubuntu", "prepare console", "activate console"},
			active: "console", running: []string{"console"},
			err: "console switch failed: stop console default: timeout; it stays the console"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &fakeRuntime{running: map[string]bool{"console": true}, active: "console", fail: tc.fail}
			err := Switch(context.Background(), rt, "console", "console-ubuntu")
			if tc.err == "" && err != nil {
				t.Fatalf("Switch: %v", err)
			}
			if tc.err != "" && (err == nil || err.Error() != tc.err || !errors.Is(err, ErrSwitch)) {
				t.Fatalf("Switch error = %v, want %q", err, tc.err)
			}
			if d := cmp.Diff(tc.calls, rt.calls); d != "" {
				t.Errorf("calls (-want +got):\n%s", d)
			}
			if rt.active != tc.active {
				t.Errorf("active console %q, want %q", rt.active, tc.active)
			}
			var running []string
			for s := range rt.running {
				running = append(running, s)
			}
			if d := cmp.Diff(tc.running, running); d != "" {
				t.Errorf("running (-want +got):\n%s", d)
			}
		})
	}
}

func TestSwitchToItself(t *testing.T) {
	rt := &fakeRuntime{running: map[string]bool{"console": true}, active: "console"}
	if err := Switch(context.Background(), rt, "console", "console"); err != nil || len(rt.calls) != 0 {
		t.Fatalf("Switch to the running console: %v, calls %q; want nothing done", err, rt.calls)
	}
}
