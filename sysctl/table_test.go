package sysctl

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const tableText = `# a comment
vm.swappiness number
net.ipv4.ip_local_port_range numbers:2
net.ipv4.conf.<iface>.rp_filter number
net.ipv4.conf.all.rp_filter number
kernel.core_pattern string
kernel.osrelease string ro
vm.drop_caches any
`

func TestTableParseAndFormat(t *testing.T) {
	tab, err := ParseTable(tableText, "t.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := Param{Name: "net.ipv4.ip_local_port_range", Shape: Numbers, Count: 2}
	if diff := cmp.Diff(want, tab["net.ipv4.ip_local_port_range"]); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	out := tab.Format("h")
	if !strings.HasPrefix(out, "# h\nkernel.core_pattern string\nkernel.osrelease string ro\n") {
		t.Errorf("format:\n%s", out)
	}
	again, err := ParseTable(out, "again")
	if err != nil || !cmp.Equal(tab, again) {
		t.Errorf("the formatted table reads back different: %v", err)
	}
	for _, bad := range []struct{ text, want string }{
		{"vm.x\n", `t.txt:1: expected name shape [ro], got "vm.x"`},
		{"vm.x numbers:1\n", `t.txt:1: expected numbers:N with N of 2 or more, got "numbers:1"`},
		{"vm.x float\n", `t.txt:1: unknown shape "float" (expected number, numbers:N, string or any)`},
		{"vm.x number\nvm.x string\n", `t.txt:2: vm.x listed twice`},
		{"vm.x number rw\n", `t.txt:1: expected name shape [ro], got "vm.x number rw"`},
	} {
		if _, err := ParseTable(bad.text, "t.txt"); err == nil || err.Error() != bad.want {
			t.Errorf("%q: %v, want %s", bad.text, err, bad.want)
		}
	}
}

// The table is made from what the kernel shows: an interface other than
// all and default becomes <iface>, and two interfaces give one line.
func TestTableAdd(t *testing.T) {
	tab := Table{}
	tab.Add("net.ipv4.conf.eth0.rp_filter", "2", true, true)
	tab.Add("net.ipv4.conf.lo.rp_filter", "0", true, true)
	tab.Add("net.ipv4.conf.all.rp_filter", "0", true, true)
	tab.Add("net.ipv6.neigh.eth0.retrans_time_ms", "1000", true, true)
	tab.Add("net.ipv4.ip_local_port_range", "32768\t60999", true, true)
	tab.Add("kernel.osrelease", "6.12.43", true, false)
	tab.Add("vm.drop_caches", "", false, true)
	tab.Add("net.ipv4.ip_local_reserved_ports", "", true, true)
	want := `net.ipv4.conf.<iface>.rp_filter number
net.ipv4.conf.all.rp_filter number
net.ipv4.ip_local_port_range numbers:2
net.ipv4.ip_local_reserved_ports string
net.ipv6.neigh.<iface>.retrans_time_ms number
vm.drop_caches any
`
	got := tab.Format("h")
	got = got[strings.Index(got, "\n")+1:]
	if diff := cmp.Diff("kernel.osrelease string ro\n"+want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestTableCheck(t *testing.T) {
	tab, err := ParseTable(tableText, "t.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, value, want string }{
		{"vm.swappiness", "10", ""},
		{"vm.swappiness", " 10\n", ""},
		{"vm.swappiness", "-1", ""},
		{"vm.swappiness", "banana", `expected a number, got "banana"`},
		{"vm.swappiness", "1 2", `expected a number, got "1 2"`},
		{"vm.swapiness", "10", "unknown sysctl: Berth's kernel has no vm.swapiness (did you mean vm.swappiness?)"},
		{"vm.no_such_sysctl", "1", "unknown sysctl: Berth's kernel has no vm.no_such_sysctl"},
		{"net.ipv4.ip_local_port_range", "1024 65000", ""},
		{"net.ipv4.ip_local_port_range", "1024\t65000", ""},
		{"net.ipv4.ip_local_port_range", "1024", ""},
		{"net.ipv4.ip_local_port_range", "1 2 3", `expected up to 2 numbers separated by spaces, such as "1 2", got "1 2 3"`},
		{"net.ipv4.ip_local_port_range", "1024-65000", `expected up to 2 numbers separated by spaces, such as "1 2", got "1024-65000"`},
		{"net.ipv4.conf.eth0.rp_filter", "1", ""},
		{"net.ipv4.conf.br-lan.rp_filter", "1", ""},
		{"net.ipv4.conf.eth0.rp_filtr", "1", "unknown sysctl: Berth's kernel has no net.ipv4.conf.eth0.rp_filtr (did you mean net.ipv4.conf.eth0.rp_filter?)"},
		{"net.ipv4.conf.all.rp_filter", "x", `expected a number, got "x"`},
		{"kernel.core_pattern", "|/bin/false %p", ""},
		{"kernel.osrelease", "7", "kernel.osrelease is read-only: the kernel only reports it"},
		{"vm.drop_caches", "3", ""},
	} {
		err := tab.Check(tc.name, tc.value)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("Check(%s, %q) = %q, want %q", tc.name, tc.value, got, tc.want)
		}
	}
}

// The table of Berth's kernel reads, has what container hosts set, and
// takes every setting of Berth's own profiles.
func TestKernelTable(t *testing.T) {
	tab := Kernel()
	for name, shape := range map[string]Shape{
		"vm.swappiness":                      Number,
		"net.ipv4.ip_local_port_range":       Numbers,
		"net.ipv4.conf.<iface>.rp_filter":    Number,
		"net.ipv6.conf.<iface>.disable_ipv6": Number,
		"net.netfilter.nf_conntrack_max":     Number,
		"kernel.core_pattern":                String,
	} {
		if p, ok := tab[name]; !ok || p.Shape != shape {
			t.Errorf("%s: %+v, %v; want shape %s", name, p, ok, shape)
		}
	}
	for _, prof := range Profiles() {
		settings, err := Profile(prof)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range settings {
			if err := tab.Check(s.Key, s.Value); err != nil {
				t.Errorf("profile %s: %s = %s: %v", prof, s.Key, s.Value, err)
			}
		}
	}
}
