package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-os/berth/init/supervise"
)

// A bundle's service.json becomes the supervisor's service: kind,
// depends_on with Compose's conditions and required, after, healthcheck.
func TestLoadServiceMapsRuntime(t *testing.T) {
	old := servicesAt
	servicesAt = t.TempDir()
	defer func() { servicesAt = old }()
	write := func(name, runtime string) {
		dir := filepath.Join(servicesAt, name)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"ociVersion":"1.2.0","root":{"path":"/usr/lib/berth/services/`+name+`/rootfs"}}`), 0o644)
		os.WriteFile(filepath.Join(dir, "service.json"), []byte(runtime), 0o644)
	}
	write("web", `{"name":"web","kind":"","notify":true,"restart":"on-failure",
		"depends_on":[{"name":"db","condition":"service_healthy","required":true},{"name":"setup","condition":"service_completed_successfully","required":false},{"name":"net","condition":"service_started","required":true}],
		"after":["logging"],
		"healthcheck":{"socket":"/run/web.sock","interval":2000000000,"timeout":1000000000,"retries":4,"start_period":5000000000}}`)
	got, err := loadService("web")
	if err != nil {
		t.Fatal(err)
	}
	want := supervise.Service{Name: "web", Spec: &specs.Spec{Version: "1.2.0", Root: &specs.Root{Path: "/usr/lib/berth/services/web/rootfs"}},
		Notify: true, Restart: "on-failure", After: []string{"logging"},
		DependsOn: []supervise.Dependency{{Name: "db", Condition: "healthy"}, {Name: "setup", Condition: "completed", Optional: true}, {Name: "net", Condition: "started"}},
		Health:    &supervise.Health{Socket: "/run/web.sock", Interval: 2 * time.Second, Timeout: time.Second, Retries: 4, StartPeriod: 5 * time.Second}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}

	write("job", `{"name":"job","kind":"oneshot","restart":"never"}`)
	if got, err := loadService("job"); err != nil || !got.Oneshot || got.Restart != "never" {
		t.Errorf("job: %+v, %v; want a oneshot", got, err)
	}
	for _, tc := range []struct{ name, runtime, err string }{
		{"badkind", `{"name":"badkind","kind":"daily"}`, `service.json: kind: "daily": want oneshot or none`},
		{"badcond", `{"name":"badcond","depends_on":[{"name":"x","condition":"service_ready"}]}`, `service.json: depends_on[0].condition: "service_ready": want service_started, service_healthy or service_completed_successfully`},
	} {
		write(tc.name, tc.runtime)
		_, err := loadService(tc.name)
		if want := filepath.Join(servicesAt, tc.name, tc.err); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %s", tc.name, err, want)
		}
	}
}
