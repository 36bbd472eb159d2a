package layout

import (
	"fmt"
	"strings"
)

// CheckKernelArgs refuses kernel arguments that a disk's boot menu can't
// hold as they are (hostctl install --append, berth.install.append): GRUB
// reads them inside double quotes.
func CheckKernelArgs(s string) error {
	if len(s) > 1024 {
		return fmt.Errorf("%d bytes; at most 1024", len(s))
	}
	for _, r := range s {
		if r < ' ' || r > '~' || strings.ContainsRune(`"$\`+"`", r) {
			return fmt.Errorf("%q: kernel arguments are printable ASCII without \", $, \\ or `", s)
		}
	}
	return nil
}
