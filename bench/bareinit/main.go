// Command bareinit is the trivial /init of the bare-kernel benchmark: it
// prints a marker on the console and powers the machine off, so the time to
// the marker is the kernel's own boot time.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		fmt.Fprintln(f, "berth-bench: bare init reached")
		f.Close()
	} else {
		fmt.Println("berth-bench: bare init reached")
	}
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
