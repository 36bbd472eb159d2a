// Command init is Berth's PID 1 (stage 2). Stage 1 (init/stage1, in the
// initramfs) mounts the read-only root and switches to it; this program then
// runs the boot phases, starts the system containerd and the system
// services, prints the ready line, and supervises: it reaps zombies, serves
// the host API and shuts down cleanly. It never exits: on a fatal error it
// logs and drops to a rescue shell.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-os/berth/init/cmdline"
	"github.com/berth-os/berth/init/console"
	"github.com/berth-os/berth/init/logbuf"
	"github.com/berth-os/berth/init/reap"
	"github.com/berth-os/berth/init/supervise"
	"github.com/berth-os/berth/internal/images"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/vmware"
)

// Paths PID 1 uses; variables so tests can root them elsewhere.
var (
	shell      = "/bin/sh"
	busybox    = "/usr/bin/busybox" // its sulogin asks for root's password
	shadow     = "/etc/shadow"
	infoPath   = layout.InfoPath
	etcTmpl    = layout.EtcTemplate
	servicesAt = layout.ServicesDir
	ingestSock = layout.LogIngest
	resolvConf = layout.ResolvConf
)

// host is PID 1's state.
type host struct {
	start   time.Time
	reaper  *reap.Reaper
	cons    *console.Writer
	logs    *logbuf.Hub
	fwd     *logbuf.Forwarder
	initLog *logbuf.LineWriter
	flags   cmdline.Flags
	info    layout.Info
	stage1  layout.Boot // what stage 1 says of this boot
	sup     *supervise.Supervisor
	ctr     *supervise.Containerd
	images  *images.Store         // the system containerd's images (hostctl image)
	procs   *supervise.Supervisor // host processes: the system containerd
	state   stateInfo
	cfg     *hostConfig
	stop    chan struct{}
	// svcSet is the set of services the configuration asks for, in start
	// order, once the services phase has taken it (svcBooted); configMu
	// guards both (services.go).
	svcSet    []string
	svcBooted bool
	// con is the console that holds the logins (consoles.go).
	con consoleState
	// hvKind is the hypervisor, detected once from sysfs under sysRoot
	// ("/" when empty) (guestagents.go).
	hvOnce  sync.Once
	hvKind  string
	sysRoot string

	// installing is held while hostctl install writes a disk (install.go).
	installing sync.Mutex

	shutdownOnce sync.Once
	mu           sync.Mutex
	readyLine    string
	// booted: the ready line is out. From then on routine messages go to
	// the init log only, so they do not land in the middle of a console
	// session; alerts still reach the consoles.
	booted atomic.Bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == vmware.HelperArg {
		// PID 1's child that reads VMware guestinfo (guestInfo).
		os.Exit(vmware.Helper(os.Args[2:], os.Stdout, os.Stderr))
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "init: Berth's PID 1; it only runs as process 1")
		os.Exit(2)
	}
	h := &host{start: time.Now(), reaper: reap.New(), stop: make(chan struct{})}
	h.fwd = logbuf.NewForwarder(ingestSock, 20000)
	h.logs = logbuf.New(2000, h.fwd)
	h.initLog = h.logs.Writer("init", "stdout")
	h.cons = console.Open(console.Active("/sys", "/dev"))
	go h.reaper.Run(h.stop)
	h.boot()
	select {} // PID 1 never returns.
}

// logf keeps a line in the init log and, while booting (or always with
// berth.debug), prints it on every console.
func (h *host) logf(format string, args ...any) {
	if h.booted.Load() && !h.flags.Debug() {
		fmt.Fprintf(h.initLog, format+"\n", args...)
		return
	}
	h.alertf(format, args...)
}

// alertf prints a line on every console, booted or not, and keeps it in
// the init log: shutdown, failures, the rescue shell.
func (h *host) alertf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	fmt.Fprintf(h.cons, "berth: %s\n", line)
	fmt.Fprintf(h.initLog, "%s\n", line)
}

// debugf logs only with berth.debug.
func (h *host) debugf(format string, args ...any) {
	if h.flags.Debug() {
		h.logf(format, args...)
	} else {
		fmt.Fprintf(h.initLog, format+"\n", args...)
	}
}

// goSafe runs fn in a goroutine that cannot take PID 1 down with a panic.
func (h *host) goSafe(name string, fn func()) {
	go func() {
		defer func() {
			if r := recover(); r != nil {
				h.logf("%s: panic: %v\n%s", name, r, debug.Stack())
			}
		}()
		fn()
	}()
}

// boot runs the plan; on a fatal error it starts the rescue shell.
func (h *host) boot() {
	defer func() {
		if r := recover(); r != nil {
			h.rescue(fmt.Sprintf("PID 1 panicked during boot: %v\n%s", r, debug.Stack()))
		}
	}()
	ctx := context.Background()
	breakAt := func() string { return h.flags.Get("berth.break") }
	if err := h.plan().Run(ctx, h.logf, h.debugf, breakAt); err != nil {
		h.rescue(err.Error())
	}
}

// rescue is the console of last resort when boot fails or berth.break
// stops it: a root shell after root's password, or without one when the
// image allows it, or a line that says why there is none
// (console.Decide). PID 1 goes on reaping and serving whatever happens.
func (h *host) rescue(reason string) {
	h.booted.Store(true)
	fmt.Fprintf(h.initLog, "rescue: %s\n", reason)
	d := h.rescueDecision()
	fmt.Fprintf(h.initLog, "rescue: %s (image rescue %q)\n", d.Access, h.info.Rescue)
	sh := console.Shells{Shell: []string{shell, "-l"}, Sulogin: []string{busybox, "sulogin"}}
	h.goSafe("rescue", func() {
		console.Rescue(h.reaper, h.cons, "/dev/console", sh, d, reason)
	})
}

// rescueDecision decides from the image's rescue setting and root's hash
// in the rendered /etc/shadow; it cannot panic (PID 1 is on its last
// path), and fails closed.
func (h *host) rescueDecision() (d console.Decision) {
	defer func() {
		if r := recover(); r != nil {
			d = console.Decision{Access: console.NoShell, Why: fmt.Sprintf("deciding it panicked: %v", r)}
		}
	}()
	hash, err := console.RootHash(shadow)
	return console.Decide(h.info.Rescue, hash, err)
}

// serviceOutput is where a service's stdout and stderr go: the in-memory
// ring and the logging service, and with berth.debug the consoles too.
func (h *host) serviceOutput(svc, stream string) io.Writer {
	w := h.logs.Writer(svc, stream)
	if h.flags.Debug() {
		w.Echo = func(l logbuf.Line) { fmt.Fprintf(h.cons, "%s: %s\n", svc, l.Text) }
	}
	return w
}

// uptime is seconds since the kernel started, from /proc/uptime.
func uptime() float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	var up float64
	fmt.Sscanf(strings.Fields(string(b))[0], "%f", &up)
	return up
}
