package cmdline

import (
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/fuzzmem"
)

// cmdlineBound: the kernel's command line is at most 2 KiB on x86, but
// fw_cfg's opt/berth/cmdline has no limit. Parse copies each word into
// the map once; the seeds need under 8 KiB.
var cmdlineBound = fuzzmem.Bound{Base: 1 * fuzzmem.MiB, PerByte: 64}

// The command line never panics Parse or the accessors, is parsed within
// cmdlineBound, and a flag's name holds a blank only if a quote put it
// there.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`BOOT_IMAGE=/boot/vmlinuz console=tty0 console=ttyS0,115200 berth.autologin quiet msg="a b" berth.slot=b -- single`,
		"console=ttyS0 berth.slot=a\n",
		"berth.autologin=ttyS0,tty0 berth.debug berth.slot=B\x00\x00",
		`"a b"=c d="e`, `""`, "--", "=", "a=b=c", "\t\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var fl Flags
		fuzzmem.Check(t, cmdlineBound, len(s), func() {
			fl = Parse(s)
			fl.Autologin()
			fl.Slot()
			fl.Debug()
		})
		for k := range fl {
			if strings.ContainsAny(k, " \t\n") && !strings.Contains(s, `"`) {
				t.Errorf("flag %q holds a blank without a quote in %q", k, s)
			}
		}
	})
}
