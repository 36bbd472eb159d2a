package cmdline

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	got := Parse(`BOOT_IMAGE=/boot/vmlinuz console=tty0 console=ttyS0,115200 berth.autologin quiet msg="a b" berth.slot=b -- single`)
	want := Flags{"BOOT_IMAGE": "/boot/vmlinuz", "console": "ttyS0,115200", "berth.autologin": "", "quiet": "", "msg": "a b", "berth.slot": "b"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestReadMergesFwCfg(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "proc"), 0o755)
	os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte("console=ttyS0 berth.slot=a\n"), 0o644)
	fw := filepath.Join(root, FwCfgPath)
	os.MkdirAll(filepath.Dir(fw), 0o755)
	os.WriteFile(fw, []byte("berth.autologin=ttyS0 berth.slot=b"), 0o644)
	f, err := Read(root)
	if err != nil {
		t.Fatal(err)
	}
	if f.Autologin() != "ttyS0" {
		t.Errorf("autologin = %q", f.Autologin())
	}
	if s, _ := f.Slot(); s != "b" {
		t.Errorf("fw_cfg did not override slot: %q", s)
	}
	empty := t.TempDir()
	if _, err := Read(empty); !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "read kernel command line: ") {
		t.Errorf("no /proc/cmdline: %v, want read kernel command line: ...: %v", err, fs.ErrNotExist)
	}
}

// berth.autologin=0 (false, off) on the kernel command line keeps
// autologin off whatever fw_cfg says; anything else there, fw_cfg wins.
func TestKernelTurnsAutologinOff(t *testing.T) {
	for _, tc := range []struct {
		kernel, fwcfg, want string
	}{
		{"console=ttyS0 berth.autologin=0", "berth.autologin", ""},
		{"berth.autologin=false", "berth.autologin=ttyS0", ""},
		{"berth.autologin=off", "berth.autologin=1", ""},
		{"berth.autologin", "berth.autologin=ttyS0", "ttyS0"},
		{"berth.autologin=tty0", "berth.autologin=0", ""},
		{"console=ttyS0", "berth.autologin", "all"},
		{"berth.autologin=0", "", ""},
	} {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, "proc"), 0o755)
		os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte(tc.kernel+"\n"), 0o644)
		if tc.fwcfg != "" {
			fw := filepath.Join(root, FwCfgPath)
			os.MkdirAll(filepath.Dir(fw), 0o755)
			os.WriteFile(fw, []byte(tc.fwcfg), 0o644)
		}
		f, err := Read(root)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Autologin(); got != tc.want {
			t.Errorf("kernel %q, fw_cfg %q: autologin %q, want %q", tc.kernel, tc.fwcfg, got, tc.want)
		}
	}
}

func TestAccessors(t *testing.T) {
	for _, tc := range []struct {
		line, auto, slot, slotErr string
		debug                     bool
	}{
		{"", "", "a", "", false},
		{"berth.autologin", "all", "a", "", false},
		{"berth.autologin=ttyS0,tty0 berth.debug", "ttyS0,tty0", "a", "", true},
		{"berth.autologin=0 berth.slot=B", "", "b", "", false},
		{"berth.slot=c berth.debug=0", "", "a", "berth.slot=c: expected a or b; booting slot a", false},
		{"berth.autologin=false", "", "a", "", false},
		{"berth.autologin=off", "", "a", "", false},
		{"berth.autologin=OFF", "", "a", "", false},
		{"berth.autologin=no", "", "a", "", false},
		{"berth.autologin=on", "all", "a", "", false},
		{"berth.autologin=true", "all", "a", "", false},
		{"berth.autologin=ttyS0 berth.autologin=0", "", "a", "", false},
	} {
		f := Parse(tc.line)
		slot, err := f.Slot()
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if f.Autologin() != tc.auto || slot != tc.slot || gotErr != tc.slotErr || f.Debug() != tc.debug {
			t.Errorf("%q: autologin=%q slot=%q err=%v debug=%v", tc.line, f.Autologin(), slot, err, f.Debug())
		}
	}
}
