package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/services"
	"github.com/google/go-cmp/cmp"
)

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string // the program's arguments; nil for an error
		err  string
	}{
		{"a link", []string{"/usr/bin/berth-network", "-config", "x"}, []string{"/usr/bin/berth-network", "-config", "x"}, ""},
		{"a bare name", []string{"hostctl", "version"}, []string{"hostctl", "version"}, ""},
		{"itself, then a name", []string{"/usr/bin/berthbox", "reboot", "-f"}, []string{"reboot", "-f"}, ""},
		{"itself alone", []string{"berthbox"}, nil, "no name to run as"},
		{"no arguments", nil, nil, "no name to run as"},
		{"an unknown name", []string{"/usr/bin/berth-nope"}, nil, `no program "berth-nope"`},
		{"itself, then an unknown name", []string{"berthbox", "ls"}, nil, `no program "ls"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, m, err := choose(tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				// The error lists what berthbox runs as.
				if !strings.Contains(err.Error(), "berth-udev halt hostctl poweroff") {
					t.Errorf("err %v: no list of names", err)
				}
				return
			}
			if err != nil || m == nil {
				t.Fatalf("choose %q: %v", tc.args, err)
			}
			if diff := cmp.Diff(tc.want, args); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
		})
	}
}

// Every path a service installs berthbox at is a name berthbox runs as,
// and every name it runs as is installed somewhere: a service whose
// program berthbox did not know would exit at its first start.
func TestServicesRunAsItsNames(t *testing.T) {
	dir := filepath.Join("..", "..", "services")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	installed := map[string]bool{}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "service.yaml")); err != nil {
			continue
		}
		d, err := services.Load(dir, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if d.XBerth.Rootfs == nil {
			continue
		}
		for dst, pkg := range d.XBerth.Rootfs.Go {
			if pkg != "./cmd/berthbox" {
				continue
			}
			name := filepath.Base(dst)
			installed[name] = true
			if programs[name] == nil {
				t.Errorf("service %s installs berthbox at %s: berthbox does not run as %s", d.Name, dst, name)
			}
		}
	}
	for name := range programs {
		if !installed[name] {
			t.Errorf("berthbox runs as %s, which no service installs", name)
		}
	}
}
