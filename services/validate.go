package services

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-os/berth/internal/strictyaml"
	"github.com/distribution/reference"
)

var (
	devRuleRe = regexp.MustCompile(`^([abc]) (\*|[0-9]+):(\*|[0-9]+) ([rwm]{1,3})$`)
	userRe    = regexp.MustCompile(`^[0-9]+(:[0-9]+)?$`)
	nameUsrRe = regexp.MustCompile(`^[a-zA-Z0-9_.][a-zA-Z0-9_.-]*(:[a-zA-Z0-9_.][a-zA-Z0-9_.-]*)?$`)
)

// Validate checks a definition on its own and reports every problem at
// once, each with its source, field path and what was expected.
func (d *Definition) Validate() error {
	var errs strictyaml.Errors
	bad := func(field, format string, args ...any) {
		errs = append(errs, d.errorf(field, format, args...))
	}
	x := d.XBerth
	switch {
	case d.Image == "" && x.Rootfs == nil:
		bad("", "expected image (an OCI reference) or x-berth.rootfs (a built-in's recipe)")
	case d.Image != "" && x.Rootfs != nil:
		bad("image", "expected image or x-berth.rootfs, not both")
	}
	if d.Image != "" {
		if _, err := reference.ParseNormalizedNamed(d.Image); err != nil {
			bad("image", "expected an image reference such as debian:12 or docker.io/library/debian:12, got %q (%v)", d.Image, err)
		}
	}
	argv := d.argv(nil)
	if x.Rootfs != nil {
		// Built-ins: nothing comes from an image.
		switch {
		case len(argv) == 0:
			bad("command", "missing (expected the argv of the main process)")
		case !strings.HasPrefix(argv[0], "/"):
			field := "command[0]"
			if len(d.Entrypoint) > 0 {
				field = "entrypoint[0]"
			}
			bad(field, "expected an absolute path, got %q", argv[0])
		}
		if d.User != "" && !userRe.MatchString(d.User) {
			bad("user", "expected UID[:GID] (a built-in has no /etc/passwd to look names up in), got %q", d.User)
		}
		if d.ReadOnly != nil && !*d.ReadOnly {
			bad("read_only", "a built-in's rootfs is on the read-only root: drop read_only: false")
		}
	} else if d.User != "" && !nameUsrRe.MatchString(d.User) {
		bad("user", "expected USER[:GROUP], names or numbers, got %q", d.User)
	}
	if d.WorkingDir != "" && !strings.HasPrefix(d.WorkingDir, "/") {
		bad("working_dir", "expected an absolute path, got %q", d.WorkingDir)
	}
	restarts := "always, on-failure, \"no\" or unless-stopped"
	switch d.Restart {
	case "", "always", "on-failure", "no", "unless-stopped":
		if x.Kind == "oneshot" && (d.Restart == "always" || d.Restart == "unless-stopped") {
			bad("restart", "a oneshot runs to completion: expected \"no\" or on-failure, got %q", d.Restart)
		}
	default:
		bad("restart", "expected %s, got %q", restarts, d.Restart)
	}
	for _, c := range []struct {
		field string
		caps  []string
	}{{"cap_add", d.CapAdd}, {"cap_drop", d.CapDrop}} {
		for i, name := range c.caps {
			if name != "ALL" && normCap(name) == "" {
				bad(fmt.Sprintf("%s[%d]", c.field, i), "expected a capability such as NET_ADMIN or CAP_NET_ADMIN, or ALL, got %q", name)
			}
		}
	}
	for _, ns := range []struct{ field, v string }{{"pid", d.Pid}, {"ipc", d.Ipc}, {"uts", d.Uts}} {
		if ns.v != "" && ns.v != "host" {
			bad(ns.field, "expected host (or nothing, for a namespace of its own), got %q", ns.v)
		}
	}
	switch d.NetworkMode {
	case "", "host", "none":
	default:
		bad("network_mode", "expected host or none (a namespace of its own with loopback only; Berth has no container networks), got %q", d.NetworkMode)
	}
	for i, t := range d.Tmpfs {
		if _, err := parseTmpfs(t); err != nil {
			bad(fmt.Sprintf("tmpfs[%d]", i), "%v", err)
		}
	}
	for i, dev := range d.Devices {
		if _, err := parseDevice(dev); err != nil {
			bad(fmt.Sprintf("devices[%d]", i), "%v", err)
		}
	}
	for i, r := range d.DeviceCgroupRules {
		if !devRuleRe.MatchString(r) {
			bad(fmt.Sprintf("device_cgroup_rules[%d]", i), "expected TYPE MAJOR:MINOR ACCESS such as \"b *:* rwm\", got %q", r)
		}
	}
	for i, o := range d.SecurityOpt {
		switch o {
		case "seccomp=unconfined", "systempaths=unconfined", "no-new-privileges:false", "no-new-privileges:true", "no-new-privileges":
		default:
			bad(fmt.Sprintf("security_opt[%d]", i), "expected seccomp=unconfined, systempaths=unconfined or no-new-privileges:true|false, got %q", o)
		}
	}
	switch x.Sysfs {
	case "", "ro", "rw":
	default:
		bad("x-berth.sysfs", "expected ro or rw, got %q", x.Sysfs)
	}
	if d.PidsLimit < -1 {
		bad("pids_limit", "expected a positive number, or -1 for no limit, got %d", d.PidsLimit)
	}
	if d.OOMScoreAdj != nil && (*d.OOMScoreAdj < -1000 || *d.OOMScoreAdj > 1000) {
		bad("oom_score_adj", "expected -1000 to 1000, got %d", *d.OOMScoreAdj)
	}
	if d.Privileged && (len(d.DeviceCgroupRules) > 0 || len(d.SecurityOpt) > 0 || x.Sysfs != "") {
		bad("privileged", "a privileged service has every device, no seccomp and a writable /sys: drop device_cgroup_rules, security_opt and x-berth.sysfs, or privileged")
	}
	for i, dep := range d.DependsOn {
		if dep.Name == d.Name {
			bad(fmt.Sprintf("depends_on[%d]", i), "a service cannot depend on itself")
		}
	}
	switch x.Kind {
	case "", "oneshot":
	default:
		bad("x-berth.kind", "expected oneshot (or nothing, for a daemon), got %q", x.Kind)
	}
	if x.Kind == "oneshot" && x.Notify {
		bad("x-berth.notify", "a oneshot is done when it exits: drop notify")
	}
	for _, o := range []struct {
		field string
		names []string
	}{{"x-berth.after", x.After}, {"x-berth.before", x.Before}} {
		for i, n := range o.names {
			if n == d.Name || !nameRe.MatchString(n) {
				bad(fmt.Sprintf("%s[%d]", o.field, i), "expected the name of another service, got %q", n)
			}
		}
	}
	d.validateHealth(bad)
	d.validateCatalogue(bad)
	if r := x.Rootfs; r != nil {
		for dst, pkg := range r.Go {
			if !strings.HasPrefix(dst, "/") {
				bad(strictyaml.Join("x-berth.rootfs.go", dst), "expected an absolute install path")
			}
			if !strings.HasPrefix(pkg, "./") {
				bad(strictyaml.Join("x-berth.rootfs.go", dst), "expected a package path of this module such as ./services/network, got %q", pkg)
			}
		}
		for i, p := range r.Exclude {
			if !strings.HasPrefix(p, "/") || strings.Contains(p, "..") {
				bad(fmt.Sprintf("x-berth.rootfs.exclude[%d]", i), "expected an absolute path, got %q", p)
			}
		}
		if r.Debs == "" && len(r.Go) == 0 {
			bad("x-berth.rootfs", "empty (expected debs, go or both)")
		}
	}
	return errs.Err()
}

// validateCatalogue checks x-berth.console and x-berth.build.
func (d *Definition) validateCatalogue(bad func(field, format string, args ...any)) {
	x := d.XBerth
	if c := x.Console; c != nil {
		if d.Image == "" {
			bad("x-berth.console", "a console is a distribution's image: expected image, not x-berth.rootfs")
		}
		seen := map[string]bool{}
		for i, p := range c.Persist {
			field := fmt.Sprintf("x-berth.console.persist[%d]", i)
			switch {
			case !strings.HasPrefix(p, "/") || p == "/" || strings.Contains(p, "..") || path.Clean(p) != p:
				bad(field, "expected an absolute, clean path below / such as /home, got %q", p)
			case seen[p]:
				bad(field, "%s is listed twice", p)
			}
			seen[p] = true
		}
	}
	b := x.Build
	if b == nil {
		return
	}
	want := LocalRegistry + "/" + d.Name
	if d.Image != want {
		bad("image", "an image made by x-berth.build is named by the build: expected %s (no tag: the build tags it), got %q", want, d.Image)
	}
	if b.Debs == "" && len(b.Go) == 0 {
		bad("x-berth.build", "empty (expected debs, go or both)")
	}
	if b.Debs != "" && b.Package == "" {
		bad("x-berth.build.package", "missing (expected the package of set %s whose version tags the image)", b.Debs)
	}
	if b.Debs == "" && b.Package != "" {
		bad("x-berth.build.package", "a package's version tags the image only with debs: drop package or add debs")
	}
	for dst, pkg := range b.Go {
		if !strings.HasPrefix(dst, "/") {
			bad(strictyaml.Join("x-berth.build.go", dst), "expected an absolute install path")
		}
		if !strings.HasPrefix(pkg, "./") {
			bad(strictyaml.Join("x-berth.build.go", dst), "expected a package path of this module such as ./cmd/hostctl, got %q", pkg)
		}
	}
	for i, p := range b.Exclude {
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "..") {
			bad(fmt.Sprintf("x-berth.build.exclude[%d]", i), "expected an absolute path, got %q", p)
		}
	}
}

func (d *Definition) validateHealth(bad func(field, format string, args ...any)) {
	h, bc := d.Healthcheck, d.XBerth.Healthcheck
	if bc != nil {
		switch {
		case (bc.File == "") == (bc.Socket == ""):
			bad("x-berth.healthcheck", "expected exactly one of file and socket")
		case !strings.HasPrefix(bc.File+bc.Socket, "/"):
			bad("x-berth.healthcheck", "expected an absolute path, got %q", bc.File+bc.Socket)
		}
		if h != nil && len(h.Test) > 0 {
			bad("healthcheck.test", "x-berth.healthcheck is the test: drop one of them")
		}
		if h != nil && h.Disable {
			bad("healthcheck.disable", "x-berth.healthcheck is given: drop one of them")
		}
	}
	if h == nil {
		return
	}
	if h.Retries != nil && *h.Retries < 1 {
		bad("healthcheck.retries", "expected a positive number, got %d", *h.Retries)
	}
	for _, t := range []struct {
		field string
		v     *Duration
	}{{"interval", h.Interval}, {"timeout", h.Timeout}} {
		if t.v != nil && *t.v == 0 {
			bad("healthcheck."+t.field, "expected more than 0s")
		}
	}
	if len(h.Test) == 0 && !h.Disable && bc == nil && d.Image == "" {
		bad("healthcheck.test", "missing (a built-in has no image to take it from)")
	}
}

// knownDevices are the device nodes a service may ask for by path: the
// build cannot look at the host's /dev.
var knownDevices = map[string]device{
	"/dev/kmsg":    {1, 11, 0o644},
	"/dev/fuse":    {10, 229, 0o666},
	"/dev/net/tun": {10, 200, 0o666},
}

type device struct {
	major, minor int64
	mode         uint32
}

// deviceMap is one parsed entry of devices.
type deviceMap struct {
	dev          device
	path, access string
}

// parseDevice reads "HOST[:CONTAINER[:PERMS]]".
func parseDevice(s string) (deviceMap, error) {
	parts := strings.Split(s, ":")
	dev, ok := knownDevices[parts[0]]
	if !ok {
		names := make([]string, 0, len(knownDevices))
		for k := range knownDevices {
			names = append(names, k)
		}
		sort.Strings(names)
		return deviceMap{}, fmt.Errorf("unknown device %q (known: %s)", parts[0], strings.Join(names, ", "))
	}
	m := deviceMap{dev: dev, path: parts[0], access: "rwm"}
	if len(parts) > 1 {
		if !strings.HasPrefix(parts[1], "/dev/") {
			return deviceMap{}, fmt.Errorf("expected HOST[:CONTAINER[:PERMS]], CONTAINER a path under /dev, got %q", s)
		}
		m.path = parts[1]
	}
	if len(parts) > 2 {
		if !regexp.MustCompile(`^[rwm]{1,3}$`).MatchString(parts[2]) {
			return deviceMap{}, fmt.Errorf("expected PERMS of r, w and m, got %q", s)
		}
		m.access = parts[2]
	}
	if len(parts) > 3 {
		return deviceMap{}, fmt.Errorf("expected HOST[:CONTAINER[:PERMS]], got %q", s)
	}
	return m, nil
}

// parseTmpfs reads "PATH[:OPTS]", OPTS a comma list of size=SIZE and
// mode=OCTAL; it returns the mount options.
func parseTmpfs(s string) ([]string, error) {
	path, opts, _ := strings.Cut(s, ":")
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("expected an absolute path, got %q", s)
	}
	out := []string{"nosuid", "nodev", "mode=755"}
	if opts == "" {
		return out, nil
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "size":
			if _, err := strconv.ParseUint(strings.TrimRight(v, "kmg"), 10, 64); err != nil || v == "" {
				return nil, fmt.Errorf("expected size=N[k|m|g], got %q in %q", o, s)
			}
			out = append(out, o)
		case "mode":
			if _, err := strconv.ParseUint(v, 8, 32); err != nil {
				return nil, fmt.Errorf("expected mode=OCTAL, got %q in %q", o, s)
			}
			out[2] = o
		default:
			return nil, fmt.Errorf("unknown option %q in %q (expected size= or mode=)", o, s)
		}
	}
	return out, nil
}

// normCap returns the capability's name as the spec has it (CAP_NET_ADMIN
// for net_admin, NET_ADMIN or CAP_NET_ADMIN), or "" when there is none.
func normCap(s string) string {
	c := strings.ToUpper(s)
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	if slices.Contains(allCaps, c) {
		return c
	}
	return ""
}
