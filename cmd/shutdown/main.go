// Command shutdown is services/shutdown as a program of its own, for the
// guest agents' images (qemu-ga runs /usr/sbin/shutdown), which carry no
// berthbox.
package main

import "github.com/berth-os/berth/services/shutdown"

func main() { shutdown.Main() }
