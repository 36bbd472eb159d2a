// Package services reads service definitions and turns each into the OCI
// runtime spec its container runs with, and into the runtime settings
// (service.json) PID 1 supervises it by. A definition is a Compose
// Specification service (Compose's key names and meanings), with Berth's
// own keys under the extension key x-berth. Built-ins live in
// services/<name>/service.yaml: the build writes their spec next to their
// pre-extracted rootfs, and PID 1 adds only what is known at boot (notify
// socket, environment). Services with an image get their spec at run time,
// from the image's config and its snapshot (SpecFor).
//
// A file is a Compose document:
//
//	services:
//	  NAME:
//	    command: [/usr/bin/x]
//	    ...
//	    x-berth:
//	      rootfs: {go: {/usr/bin/x: ./services/x}}
//	x-anything: ignored, as Compose does with x- keys
//
// Converting a service.yaml of the earlier format (mechanical):
//
//	name: N                    → services: {N: ...} (the rest indented under it)
//	description, rootfs,       → x-berth.description, x-berth.rootfs,
//	notify, sysfs                x-berth.notify, x-berth.sysfs
//	env: [K=V]                 → environment: [K=V]
//	restart: never             → restart: "no"
//	capabilities: [CAP_X...]   → cap_drop: [ALL] and cap_add: [CAP_X...]
//	capabilities: [ALL]        → cap_add: [ALL]
//	no capabilities            → cap_drop: [ALL] and cap_add: [CAP_CHOWN,
//	                             CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID,
//	                             CAP_KILL, CAP_SETGID, CAP_SETUID] (the old
//	                             default; Compose's is containerd's)
//	host_namespaces: [net]     → network_mode: host
//	host_namespaces: [pid|ipc|uts] → pid: host, ipc: host, uts: host
//	binds: [...]               → volumes: [...] (same syntax)
//	command, tmpfs, devices, device_cgroup_rules, security_opt,
//	privileged, mem_limit, pids_limit, oom_score_adj: unchanged
package services

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/strictyaml"
	"go.yaml.in/yaml/v3"
)

// Definition is one service: the Compose keys, then Berth's.
type Definition struct {
	// Image is an OCI image reference. Exactly one of Image and
	// XBerth.Rootfs is set: built-ins are made by the build, catalogue and
	// user services are pulled.
	Image string `yaml:"image"`
	// Entrypoint and Command make the main process's argv, entrypoint
	// first; each overrides the image's.
	Entrypoint Command `yaml:"entrypoint"`
	Command    Command `yaml:"command"`
	// Environment is added to (and overrides) the image's.
	Environment KeyValues `yaml:"environment"`
	// User is UID[:GID], or a name the image's /etc/passwd knows.
	User       string `yaml:"user"`
	WorkingDir string `yaml:"working_dir"`
	// Privileged: every capability, every device, no seccomp, writable /sys.
	Privileged bool `yaml:"privileged"`
	// CapAdd and CapDrop change containerd's default capability set, as
	// Compose does: cap_drop: [ALL] starts from none, cap_add: [ALL] keeps
	// every one but those dropped. CAP_ may be left out.
	CapAdd  []string `yaml:"cap_add"`
	CapDrop []string `yaml:"cap_drop"`
	// ReadOnly is the root filesystem's; Berth's default is true (Compose's
	// is false). A built-in's rootfs is on the read-only root in any case.
	ReadOnly *bool `yaml:"read_only"`
	// SecurityOpt, as Compose's security_opt: "seccomp=unconfined" (the
	// default is containerd's profile, given the service's capabilities),
	// "systempaths=unconfined" (no masked or read-only /proc and /sys
	// paths) and "no-new-privileges:false" (the default is true).
	SecurityOpt []string `yaml:"security_opt"`
	// Devices are extra device nodes for a non-privileged service:
	// "HOST[:CONTAINER[:PERMS]]", HOST one Berth knows (e.g. /dev/kmsg).
	Devices []string `yaml:"devices"`
	// DeviceCgroupRules let a non-privileged service open host device
	// nodes it reaches through a bind of /dev: "TYPE MAJOR:MINOR ACCESS",
	// TYPE c, b or a, MAJOR and MINOR a number or *, ACCESS of r, w, m.
	DeviceCgroupRules []string `yaml:"device_cgroup_rules"`
	// Volumes are host paths mounted into the container.
	Volumes []Volume `yaml:"volumes"`
	// Tmpfs are paths given a fresh tmpfs.
	Tmpfs Strings `yaml:"tmpfs"`
	// NetworkMode is host (the host's network namespace) or none (the
	// default: a namespace of its own with only loopback).
	NetworkMode string `yaml:"network_mode"`
	// Pid, Ipc and Uts are host, or empty for a namespace of its own.
	Pid string `yaml:"pid"`
	Ipc string `yaml:"ipc"`
	Uts string `yaml:"uts"`
	// Restart is always (Berth's default), on-failure, "no" or
	// unless-stopped (the same as always: a stopped service stays
	// stopped). A oneshot's default is "no".
	Restart     string       `yaml:"restart"`
	DependsOn   DependsOn    `yaml:"depends_on"`
	Healthcheck *Healthcheck `yaml:"healthcheck"`
	Labels      KeyValues    `yaml:"labels"`
	// MemLimit caps the service's cgroup memory, with no swap beyond it;
	// Cpus its CPU time (a cgroup quota); PidsLimit its number of tasks
	// (-1: no limit); OOMScoreAdj ranks it for the OOM killer (-1000 to
	// 1000). Every system service sets memory, pids and OOM score, so
	// that a runaway one is stopped in its own cgroup and never takes
	// PID 1 or containerd (oom_score_adj -999) with it.
	MemLimit    Bytes `yaml:"mem_limit"`
	Cpus        CPUs  `yaml:"cpus"`
	PidsLimit   int64 `yaml:"pids_limit"`
	OOMScoreAdj *int  `yaml:"oom_score_adj"`

	XBerth Berth `yaml:"x-berth"`

	// Name is the key under services.
	Name string `yaml:"-"`
	// Source is the file (or other origin) it was read from, and Path its
	// field path there (services.NAME), for messages.
	Source string `yaml:"-"`
	Path   string `yaml:"-"`
	// Dir is the folder a built-in's definition was read from.
	Dir string `yaml:"-"`

	dec *strictyaml.Decoder // the lines of its fields
}

// Berth is what Compose lacks, under x-berth.
type Berth struct {
	Description string `yaml:"description"`
	// Rootfs is a built-in's build recipe.
	Rootfs *Rootfs `yaml:"rootfs"`
	// Notify: the service sends READY=1 to $NOTIFY_SOCKET when it is ready,
	// and only then counts as started.
	Notify bool `yaml:"notify"`
	// Kind is empty (a daemon) or oneshot: it runs to completion, and what
	// depends on it or comes after it starts when it has exited 0.
	Kind string `yaml:"kind"`
	// After and Before order starts without requiring the other service:
	// this one starts after (before) those of the set.
	After  []string `yaml:"after"`
	Before []string `yaml:"before"`
	// Healthcheck is a check Compose lacks: a file or a unix socket that
	// exists. Compose's healthcheck (without test) gives its timing.
	Healthcheck *BerthCheck `yaml:"healthcheck"`
	// Sysfs is ro (default) or rw: a service that writes /sys (udev's
	// coldplug) says so.
	Sysfs string `yaml:"sysfs"`
	// Console marks a service that can be the host's console (a catalogue
	// entry such as console-ubuntu). How a console is started and switched
	// is PID 1's; this is only the definition.
	Console *Console `yaml:"console"`
	// Build says how `berth build` makes the service's image: a catalogue
	// entry made from Debian packages. Its image is then
	// berth.local/NAME, tagged by the build.
	Build *ImageBuild `yaml:"build"`
}

// Console is x-berth.console.
type Console struct {
	// Persist are the console's folders kept across reboots and console
	// switches (on the state partition), e.g. /home, /root, /opt.
	Persist []string `yaml:"persist"`
}

// ImageBuild is x-berth.build: the recipe of a catalogue image, as
// x-berth.rootfs is a built-in's.
type ImageBuild struct {
	// Debs is a package set of images/packages.lock.
	Debs string `yaml:"debs"`
	// Package is the package of the set whose version tags the image
	// (berth.local/docker:20.10.24_dfsg1-1_deb12u1).
	Package string `yaml:"package"`
	// Go maps an install path to a Go main package of this module.
	Go map[string]string `yaml:"go"`
	// Exclude lists paths (files or folders) of the packages left out of
	// the image. The build fails on one the packages do not have: a stale
	// exclusion. Documentation, manuals and translations are never
	// extracted (deb.DefaultKeep).
	Exclude []string `yaml:"exclude"`
}

// LocalRegistry is the registry name of the images `berth build` makes:
// no registry answers to it; the images are preloaded or pushed under
// another name (berth push).
const LocalRegistry = "berth.local"

// BerthCheck is x-berth.healthcheck: exactly one of File and Socket, a
// path in the service's mount namespace.
type BerthCheck struct {
	File   string `yaml:"file"`
	Socket string `yaml:"socket"`
}

// Healthcheck is Compose's healthcheck.
type Healthcheck struct {
	Test        HealthTest `yaml:"test"`
	Interval    *Duration  `yaml:"interval"`     // 30s
	Timeout     *Duration  `yaml:"timeout"`      // 30s
	Retries     *int       `yaml:"retries"`      // 3
	StartPeriod *Duration  `yaml:"start_period"` // 0
	Disable     bool       `yaml:"disable"`
}

// Rootfs says what a built-in's root filesystem is made of.
type Rootfs struct {
	// Debs is a package set of images/packages.lock.
	Debs string `yaml:"debs"`
	// Go maps an install path to a Go main package of this module,
	// e.g. /usr/bin/berth-network: ./services/network.
	Go map[string]string `yaml:"go"`
	// Files is a folder, relative to the service folder, copied over the rootfs.
	Files string `yaml:"files"`
	// Exclude lists paths (files or folders) of the packages left out of
	// the rootfs, e.g. data the service never reads. The build fails on
	// one the packages do not have, as for ImageBuild.Exclude.
	Exclude []string `yaml:"exclude"`
}

// ShimGroupAnnotation makes containerd's runc shim serve every container
// with the same value from one process.
const ShimGroupAnnotation = "io.containerd.runc.v2.group"

// RootfsPath is the absolute path of a built-in's rootfs on the host.
func RootfsPath(name string) string { return layout.ServicesDir + "/" + name + "/rootfs" }

var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Load reads and validates services/<name>/service.yaml under dir: a
// built-in, the one service of its file, named as its folder.
func Load(dir, name string) (*Definition, error) {
	p := filepath.Join(dir, name, "service.yaml")
	defs, err := loadOne(p, name, "service", "folder")
	if err != nil {
		return nil, err
	}
	defs[0].Dir = filepath.Join(dir, name)
	return defs[0], nil
}

// Parse reads and validates a Compose document of services: a file, the
// body of a URL, or any other text; source names it in errors. Each
// definition is validated on its own; ValidateSet checks them together.
func Parse(data []byte, source string) ([]*Definition, error) {
	doc, err := strictyaml.Parse(data)
	if err != nil {
		return nil, strictyaml.ParseError(source, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, strictyaml.Errors{{Source: source, Msg: "empty (expected a services: map)"}}
	}
	return ParseNode(doc.Content[0], source, "")
}

// ParseNode reads and validates the Compose document at node n, found at
// field path in source: cloud-config hands its inline definitions over
// this way. Every problem is reported, with its source, line and path.
func ParseNode(n *yaml.Node, source, path string) ([]*Definition, error) {
	dec := &strictyaml.Decoder{Source: source}
	var errs strictyaml.Errors
	fail := func(n *yaml.Node, p, format string, args ...any) {
		errs = append(errs, &strictyaml.FieldError{Source: source, Line: n.Line, Path: p, Msg: fmt.Sprintf(format, args...)})
	}
	if n.Kind != yaml.MappingNode {
		fail(n, path, "expected a map with services:, got %s", strictyaml.Describe(n))
		return nil, errs
	}
	var defs []*Definition
	found := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := strictyaml.Join(path, k.Value)
		switch {
		case k.Value == "services":
			if found {
				fail(k, p, "duplicate key")
				continue
			}
			found = true
			if v.Kind != yaml.MappingNode {
				fail(v, p, "expected a map of service name to service, got %s", strictyaml.Describe(v))
				continue
			}
			seen := map[string]bool{}
			for j := 0; j+1 < len(v.Content); j += 2 {
				sk, sv := v.Content[j], v.Content[j+1]
				sp := strictyaml.Join(p, sk.Value)
				if seen[sk.Value] {
					fail(sk, sp, "duplicate service")
					continue
				}
				seen[sk.Value] = true
				if !nameRe.MatchString(sk.Value) {
					fail(sk, sp, "expected a name of lowercase letters, digits and dashes, got %q", sk.Value)
					continue
				}
				d := &Definition{Name: sk.Value, Source: source, Path: sp, dec: dec}
				var decErrs strictyaml.Errors
				if err := dec.DecodeNodeAt(sv, sp, d); err != nil {
					decErrs = err.(strictyaml.Errors)
					errs = append(errs, decErrs...)
				}
				addLines(dec.Lines, sv, sp, 3)
				// Validation runs on what did decode, so that every problem
				// is reported at once; it is quiet about the fields that
				// did not (a missing value would be a second message).
				if err := d.Validate(); err != nil {
					for _, e := range err.(strictyaml.Errors) {
						if !slices.ContainsFunc(decErrs, func(de *strictyaml.FieldError) bool { return related(de.Path, e.Path) }) {
							errs = append(errs, e)
						}
					}
				}
				if len(decErrs) == 0 {
					defs = append(defs, d)
				}
			}
		case strings.HasPrefix(k.Value, "x-"):
		default:
			fail(k, p, "unknown key (expected services or an x- extension; a service's keys go under services.NAME)")
		}
	}
	if !found && len(errs) == 0 {
		fail(n, path, "no services: map")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return defs, nil
}

// addLines records the line of every field below path that decoding did
// not (those inside the values that decode themselves, such as each entry
// of depends_on), for the messages of validation, down to depth levels
// below path: validation looks no deeper, and an alias bomb is not walked.
func addLines(lines map[string]int, n *yaml.Node, path string, depth int) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if _, ok := lines[path]; !ok {
		lines[path] = n.Line
	}
	if depth == 0 {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			addLines(lines, n.Content[i+1], strictyaml.Join(path, n.Content[i].Value), depth-1)
		}
	case yaml.SequenceNode:
		for i, it := range n.Content {
			addLines(lines, it, fmt.Sprintf("%s[%d]", path, i), depth-1)
		}
	}
}

// related says whether one field path is the other or below it.
func related(a, b string) bool {
	below := func(p, q string) bool {
		return p == q || strings.HasPrefix(p, q) && (p[len(q)] == '.' || p[len(q)] == '[')
	}
	return below(a, b) || below(b, a)
}

// errorf makes a FieldError at field (below the service's path), with its
// line when the definition was decoded from YAML.
func (d *Definition) errorf(field, format string, args ...any) *strictyaml.FieldError {
	p := d.Path
	if field != "" {
		if p != "" {
			p += "."
		}
		p += field
	}
	if d.dec != nil {
		return d.dec.Error(p, format, args...)
	}
	return &strictyaml.FieldError{Source: d.Source, Path: p, Msg: fmt.Sprintf(format, args...)}
}

// loadOne reads and parses the file p, which holds exactly one service,
// named name: a built-in (what "service", named as its "folder") or a
// catalogue entry ("catalogue entry", "file").
func loadOne(p, name, what, namedAs string) ([]*Definition, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", what, name, err)
	}
	defs, err := Parse(data, p)
	if err != nil {
		return nil, err
	}
	if len(defs) != 1 || defs[0].Name != name {
		var names []string
		for _, d := range defs {
			names = append(names, d.Name)
		}
		return nil, &strictyaml.FieldError{Source: p, Path: "services",
			Msg: fmt.Sprintf("expected exactly one service, named %q as its %s, got %q", name, namedAs, names)}
	}
	return defs, nil
}
