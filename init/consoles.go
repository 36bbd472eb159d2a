package main

// Consoles: which console holds the logins (the built-in, or a
// distribution's userland from the catalogue: console-ubuntu...), the one
// that starts at boot (berth.console, the built-in when the chosen one
// cannot start), and hostctl console list, switch and enable.
//
// A distribution console runs from a writable snapshot of its image in
// the system containerd (kept across restarts, on the state partition),
// with Berth's console tools mounted read-only at /.berth from the
// built-in console's rootfs: berth-console runs sshd (through the tools'
// own loader and libraries), busybox getty and login, and hostctl. The
// console that holds the logins is named in /run/berth/console/active:
// a console started by a switch prepares, reports ready and waits there
// until the old one is gone and the file names it; then it starts sshd
// and the gettys and writes its name to /run/berth/console/serving.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/init/etc"
	"github.com/berth-os/berth/init/supervise"
	"github.com/berth-os/berth/internal/atomicfile"
	consoles "github.com/berth-os/berth/internal/console"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/services"
)

var (
	// catalogueAt is where the image's catalogue is (tests change it).
	catalogueAt = layout.CatalogueDir
	// consoleRunDir holds the active and serving files; it is in
	// /run/berth, which every console binds.
	consoleRunDir = filepath.Join(layout.RunDir, "console")
	// consoleRootsAt is where the distribution consoles' snapshots are
	// mounted, outside /run/berth so that no console sees another's.
	consoleRootsAt = "/run/consoles"
	// activateWait bounds how long a console takes to serve once named.
	activateWait = 60 * time.Second
	// prepareWait bounds how long a switch waits for the new console to
	// be prepared (its first start may start a shim, under emulation).
	prepareWait = 2 * time.Minute
)

// toolsAt is where a distribution console finds Berth's console tools.
const toolsAt = "/.berth"

// consoleState is what hostctl console list says of the running console.
type consoleState struct {
	mu      sync.Mutex
	running string // the service that holds the logins
	reason  string // why it is not the one berth.console names
	switchM sync.Mutex
}

// consoleDefs are the catalogue's consoles, by service name. A bad entry
// is left out, and said.
func (h *host) consoleDefs() map[string]*services.Definition {
	out := map[string]*services.Definition{}
	ents, _ := os.ReadDir(catalogueAt)
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok || !consoles.IsConsole(name) || name == consoles.Builtin {
			continue
		}
		d, err := services.LoadEntry(catalogueAt, name)
		if err != nil {
			h.debugf("console %s: %v", name, err)
			continue
		}
		out[name] = d
	}
	return out
}

func defNames(defs map[string]*services.Definition) []string {
	var out []string
	for n := range defs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// consoleEntries are the catalogue's consoles as hostctl service lists them.
func (h *host) consoleEntries() []serviceEntry {
	defs := h.consoleDefs()
	var out []serviceEntry
	for _, n := range defNames(defs) {
		out = append(out, serviceEntry{Name: n, Source: api.SourceCatalogue, Image: defs[n].Image})
	}
	return out
}

// chosenConsole is berth.console's value. The caller holds configMu.
func (h *host) chosenConsole() string {
	if h.cfg == nil || h.cfg.merged == nil {
		return ""
	}
	return h.cfg.merged.Config.Berth.Console
}

// writeActive names the console that holds the logins.
func writeActive(service string) error {
	if err := os.MkdirAll(consoleRunDir, 0o755); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(consoleRunDir, "active"), []byte(service+"\n"), 0o644)
}

// consoleService is what the supervisor runs for a console: the built-in's
// bundle, or a distribution console made ready from its image in the
// local store (nothing is pulled: a boot needs no network).
func (h *host) consoleService(ctx context.Context, name string) (supervise.Service, error) {
	env := append(h.serviceEnv(), "BERTH_CONSOLE="+name)
	if name == consoles.Builtin {
		svc, err := loadService(name)
		svc.Env = env
		return svc, err
	}
	d, ok := h.consoleDefs()[name]
	if !ok {
		return supervise.Service{}, errkind.Mark(errkind.ErrNotFound, fmt.Errorf("no console %s in the catalogue", name))
	}
	if h.images == nil {
		return supervise.Service{}, errkind.Mark(errkind.ErrUnavailable, errors.New("the system containerd is not running"))
	}
	root, err := h.images.WritableRoot(ctx, d.Image, "berth/console/"+name)
	if err != nil {
		return supervise.Service{}, err
	}
	target := filepath.Join(consoleRootsAt, name)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return supervise.Service{}, err
	}
	unix.Unmount(target, unix.MNT_DETACH) // an earlier start's
	if err := mount.All(root.Mounts, target); err != nil {
		return supervise.Service{}, fmt.Errorf("mount the snapshot of %s on %s: %w", d.Image, target, err)
	}
	if err := prepareConsoleRoot(target, "/etc"); err != nil {
		return supervise.Service{}, fmt.Errorf("console %s: %w", name, err)
	}
	spec, err := d.SpecFor(target, root.Config)
	if err != nil {
		return supervise.Service{}, err
	}
	addConsoleMounts(spec, d, hostPaths{tools: filepath.Join(servicesAt, consoles.Builtin, "rootfs"), exists: exists})
	return supervise.Service{Name: name, Spec: spec, Notify: true, Restart: "always",
		Env: append(env, "BERTH_CONSOLE_TOOLS="+toolsAt)}, nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// hostPaths is what addConsoleMounts needs of the host.
type hostPaths struct {
	tools  string // the built-in console's rootfs
	exists func(string) bool
}

// addConsoleMounts makes a catalogue console's spec a console's: its main
// process is the tools' berth-console, the tools are at /.berth, the
// persist folders are the state partition's, and sshd finds the host's
// configuration and host keys; ctr (static) and the user containerd's
// socket come from the host.
func addConsoleMounts(spec *specs.Spec, d *services.Definition, hp hostPaths) {
	spec.Process.Args = []string{toolsAt + "/usr/bin/berth-console"}
	bind := func(src, dst string, opts ...string) {
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: dst, Type: "bind", Source: src, Options: append([]string{"rbind"}, opts...)})
	}
	bind(hp.tools, toolsAt, "ro")
	if d.XBerth.Console != nil {
		for _, p := range d.XBerth.Console.Persist {
			bind(p, p, "rw")
		}
	}
	bind("/etc/ssh", "/etc/ssh", "ro")
	bind(layout.SSHKeyDir, layout.SSHKeyDir, "rw")
	if hp.exists("/usr/bin/ctr") {
		bind("/usr/bin/ctr", "/usr/local/bin/ctr", "ro")
	}
	// The user containerd's folder (its socket, and where ctr makes its
	// FIFOs), made by the supervisor when missing, as for the built-in.
	bind("/run/containerd", "/run/containerd", "rw")
}

// prepareConsoleRoot readies a distribution console's root (the mounted
// snapshot) at each start: its passwd, group and shadow get the host's
// users merged in (hostEtc is the host's rendered /etc), hostname and
// hosts are the host's, resolv.conf follows the network service's,
// login shells get the host's profile.sh (/etc/profile.d/berth.sh), and
// hostctl is on the PATH. Nothing is followed through a symbolic link of
// the image's.
func prepareConsoleRoot(root, hostEtc string) error {
	for _, f := range []struct {
		name  string
		perm  os.FileMode
		merge bool
	}{{"passwd", 0o644, true}, {"group", 0o644, true}, {"shadow", 0o640, true}, {"hostname", 0o644, false}, {"hosts", 0o644, false}} {
		host, err := os.ReadFile(filepath.Join(hostEtc, f.name))
		if err != nil {
			return err
		}
		data := host
		if f.merge {
			own, err := atomicfile.ReadIn(root, "etc/"+f.name)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("read the image's /etc/%s: %w", f.name, err)
			}
			data = consoles.MergeUsers(own, host)
		}
		if err := atomicfile.WriteIn(root, "etc/"+f.name, data, f.perm, 0o755, 0, 0); err != nil {
			return err
		}
	}
	// Login shells get the docker socket and berth.proxy, as on the host.
	profile, err := os.ReadFile(filepath.Join(hostEtc, strings.TrimPrefix(etc.ProfileFile, "etc/")))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err == nil {
		if err := atomicfile.WriteIn(root, "etc/profile.d/berth.sh", profile, 0o644, 0o755, 0, 0); err != nil {
			return err
		}
	}
	for _, l := range []struct{ dir, name, target string }{
		{"etc", "resolv.conf", layout.ResolvConf},
		{"usr/local/bin", "hostctl", toolsAt + "/usr/bin/hostctl"},
	} {
		if err := linkIn(root, l.dir, l.name, l.target); err != nil {
			return err
		}
	}
	for _, d := range []string{strings.TrimPrefix(toolsAt, "/"), "etc/ssh", "run/sshd"} {
		dir, err := atomicfile.MkdirIn(root, d, 0o755)
		if err != nil {
			return err
		}
		dir.Close()
	}
	return nil
}

// linkIn makes dir/name below root a symbolic link to target, in place of
// what is there.
func linkIn(root, dir, name, target string) error {
	d, err := atomicfile.MkdirIn(root, dir, 0o755)
	if err != nil {
		return err
	}
	defer d.Close()
	fd := int(d.Fd())
	if err := unix.Unlinkat(fd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%s: %w", path.Join("/", dir, name), err)
	}
	if err := unix.Symlinkat(target, fd, name); err != nil {
		return fmt.Errorf("%s: %w", path.Join("/", dir, name), err)
	}
	return nil
}

// bootConsole is the console that starts at boot, in the built-in's place
// in the set: the one berth.console names when it can start from the
// local store, else the built-in, and the reason is said on the consoles,
// in hostctl console list and in hostctl config status.
func (h *host) bootConsole(ctx context.Context) (supervise.Service, error) {
	configMu.Lock()
	want := h.chosenConsole()
	configMu.Unlock()
	var svc supervise.Service
	ch := consoles.Choose(want, defNames(h.consoleDefs()), func(s string) error {
		var err error
		svc, err = h.consoleService(ctx, s)
		return err
	})
	if ch.Service == consoles.Builtin {
		var err error
		if svc, err = h.consoleService(ctx, consoles.Builtin); err != nil {
			return svc, err
		}
	}
	h.noteConsole(ch.Service, ch.Reason)
	if err := writeActive(ch.Service); err != nil {
		h.logf("console: %v", err)
	}
	return svc, nil
}

// fallBack starts the built-in console when the chosen one failed to
// start at boot.
func (h *host) fallBack(ctx context.Context, failed string, why error) error {
	reason := fmt.Sprintf("console %s did not start: %v; the default console runs instead", consoles.Short(failed), why)
	h.sup.Stop(ctx, failed)
	svc, err := h.consoleService(ctx, consoles.Builtin)
	if err != nil {
		return err
	}
	h.noteConsole(consoles.Builtin, reason)
	writeActive(consoles.Builtin)
	return h.sup.Launch(ctx, svc)
}

// noteConsole records the console that serves and why it is not the one
// chosen; the reason goes on the consoles and into the config status.
func (h *host) noteConsole(service, reason string) {
	h.con.mu.Lock()
	h.con.running, h.con.reason = service, reason
	h.con.mu.Unlock()
	if reason != "" {
		h.alertf("%s", reason)
	}
	configMu.Lock()
	defer configMu.Unlock()
	if h.cfg == nil {
		return
	}
	var keep []string
	for _, w := range h.cfg.status.Warnings {
		if !strings.HasPrefix(w, "berth.console") {
			keep = append(keep, w)
		}
	}
	if reason != "" {
		keep = append(keep, "berth.console: "+reason)
	}
	h.cfg.status.Warnings = keep
	h.cfg.store.SaveStatus(h.cfg.status)
}

// runningConsole is the console that holds the logins.
func (h *host) runningConsole() (string, string) {
	h.con.mu.Lock()
	defer h.con.mu.Unlock()
	if h.con.running == "" {
		return consoles.Builtin, h.con.reason
	}
	return h.con.running, h.con.reason
}

var _ api.ConsoleHost = (*host)(nil)

// Consoles is hostctl console list.
func (h *host) Consoles(ctx context.Context) (api.Consoles, error) {
	defs := h.consoleDefs()
	configMu.Lock()
	chosen, cerr := consoles.Resolve(h.chosenConsole(), defNames(defs))
	configMu.Unlock()
	if cerr != nil {
		chosen = consoles.Builtin
	}
	running, reason := h.runningConsole()
	out := api.Consoles{Reason: reason}
	add := func(svc, image string, persist []string) {
		out.Consoles = append(out.Consoles, api.Console{Name: consoles.Short(svc), Service: svc, Image: image,
			Chosen: svc == chosen, Running: svc == running, Persist: persist})
	}
	add(consoles.Builtin, api.SourceBuiltin, []string{"/home", "/root", "/opt", "/var"})
	for _, n := range defNames(defs) {
		var persist []string
		if c := defs[n].XBerth.Console; c != nil {
			persist = c.Persist
		}
		add(n, defs[n].Image, persist)
	}
	return out, nil
}

// resolveConsole is a console's service for hostctl's name, or an error
// that lists the known ones.
func (h *host) resolveConsole(name string) (string, *services.Definition, error) {
	defs := h.consoleDefs()
	svc, err := consoles.Resolve(name, defNames(defs))
	if err != nil {
		return "", nil, errkind.Mark(errkind.ErrNotFound, err)
	}
	return svc, defs[svc], nil
}

// pullConsole makes sure a catalogue console's image is in the store,
// pulling it when it is not.
func (h *host) pullConsole(ctx context.Context, d *services.Definition) (string, error) {
	if d == nil {
		return "", nil
	}
	if h.images == nil {
		return "", errkind.Mark(errkind.ErrUnavailable, errors.New("the system containerd is not running"))
	}
	if _, err := h.images.WritableRoot(ctx, d.Image, "berth/console/"+d.Name); err == nil {
		return "", nil
	}
	if _, err := h.PullImage(ctx, d.Image, io.Discard); err != nil {
		return "", fmt.Errorf("console %s: %w", consoles.Short(d.Name), err)
	}
	return d.Image, nil
}

// EnableConsole is hostctl console enable, and hostctl service enable of
// a console: the image is pulled first (nothing changes when it cannot
// be had), then berth.console names the console in the local layer.
func (h *host) EnableConsole(ctx context.Context, name string) (api.ConsoleResult, error) {
	svc, d, err := h.resolveConsole(name)
	if err != nil {
		return api.ConsoleResult{Name: name}, err
	}
	res := api.ConsoleResult{Name: consoles.Short(svc), Service: svc}
	if res.Pulled, err = h.pullConsole(ctx, d); err != nil {
		return res, err
	}
	cres, err := h.setConsole(svc)
	res.Config = &cres
	return res, err
}

// setConsole sets berth.console in the local layer: unset for the
// default when no lower layer names another.
func (h *host) setConsole(svc string) (api.ConfigChangeResult, error) {
	segs := []cloudconfig.Seg{{Key: "berth", Index: -1}, {Key: "console", Index: -1}}
	return h.changeLocal(func(local map[string]any) error {
		if svc == consoles.Builtin && !h.lowerLayersSet(segs) {
			cloudconfig.Unset(local, segs)
			return nil
		}
		return cloudconfig.Set(local, segs, consoles.Short(svc))
	}, false, false)
}

// SwitchConsole is hostctl console switch: the new console is pulled if
// needed and started, the old one stops, the new one takes the logins
// over; on any failure the old one serves again and nothing is stored.
// Then berth.console names the new one. No other service restarts.
func (h *host) SwitchConsole(ctx context.Context, name string) (api.ConsoleResult, error) {
	svc, d, err := h.resolveConsole(name)
	if err != nil {
		return api.ConsoleResult{Name: name}, err
	}
	res := api.ConsoleResult{Name: consoles.Short(svc), Service: svc}
	if h.sup == nil {
		return res, errkind.Mark(errkind.ErrUnavailable, errors.New("services are not started yet"))
	}
	h.con.switchM.Lock()
	defer h.con.switchM.Unlock()
	if res.Pulled, err = h.pullConsole(ctx, d); err != nil {
		return res, err
	}
	from, _ := h.runningConsole()
	if err := consoles.Switch(ctx, consoleRuntime{h}, from, svc); err != nil {
		h.logf("console: %v", err)
		return res, err
	}
	if from != svc {
		res.Switched = true
		h.noteConsole(svc, "")
		h.logf("console: %s holds the logins now (was %s)", consoles.Short(svc), consoles.Short(from))
	}
	cres, err := h.setConsole(svc)
	res.Config = &cres
	if err != nil {
		return res, fmt.Errorf("switched to %s, but berth.console is not stored: %w", consoles.Short(svc), err)
	}
	return res, nil
}

// consoleRuntime carries a switch out on the supervisor.
type consoleRuntime struct{ h *host }

func (r consoleRuntime) Prepare(ctx context.Context, svc string) error {
	if d, ok := r.h.sup.Detail(svc); ok && !d.Held && (d.State == supervise.StateRunning || d.State == supervise.StateStarting) {
		return nil
	}
	s, err := r.h.consoleService(ctx, svc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, prepareWait)
	defer cancel()
	return r.h.sup.Launch(ctx, s)
}

func (r consoleRuntime) Activate(ctx context.Context, svc string) error {
	serving := filepath.Join(consoleRunDir, "serving")
	if err := writeActive(svc); err != nil {
		return err
	}
	deadline := time.Now().Add(activateWait)
	for {
		if b, err := os.ReadFile(serving); err == nil && strings.TrimSpace(string(b)) == svc {
			return nil
		}
		if d, ok := r.h.sup.Detail(svc); !ok || d.State != supervise.StateRunning {
			return fmt.Errorf("console %s is %s", consoles.Short(svc), d.State)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("console %s did not serve the logins within %s", consoles.Short(svc), activateWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r consoleRuntime) Stop(ctx context.Context, svc string) error {
	if _, ok := r.h.sup.Detail(svc); !ok {
		return nil
	}
	return r.h.sup.Stop(ctx, svc)
}

// enableConsoleService is hostctl service enable|disable of a catalogue
// console: enable makes it the console from the next boot (berth.console,
// after its image is pulled; with --now it is switched to at once);
// disable of the chosen console makes the default the console again.
func (h *host) enableConsoleService(ctx context.Context, name string, enable bool, c api.ServiceControl) (api.ServiceResult, error) {
	res := api.ServiceResult{Name: name}
	if c.DryRun {
		return res, nil
	}
	var cres api.ConsoleResult
	var err error
	switch {
	case enable && c.Now:
		cres, err = h.SwitchConsole(ctx, name)
		res.Started = cres.Switched
	case enable:
		cres, err = h.EnableConsole(ctx, name)
	default:
		configMu.Lock()
		chosen, _ := consoles.Resolve(h.chosenConsole(), []string{name})
		configMu.Unlock()
		if chosen != name {
			return res, nil // not the console: nothing to do
		}
		if c.Now {
			cres, err = h.SwitchConsole(ctx, consoles.Default)
			res.Stopped = cres.Switched
		} else {
			cres, err = h.EnableConsole(ctx, consoles.Default)
		}
	}
	res.Config = cres.Config
	if err == nil && !c.Now {
		res.Warnings = append(res.Warnings, fmt.Sprintf("berth.console is %s from the next boot; hostctl console switch %s does it now", consoles.Short(cres.Service), consoles.Short(cres.Service)))
	}
	return res, err
}
