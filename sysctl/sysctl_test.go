package sysctl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProfileParses(t *testing.T) {
	s, err := Profile("container-host")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"net.ipv4.ip_forward": "1", "kernel.kptr_restrict": "2", "fs.inotify.max_user_watches": "1048576"}
	got := map[string]string{}
	for _, x := range s {
		got[x.Key] = x.Value
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, err := Profile("nope"); err == nil || !strings.Contains(err.Error(), "container-host") {
		t.Errorf("unknown profile: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	_, err := Parse("a.b = 1\nbad line\n; comment\nx..y = 2\n", "t.conf")
	if err == nil || !strings.Contains(err.Error(), `t.conf:2: expected key = value, got "bad line"`) || !strings.Contains(err.Error(), "t.conf:4:") {
		t.Errorf("err = %v", err)
	}
}

func TestApply(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "net/ipv4"), 0o755)
	os.WriteFile(filepath.Join(root, "net/ipv4/ip_forward"), []byte("0"), 0o644)
	err := Apply(root, []Setting{{"net.ipv4.ip_forward", "1"}, {"kernel.nope", "1"}})
	if err == nil || !strings.Contains(err.Error(), "sysctl kernel.nope = 1") {
		t.Errorf("err = %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(root, "net/ipv4/ip_forward"))
	if string(b) != "1\n" {
		t.Errorf("ip_forward = %q", b)
	}
}

func TestPath(t *testing.T) {
	for key, want := range map[string]string{
		"vm.swappiness":                        "/proc/sys/vm/swappiness",
		"net.ipv4.conf.all.rp_filter":          "/proc/sys/net/ipv4/conf/all/rp_filter",
		"net.ipv4.conf.eth0.100.rp_filter":     "/proc/sys/net/ipv4/conf/eth0.100/rp_filter",
		"net.ipv6.neigh.bond0.7.mcast_solicit": "/proc/sys/net/ipv6/neigh/bond0.7/mcast_solicit",
		"net/ipv4/conf/eth0.100/forwarding":    "/proc/sys/net/ipv4/conf/eth0.100/forwarding",
	} {
		if got := Path("/proc/sys", key); got != want {
			t.Errorf("Path(%q) = %q, want %q", key, got, want)
		}
	}
}
