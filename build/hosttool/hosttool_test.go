package hosttool

import (
	"errors"
	"strings"
	"testing"
)

func TestNeed(t *testing.T) {
	got, err := Need("sh")
	if err != nil || got["sh"] == "" {
		t.Fatalf("sh: %v %v", got, err)
	}
	Packages["berth-no-such-tool"] = "berth-pkg"
	defer delete(Packages, "berth-no-such-tool")
	_, err = Need("sh", "berth-no-such-tool")
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"berth-no-such-tool", "apt-get install berth-pkg", "make deps"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// A tool's environment keeps PATH and loses what would make its output
// depend on who builds where.
func TestEnv(t *testing.T) {
	t.Setenv("PATH", "/usr/bin:/bin")
	t.Setenv("TZ", "Asia/Tokyo")
	t.Setenv("LANG", "fr_CH.UTF-8")
	t.Setenv("LC_TIME", "fr_CH.UTF-8")
	t.Setenv("LANGUAGE", "fr")
	t.Setenv("HOME", "/home/someone")
	t.Setenv("USER", "someone")
	t.Setenv("LOGNAME", "someone")
	t.Setenv("SOURCE_DATE_EPOCH", "1")
	got := map[string]string{}
	for _, e := range Env("SOURCE_DATE_EPOCH=1735689600") {
		k, v, _ := strings.Cut(e, "=")
		if _, dup := got[k]; dup {
			t.Errorf("%s set twice", k)
		}
		got[k] = v
	}
	want := map[string]string{"PATH": "/usr/bin:/bin", "TZ": "UTC", "LC_ALL": "C", "LANG": "C", "HOME": "/nonexistent",
		"SOURCE_DATE_EPOCH": "1735689600"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	for _, k := range []string{"LC_TIME", "LANGUAGE", "USER", "LOGNAME"} {
		if v, ok := got[k]; ok {
			t.Errorf("%s=%q is passed on", k, v)
		}
	}
	for _, e := range Env() {
		if strings.HasPrefix(e, "SOURCE_DATE_EPOCH=") {
			t.Errorf("the caller's SOURCE_DATE_EPOCH is passed on without being asked for")
		}
	}
}

func TestNeedNamesEachMissingToolOnce(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Need("mcopy", "mmd", "mcopy", "qemu-img")
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("err = %v", err)
	}
	want := "missing host tools: mcopy, mmd, qemu-img; install with `sudo apt-get install mtools qemu-utils` or run `make deps`"
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
}
