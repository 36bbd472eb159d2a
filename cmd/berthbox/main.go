// Command berthbox is Berth's small programs in one: hostctl and the
// programs of the built-in services, each chosen by the name it runs as,
// as busybox chooses its applets. The image keeps it once: /usr/bin/hostctl
// on the host, and a hard link to that file at each service's program path
// (/usr/bin/berth-network in the network service's rootfs, and so on), all
// in the one squashfs. So the services' Go runtime and standard library
// are one set of pages in memory, not one per service, and one file in the
// image where there were eight (see the README's Benchmarks).
//
// PID 1 stays a program of its own: it carries containerd's client, gRPC
// and protobuf, whose package initialisers would run at every service's
// start.
//
//	berthbox NAME [ARG...]   runs as NAME, as a link named NAME does
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berth-os/berth/cmd/hostctl"
	"github.com/berth-os/berth/services/console"
	"github.com/berth-os/berth/services/containerd"
	"github.com/berth-os/berth/services/logging"
	"github.com/berth-os/berth/services/network"
	"github.com/berth-os/berth/services/ntp"
	"github.com/berth-os/berth/services/shutdown"
	"github.com/berth-os/berth/services/udev"
)

// programs are the names berthbox runs as, each with its program's Main.
var programs = map[string]func(){
	"hostctl":          hostctl.Main,
	"berth-console":    console.Main,
	"berth-containerd": containerd.Main,
	"berth-logging":    logging.Main,
	"berth-network":    network.Main,
	"berth-ntp":        ntp.Main,
	"berth-udev":       udev.Main,
	// One program by four names: it reads which from its name.
	"halt":     shutdown.Main,
	"poweroff": shutdown.Main,
	"reboot":   shutdown.Main,
	"shutdown": shutdown.Main,
}

// self is the name berthbox has when it runs as itself.
const self = "berthbox"

func main() {
	args, m, err := choose(os.Args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "berthbox:", err)
		os.Exit(2)
	}
	os.Args = args
	m()
}

// choose finds the program args name: by args[0]'s base name, or, when
// that is berthbox itself, by args[1]. It returns the arguments the
// program is to see, with its own name first.
func choose(args []string) ([]string, func(), error) {
	if len(args) == 0 {
		return nil, nil, fmt.Errorf("no name to run as\n%s", usage())
	}
	name := filepath.Base(args[0])
	if name == self {
		if len(args) < 2 {
			return nil, nil, fmt.Errorf("no name to run as\n%s", usage())
		}
		args = args[1:]
		name = filepath.Base(args[0])
	}
	m, ok := programs[name]
	if !ok {
		return nil, nil, fmt.Errorf("no program %q\n%s", name, usage())
	}
	return args, m, nil
}

// usage names the names berthbox runs as.
func usage() string {
	names := make([]string, 0, len(programs))
	for n := range programs {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprintf("usage: %s NAME [ARG...], or a link named NAME; NAME is one of:\n  %s", self, strings.Join(names, " "))
}
