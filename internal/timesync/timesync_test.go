package timesync

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// What PID 1 renders the service reads back unchanged.
func TestRenderParse(t *testing.T) {
	for _, c := range []Config{
		{Enabled: true, Sources: []Source{{Host: "10.0.2.2", Port: 1230}, {Host: "fd00::1", Port: 123}, {Pool: true, Host: "pool.example.org", Port: 123}}},
		{Enabled: false, Sources: []Source{{Host: "a.example", Port: 123}}},
	} {
		got, err := Parse("ntp.conf", []byte(c.Render()))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("(-want +got)\n%s", diff)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"unknown line", "# x\nserver a\nserve b\n", `/etc/ntp/ntp.conf:3: expected "server HOST [port N]", "pool HOST [port N]" or "off", got "serve b"`},
		{"bad port", "server a port 0\npool b port x\n", "/etc/ntp/ntp.conf:1: expected a port from 1 to 65535, got \"0\"\n/etc/ntp/ntp.conf:2: expected a port from 1 to 65535, got \"x\""},
		{"port without its keyword", "server a 123\n", `/etc/ntp/ntp.conf:1: expected "server HOST [port N]", "pool HOST [port N]" or "off", got "server a 123"`},
		{"nothing to follow", "# empty\n", "/etc/ntp/ntp.conf: no server and no pool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(ConfigPath, []byte(tc.src))
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %s", err, tc.want)
			}
		})
	}
	// Off needs no server.
	if c, err := Parse(ConfigPath, []byte("off\n")); err != nil || c.Enabled {
		t.Errorf("off: %+v, %v", c, err)
	}
}

func TestSplitHostPort(t *testing.T) {
	for _, tc := range []struct {
		in, host string
		port     int
		err      string
	}{
		{"time.example.org", "time.example.org", 123, ""},
		{"10.0.2.2:1230", "10.0.2.2", 1230, ""},
		{"fd00::1", "fd00::1", 123, ""},
		{"[fd00::1]:4123", "fd00::1", 4123, ""},
		{"a:65536", "", 0, `"a:65536": expected a port from 1 to 65535, got "65536"`},
		{"a:b:c", "", 0, `"a:b:c": expected HOST, HOST:PORT or [IPv6]:PORT`},
		{":1", "", 0, `":1": no host before the port`},
		{"", "", 0, "empty (expected HOST or HOST:PORT)"},
	} {
		h, p, err := SplitHostPort(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: error %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || h != tc.host || p != tc.port {
			t.Errorf("%q: %q %d %v; want %q %d", tc.in, h, p, err, tc.host, tc.port)
		}
	}
}

func TestKernelFrom(t *testing.T) {
	k := KernelFrom(&unix.Timex{Status: unix.STA_PLL | unix.STA_NANO, Maxerror: 12500, Esterror: 250, Offset: -1500000, Freq: 10 << 16}, unix.TIME_OK)
	want := Kernel{Synchronised: true, State: "TIME_OK", Status: []string{"STA_PLL", "STA_NANO"}, MaxError: 0.0125, EstError: 0.00025, Offset: -0.0015, Freq: 10}
	if diff := cmp.Diff(want, k); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	k = KernelFrom(&unix.Timex{Status: unix.STA_UNSYNC, Maxerror: 16000000, Offset: 20}, unix.TIME_ERROR)
	if k.Synchronised || k.State != "TIME_ERROR" || strings.Join(k.Status, ",") != "STA_UNSYNC" || k.Offset != 0.00002 {
		t.Errorf("unsynchronised clock read as %+v", k)
	}
}
