package notify

import (
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/fuzzmem"
)

// parseBound: a notify datagram comes from a service, which may be
// compromised; PID 1 reads at most 4 KiB of one. Parse copies it into
// its fields once or twice; the seeds need under 4 KiB.
var parseBound = fuzzmem.Bound{Base: 1 * fuzzmem.MiB, PerByte: 64}

// A notify datagram of any content never panics Parse, is read within
// parseBound, and gives fields that are each one line.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"READY=1", "READY=1\nSTATUS=up and running\n", "STATUS=a=b", "=\n=\n", "X", "", "\x00READY=1\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		var got map[string]string
		fuzzmem.Check(t, parseBound, len(msg), func() { got = Parse(msg) })
		for k, v := range got {
			if strings.Contains(k, "\n") || strings.Contains(v, "\n") || strings.Contains(k, "=") {
				t.Errorf("field %q=%q is not one line of KEY=VALUE", k, v)
			}
		}
	})
}
