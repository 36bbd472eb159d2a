package services

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.yaml.in/yaml/v3"
)

func parseOne(t *testing.T, doc string) *Definition {
	t.Helper()
	defs, err := Parse([]byte(doc), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) != 1 {
		t.Fatalf("%d definitions, want 1", len(defs))
	}
	return defs[0]
}

func ptr[T any](v T) *T { return &v }

// Every key, in its first shape: what it decodes to.
func TestParseEveryKey(t *testing.T) {
	d := parseOne(t, `services:
  web:
    image: registry.local:5000/web:V1.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    entrypoint: [/bin/web]
    command: [--port, "80"]
    environment: [A=1, B=two=2]
    user: "1000:100"
    working_dir: /srv
    privileged: false
    cap_add: [NET_ADMIN, cap_sys_time]
    cap_drop: [MKNOD]
    read_only: false
    security_opt: [seccomp=unconfined]
    devices: ["/dev/fuse:/dev/fuse:rw"]
    device_cgroup_rules: ["c 10:* rwm"]
    volumes: ["/srv:/srv:ro", {type: bind, source: /mnt, target: /mnt, bind: {propagation: rslave}}]
    tmpfs: /cache:size=16m,mode=1777
    network_mode: host
    pid: host
    ipc: host
    uts: host
    restart: on-failure
    depends_on: [db]
    healthcheck: {test: [CMD, /bin/check, -q], interval: 5s, timeout: 2s, retries: 4, start_period: 1m}
    labels: {tier: front, port: 80}
    mem_limit: 256m
    cpus: 1.5
    pids_limit: 100
    oom_score_adj: 10
    x-berth:
      description: A web server.
      notify: true
      after: [logging]
      before: [console]
      sysfs: ro
x-note: ignored
`)
	want := &Definition{
		Image: "registry.local:5000/web:V1.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Entrypoint: Command{"/bin/web"}, Command: Command{"--port", "80"},
		Environment: KeyValues{"A=1", "B=two=2"}, User: "1000:100", WorkingDir: "/srv",
		CapAdd: []string{"NET_ADMIN", "cap_sys_time"}, CapDrop: []string{"MKNOD"}, ReadOnly: ptr(false),
		SecurityOpt: []string{"seccomp=unconfined"}, Devices: []string{"/dev/fuse:/dev/fuse:rw"},
		DeviceCgroupRules: []string{"c 10:* rwm"},
		Volumes: []Volume{
			{Bind: Bind{Source: "/srv", Target: "/srv", ReadOnly: true}, Text: "/srv:/srv:ro"},
			{Bind: Bind{Source: "/mnt", Target: "/mnt", Recursive: true, Slave: true}, Text: "/mnt:/mnt"},
		},
		Tmpfs: Strings{"/cache:size=16m,mode=1777"}, NetworkMode: "host", Pid: "host", Ipc: "host", Uts: "host",
		Restart:   "on-failure",
		DependsOn: DependsOn{{Name: "db", Condition: ServiceStarted, Required: true}},
		Healthcheck: &Healthcheck{Test: HealthTest{"CMD", "/bin/check", "-q"}, Interval: ptr(Duration(5 * time.Second)),
			Timeout: ptr(Duration(2 * time.Second)), Retries: ptr(4), StartPeriod: ptr(Duration(time.Minute))},
		Labels: KeyValues{"tier=front", "port=80"}, MemLimit: 256 << 20, Cpus: 1.5, PidsLimit: 100, OOMScoreAdj: ptr(10),
		XBerth: Berth{Description: "A web server.", Notify: true, After: []string{"logging"}, Before: []string{"console"}, Sysfs: "ro"},
		Name:   "web", Source: "test.yaml", Path: "services.web",
	}
	if diff := cmp.Diff(want, d, cmpopts.IgnoreUnexported(Definition{})); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// The other shapes Compose allows for the same keys.
func TestParseShapes(t *testing.T) {
	d := parseOne(t, `services:
  x:
    command: /bin/sh -c 'echo "a b"' "c\"d" e\ f
    environment: {A: 1, B: "two", C: true}
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_completed_successfully, required: false}
      up: {}
    healthcheck: {test: "curl -f http://localhost/"}
    tmpfs: [/a, /b]
    labels: [x=1]
    mem_limit: 1048576
    cpus: "0.25"
    x-berth:
      rootfs: {go: {/bin/sh: ./x}}
      kind: oneshot
`)
	if diff := cmp.Diff(Command{"/bin/sh", "-c", `echo "a b"`, `c"d`, "e f"}, d.Command); diff != "" {
		t.Errorf("command (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(KeyValues{"A=1", "B=two", "C=true"}, d.Environment); diff != "" {
		t.Errorf("environment (-want +got)\n%s", diff)
	}
	wantDeps := DependsOn{{"db", ServiceHealthy, true}, {"cache", ServiceCompletedSuccessfully, false}, {"up", ServiceStarted, true}}
	if diff := cmp.Diff(wantDeps, d.DependsOn); diff != "" {
		t.Errorf("depends_on (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(HealthTest{"CMD-SHELL", "curl -f http://localhost/"}, d.Healthcheck.Test); diff != "" {
		t.Errorf("healthcheck.test (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(Strings{"/a", "/b"}, d.Tmpfs); diff != "" {
		t.Errorf("tmpfs (-want +got)\n%s", diff)
	}
	if d.MemLimit != 1<<20 || d.Cpus != 0.25 || d.XBerth.Kind != "oneshot" || d.Labels.Map()["x"] != "1" {
		t.Errorf("mem_limit %d, cpus %v, kind %q, labels %v", d.MemLimit, d.Cpus, d.XBerth.Kind, d.Labels)
	}
}

// Every key's wrong values: all reported at once, each with the file, its
// line and its field path.
func TestParseErrors(t *testing.T) {
	_, err := Parse([]byte(`services:
  bad:
    image: Not An Image
    x-berth: {rootfs: {go: {usr/bin/x: services/x}, exclude: [../x]}, kind: daemon, sysfs: writable, after: [bad], healthcheck: {file: /a, socket: /b}}
    command: bin/x
    environment: [A]
    user: "root:"
    working_dir: srv
    cap_add: [NET_ADMIN, NET_FLY]
    cap_drop: [nope]
    read_only: false
    security_opt: [apparmor=unconfined]
    devices: [/dev/sda, "/dev/kmsg:/kmsg"]
    device_cgroup_rules: ["b 8:* rwm", "x 1:1 r", "c 1:1"]
    volumes: [/a, "/a:/b:weird", data:/data, {type: volume, source: x, target: /x}]
    tmpfs: [run, "/t:uid=0"]
    network_mode: bridge
    pid: private
    restart: sometimes
    depends_on: {db: {condition: service_ready}}
    healthcheck: {test: [CMD-SHELL], interval: 5, retries: 0}
    labels: {a: [1]}
    mem_limit: lots
    cpus: many
    pids_limit: -2
    oom_score_adj: -2000
    privileged: yes please
  Upper: {}
  two:
    image: x
    restart: always
    x-berth: {kind: oneshot, notify: true}
    depends_on: [two]
    healthcheck: {timeout: 0s}
unknown: 1
`), "svc.yaml")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`svc.yaml:3: services.bad.image: expected an image reference such as debian:12 or docker.io/library/debian:12, got "Not An Image" (invalid reference format: repository name (library/Not An Image) must be lowercase)`,
		`svc.yaml:3: services.bad.image: expected image or x-berth.rootfs, not both`,
		`svc.yaml:5: services.bad.command[0]: expected an absolute path, got "bin/x"`,
		`svc.yaml:6: services.bad.environment: [0]: expected KEY=VALUE, got "A"`,
		`svc.yaml:7: services.bad.user: expected UID[:GID] (a built-in has no /etc/passwd to look names up in), got "root:"`,
		`svc.yaml:8: services.bad.working_dir: expected an absolute path, got "srv"`,
		`svc.yaml:9: services.bad.cap_add[1]: expected a capability such as NET_ADMIN or CAP_NET_ADMIN, or ALL, got "NET_FLY"`,
		`svc.yaml:10: services.bad.cap_drop[0]: expected a capability such as NET_ADMIN or CAP_NET_ADMIN, or ALL, got "nope"`,
		`svc.yaml:11: services.bad.read_only: a built-in's rootfs is on the read-only root: drop read_only: false`,
		`svc.yaml:12: services.bad.security_opt[0]: expected seccomp=unconfined, systempaths=unconfined or no-new-privileges:true|false, got "apparmor=unconfined"`,
		`svc.yaml:13: services.bad.devices[0]: unknown device "/dev/sda" (known: /dev/fuse, /dev/kmsg, /dev/net/tun)`,
		`svc.yaml:13: services.bad.devices[1]: expected HOST[:CONTAINER[:PERMS]], CONTAINER a path under /dev, got "/dev/kmsg:/kmsg"`,
		`svc.yaml:14: services.bad.device_cgroup_rules[1]: expected TYPE MAJOR:MINOR ACCESS such as "b *:* rwm", got "x 1:1 r"`,
		`svc.yaml:14: services.bad.device_cgroup_rules[2]: expected TYPE MAJOR:MINOR ACCESS such as "b *:* rwm", got "c 1:1"`,
		`svc.yaml:15: services.bad.volumes[0]: expected SRC:DST[:OPTS], got "/a"`,
		`svc.yaml:15: services.bad.volumes[1]: unknown option "weird" in "/a:/b:weird" (expected ro, rw, rbind, rslave, rshared)`,
		`svc.yaml:15: services.bad.volumes[2]: expected absolute paths, got "data:/data"`,
		`svc.yaml:15: services.bad.volumes[3]: type: expected bind (Berth has no named volumes), got "volume"`,
		`svc.yaml:16: services.bad.tmpfs[0]: expected an absolute path, got "run"`,
		`svc.yaml:16: services.bad.tmpfs[1]: unknown option "uid=0" in "/t:uid=0" (expected size= or mode=)`,
		`svc.yaml:17: services.bad.network_mode: expected host or none (a namespace of its own with loopback only; Berth has no container networks), got "bridge"`,
		`svc.yaml:18: services.bad.pid: expected host (or nothing, for a namespace of its own), got "private"`,
		`svc.yaml:19: services.bad.restart: expected always, on-failure, "no" or unless-stopped, got "sometimes"`,
		`svc.yaml:20: services.bad.depends_on: db.condition: expected service_started, service_healthy or service_completed_successfully, got the string "service_ready"`,
		`svc.yaml:21: services.bad.healthcheck.test: expected [CMD, ...], [CMD-SHELL, command], [NONE] or a string, got ["CMD-SHELL"]`,
		`svc.yaml:21: services.bad.healthcheck.interval: expected a duration such as 30s or 1m30s, got the integer 5`,
		`svc.yaml:22: services.bad.labels: a: expected a string, number or boolean, got a list`,
		`svc.yaml:23: services.bad.mem_limit: expected a size such as 128M, got the string "lots"`,
		`svc.yaml:24: services.bad.cpus: expected a number of CPUs such as 0.5, got the string "many"`,
		`svc.yaml:27: services.bad.privileged: expected a boolean (true or false), got the string "yes please"`,
		`svc.yaml:28: services.Upper: expected a name of lowercase letters, digits and dashes, got "Upper"`,
		`svc.yaml:35: unknown: unknown key (expected services or an x- extension; a service's keys go under services.NAME)`,
	} {
		if !strings.Contains(err.Error(), want+"\n") && !strings.HasSuffix(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	// Validation runs once decoding succeeded: the second service.
	_, err = Parse([]byte(`services:
  bad:
    command: bin/x
    user: "root:"
    read_only: false
    restart: sometimes
    pids_limit: -2
    oom_score_adj: -2000
    x-berth: {rootfs: {go: {usr/bin/x: services/x}, exclude: [../x]}, kind: daemon, sysfs: writable, after: [bad], healthcheck: {file: /a, socket: /b}}
    healthcheck: {retries: 0, disable: true}
  empty:
    x-berth: {rootfs: {}}
    privileged: true
    security_opt: [seccomp=unconfined]
  two:
    image: x
    restart: always
    x-berth: {kind: oneshot, notify: true, healthcheck: {socket: run/x}}
    depends_on: [two]
    healthcheck: {timeout: 0s, test: [NONE]}
`), "svc.yaml")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`svc.yaml:3: services.bad.command[0]: expected an absolute path, got "bin/x"`,
		`svc.yaml:4: services.bad.user: expected UID[:GID]`,
		`svc.yaml:6: services.bad.restart: expected always, on-failure, "no" or unless-stopped, got "sometimes"`,
		`svc.yaml:7: services.bad.pids_limit: expected a positive number, or -1 for no limit, got -2`,
		`svc.yaml:8: services.bad.oom_score_adj: expected -1000 to 1000, got -2000`,
		`svc.yaml:9: services.bad.x-berth.sysfs: expected ro or rw, got "writable"`,
		`svc.yaml:9: services.bad.x-berth.kind: expected oneshot (or nothing, for a daemon), got "daemon"`,
		`svc.yaml:9: services.bad.x-berth.after[0]: expected the name of another service, got "bad"`,
		`svc.yaml:9: services.bad.x-berth.healthcheck: expected exactly one of file and socket`,
		`svc.yaml:9: services.bad.x-berth.rootfs.go."usr/bin/x": expected an absolute install path`,
		`services.bad.x-berth.rootfs.go."usr/bin/x": expected a package path of this module such as ./services/network, got "services/x"`,
		`svc.yaml:9: services.bad.x-berth.rootfs.exclude[0]: expected an absolute path, got "../x"`,
		`svc.yaml:10: services.bad.healthcheck.retries: expected a positive number, got 0`,
		`svc.yaml:10: services.bad.healthcheck.disable: x-berth.healthcheck is given: drop one of them`,
		`svc.yaml:11: services.empty: expected image (an OCI reference) or x-berth.rootfs (a built-in's recipe)`[:0] + `svc.yaml:12: services.empty.x-berth.rootfs: empty (expected debs, go or both)`,
		`svc.yaml:12: services.empty.command: missing (expected the argv of the main process)`,
		`svc.yaml:13: services.empty.privileged: a privileged service has every device, no seccomp and a writable /sys: drop device_cgroup_rules, security_opt and x-berth.sysfs, or privileged`,
		`svc.yaml:17: services.two.restart: a oneshot runs to completion: expected "no" or on-failure, got "always"`,
		`svc.yaml:18: services.two.x-berth.notify: a oneshot is done when it exits: drop notify`,
		`svc.yaml:18: services.two.x-berth.healthcheck: expected an absolute path, got "run/x"`,
		`svc.yaml:20: services.two.healthcheck.test: x-berth.healthcheck is the test: drop one of them`,
		`svc.yaml:19: services.two.depends_on[0]: a service cannot depend on itself`,
		`svc.yaml:20: services.two.healthcheck.timeout: expected more than 0s`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("error:\n%v", err)
	}
}

// The document around the services.
func TestParseDocument(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", "", "f.yaml: empty (expected a services: map)"},
		{"list", "[a]", "f.yaml:1: expected a map with services:, got a list"},
		{"no services", "x-a: 1\n", "f.yaml:1: no services: map"},
		{"services a list", "services: [a]\n", "f.yaml:1: services: expected a map of service name to service, got a list"},
		{"unknown key", "services: {}\nnetworks: {}\n", "f.yaml:2: networks: unknown key (expected services or an x- extension; a service's keys go under services.NAME)"},
		{"duplicate", "services:\n  a: {image: a}\n  a: {image: b}\n", "f.yaml:3: services.a: duplicate service"},
		{"unknown service key", "services:\n  a: {image: a, ports: [80]}\n", `f.yaml:2: services.a.ports: unknown key`},
		{"unknown x-berth key", "services:\n  a: {image: a, x-berth: {oom: 1}}\n", `f.yaml:2: services.a.x-berth.oom: unknown key`},
		{"not yaml", "services: [", "f.yaml:1: not valid YAML"},
		// A field that did not decode is not also reported as missing.
		{"one message a field", "services:\n  a: {command: 5, x-berth: {rootfs: {go: {/a: ./a}}}}\n",
			"f.yaml:2: services.a.command: expected a list of strings or a string, got the integer 5\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "f.yaml")
			if whole, ok := strings.CutSuffix(tc.want, "\x00"); ok {
				if err == nil || err.Error() != whole {
					t.Errorf("got %v\nwant %s", err, whole)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %s...", err, tc.want)
			}
		})
	}
	defs, err := Parse([]byte("x-common: &c {restart: \"no\"}\nservices:\n  a: {image: a}\n  b: {image: b}\n"), "f.yaml")
	if err != nil || len(defs) != 2 || defs[1].Name != "b" || defs[1].Image != "b" {
		t.Errorf("two services: %v, %v", defs, err)
	}
}

// cloud-config hands a node over, at its own path.
func TestParseNode(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("berth:\n  services:\n    define:\n      services:\n        web: {image: web, restart: maybe}\n"), &doc); err != nil {
		t.Fatal(err)
	}
	n := doc.Content[0].Content[1].Content[1].Content[1]
	_, err := ParseNode(n, "user-data", "berth.services.define")
	want := `user-data:5: berth.services.define.services.web.restart: expected always, on-failure, "no" or unless-stopped, got "maybe"`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// cap_add and cap_drop as Compose means them.
func TestCapabilities(t *testing.T) {
	for _, tc := range []struct {
		name      string
		add, drop []string
		priv      bool
		want      []string
	}{
		{"containerd's default", nil, nil, false, defaultCaps},
		{"add to the default", []string{"net_admin"}, []string{"CAP_MKNOD", "NET_RAW"}, false,
			[]string{"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_ADMIN",
				"CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"}},
		{"only those added", []string{"SYS_TIME", "CAP_KILL"}, []string{"ALL"}, false, []string{"CAP_KILL", "CAP_SYS_TIME"}},
		{"all but those dropped", []string{"ALL"}, []string{"SYS_ADMIN"}, false, nil},
		{"privileged", nil, []string{"ALL"}, true, allCaps},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Definition{CapAdd: tc.add, CapDrop: tc.drop, Privileged: tc.priv}
			got := d.Capabilities()
			want := tc.want
			if want == nil {
				for _, c := range allCaps {
					if c != "CAP_SYS_ADMIN" {
						want = append(want, c)
					}
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// A service with an image: its spec from the image's config and its
// snapshot, the definition overriding.
func TestSpecFor(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nwww:x:33:34::/var/www:/bin/false\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nstaff:x:50:\n"), 0o644)
	img := ocispec.ImageConfig{
		Entrypoint: []string{"/docker-entrypoint.sh"}, Cmd: []string{"nginx", "-g", "daemon off;"},
		Env: []string{"PATH=/usr/bin:/bin", "NGINX_VERSION=1.25"}, WorkingDir: "/usr/share/nginx", User: "www",
	}
	for _, tc := range []struct {
		name, doc string
		check     func(t *testing.T, s *specs.Spec)
	}{
		{"the image's", `{image: nginx}`, func(t *testing.T, s *specs.Spec) {
			want := &specs.Process{Args: []string{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"}, Env: img.Env,
				Cwd: "/usr/share/nginx", User: specs.User{UID: 33, GID: 34}}
			if diff := cmp.Diff(want, s.Process, cmpopts.IgnoreFields(specs.Process{}, "Capabilities", "Rlimits", "NoNewPrivileges")); diff != "" {
				t.Errorf("process (-want +got)\n%s", diff)
			}
			if s.Root.Path != root || !s.Root.Readonly {
				t.Errorf("root %+v", s.Root)
			}
		}},
		{"overridden", `{image: nginx, command: [nginx, -t], environment: {NGINX_VERSION: "2", X: "1"}, working_dir: /, user: "www:staff", read_only: false, cpus: 0.5}`,
			func(t *testing.T, s *specs.Spec) {
				want := &specs.Process{Args: []string{"/docker-entrypoint.sh", "nginx", "-t"},
					Env: []string{"PATH=/usr/bin:/bin", "NGINX_VERSION=2", "X=1"}, Cwd: "/", User: specs.User{UID: 33, GID: 50}}
				if diff := cmp.Diff(want, s.Process, cmpopts.IgnoreFields(specs.Process{}, "Capabilities", "Rlimits", "NoNewPrivileges")); diff != "" {
					t.Errorf("process (-want +got)\n%s", diff)
				}
				if s.Root.Readonly {
					t.Error("read_only: false gave a read-only root")
				}
				if c := s.Linux.Resources.CPU; c == nil || *c.Quota != 50000 || *c.Period != 100000 {
					t.Errorf("cpu %+v, want quota 50000 of 100000", c)
				}
			}},
		{"an empty entrypoint drops the image's", `{image: nginx, entrypoint: "", command: "nginx -t"}`, func(t *testing.T, s *specs.Spec) {
			if diff := cmp.Diff([]string{"nginx", "-t"}, s.Process.Args); diff != "" {
				t.Errorf("args (-want +got)\n%s", diff)
			}
		}},
		{"entrypoint drops the image's command", `{image: nginx, entrypoint: /bin/sh, user: "7"}`, func(t *testing.T, s *specs.Spec) {
			if diff := cmp.Diff([]string{"/bin/sh"}, s.Process.Args); diff != "" {
				t.Errorf("args (-want +got)\n%s", diff)
			}
			if s.Process.User.UID != 7 || s.Process.User.GID != 0 {
				t.Errorf("user %+v", s.Process.User)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := parseOne(t, "services:\n  web: "+tc.doc+"\n")
			s, err := d.SpecFor(root, img)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
	d := parseOne(t, "services:\n  web: {image: nginx, user: nobody}\n")
	if _, err := d.SpecFor(root, img); err == nil || err.Error() != `service web: user "nobody": no nobody in `+root+"/etc/passwd" {
		t.Errorf("unknown user: %v", err)
	}
	if _, err := d.Spec(); err == nil || !strings.Contains(err.Error(), "its spec is made when it is pulled (SpecFor)") {
		t.Errorf("Spec of an image service: %v", err)
	}
	if _, err := d.SpecFor(root, ocispec.ImageConfig{}); err == nil || err.Error() != "service web: image nginx has no entrypoint or command, and the service gives none" {
		t.Errorf("no argv: %v", err)
	}
}

func setOf(t *testing.T, doc string) []*Definition {
	t.Helper()
	defs, err := Parse([]byte(doc), "set.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return defs
}

func TestValidateSet(t *testing.T) {
	_, err := ValidateSet(setOf(t, `services:
  a:
    image: a
    depends_on:
      b: {condition: service_healthy}
      ghost: {}
      maybe: {required: false}
      c: {condition: service_completed_successfully}
    x-berth: {after: [nobody], before: [none]}
  b: {image: b, healthcheck: {test: [NONE]}}
  c: {image: c}
`))
	for _, want := range []string{
		`set.yaml:5: services.a.depends_on.b.condition: service_healthy, but b has no healthcheck`,
		`set.yaml:6: services.a.depends_on.ghost: no service "ghost" (known: a, b, c)`,
		`set.yaml:8: services.a.depends_on.c.condition: service_completed_successfully, but c restarts always: it never completes`,
		`set.yaml:9: services.a.x-berth.after[0]: no service "nobody" (known: a, b, c)`,
		`set.yaml:9: services.a.x-berth.before[0]: no service "none" (known: a, b, c)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "maybe") {
		t.Errorf("an optional dependency is reported: %v", err)
	}
	_, err = ValidateSet(setOf(t, `services:
  a: {image: a}
  b: {image: b, depends_on: [c]}
  c: {image: c, x-berth: {after: [d]}}
  d: {image: d, x-berth: {after: [b]}, depends_on: [a]}
`))
	// c starts before b, d before c, b before d.
	if want := `set.yaml:3: services.b: start order has a cycle: b -> d -> c -> b (depends_on, x-berth.after and x-berth.before)`; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	two := append(setOf(t, "services:\n  a: {image: a}\n"), setOf(t, "services:\n  a: {image: b}\n")...)
	if _, err := ValidateSet(two); err == nil || err.Error() != "set.yaml:2: services.a: is defined twice (also in set.yaml)" {
		t.Errorf("twice: %v", err)
	}
}

func TestStartOrder(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"listed order", "services: {c: {image: c}, a: {image: a}, b: {image: b}}", "c a b"},
		{"depends_on", "services: {c: {image: c, depends_on: [b]}, a: {image: a}, b: {image: b}}", "a b c"},
		{"after and before", "services: {c: {image: c, x-berth: {after: [b]}}, a: {image: a, x-berth: {before: [c]}}, b: {image: b, x-berth: {before: [a]}}}", "b a c"},
		{"optional dependency absent", "services: {c: {image: c, depends_on: {x: {required: false}}}, a: {image: a}}", "c a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ValidateSet(setOf(t, tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, strings.Join(got, " ")); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// The default image's services start in this order.
func TestBootOrderGolden(t *testing.T) {
	var defs []*Definition
	for _, name := range builtins {
		d, err := Load(".", name)
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, d)
	}
	order, err := ValidateSet(defs)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "boot-order.golden", []byte(strings.Join(order, "\n")+"\n"))
}

// What PID 1 supervises by (service.json).
func TestRuntimes(t *testing.T) {
	defs := setOf(t, `services:
  db:
    image: db
    healthcheck: {test: "pg_isready", interval: 2s}
    x-berth: {before: [web]}
  init:
    image: init
    x-berth: {kind: oneshot, before: [web]}
  web:
    image: web
    restart: unless-stopped
    labels: {tier: front}
    depends_on: {db: {condition: service_healthy}, init: {condition: service_completed_successfully}}
    healthcheck: {retries: 5}
    x-berth: {notify: true, after: [db], healthcheck: {socket: /run/web.sock}}
  job:
    image: job
    restart: "no"
`)
	got := Runtimes(defs)
	want := []Runtime{
		{Name: "db", Image: "db", Restart: "always",
			Healthcheck: &Check{Exec: []string{"/bin/sh", "-c", "pg_isready"}, Interval: 2 * time.Second, Timeout: 30 * time.Second, Retries: 3}},
		{Name: "init", Image: "init", Kind: "oneshot", Restart: "never"},
		{Name: "web", Image: "web", Notify: true, Restart: "always",
			DependsOn:   []Dependency{{"db", ServiceHealthy, true}, {"init", ServiceCompletedSuccessfully, true}},
			After:       []string{"db", "init"},
			Healthcheck: &Check{Socket: "/run/web.sock", Interval: 30 * time.Second, Timeout: 30 * time.Second, Retries: 5},
			Labels:      map[string]string{"tier": "front"}},
		{Name: "job", Image: "job", Restart: "never"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	// service.json of a built-in.
	d, err := Load(".", "udev")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(d.Runtime())
	if string(b) != `{"name":"udev","notify":true,"restart":"always"}` {
		t.Errorf("udev's service.json: %s", b)
	}
}
