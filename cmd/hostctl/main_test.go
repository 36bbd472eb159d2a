package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/init/api"
)

type host struct{ shut []bool }

func (h *host) Version(context.Context) api.Version {
	return api.Version{Berth: "0.1.0", Kernel: "6.12.117-berth", Containerd: "v2.4.2", Runc: "1.5.2"}
}
func (h *host) Services() []api.Service {
	t := time.Now().Add(-90 * time.Second)
	return []api.Service{
		{Name: "udev", State: api.StateRunning, PID: 120, Started: &t},
		{Name: "network", State: api.StateRestarting, Restarts: 3},
	}
}
func (h *host) HasService(n string) bool                 { return n == "udev" }
func (h *host) LogTail(string, int) []string             { return []string{"coldplug settled"} }
func (h *host) LogFollow(string) (<-chan string, func()) { return make(chan string), func() {} }
func (h *host) Shutdown(reboot bool)                     { h.shut = append(h.shut, reboot) }

func start(t *testing.T) string {
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := api.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go api.Serve(ctx, l, &host{})
	return sock
}

func TestServiceList(t *testing.T) {
	sock := start(t)
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--socket", sock, "service", "list"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^NAME\s+STATE\s+PID\s+UPTIME\s+RESTARTS\nudev\s+running\s+120\s+1m3\ds\s+0\nnetwork\s+restarting\s+-\s+-\s+3\n$`)
	if !re.MatchString(out.String()) {
		t.Errorf("table:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"--socket", sock, "service", "list", "-o", "json"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var got []api.Service
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got) != 2 || got[1].Restarts != 3 {
		t.Errorf("json %q: %v", out.String(), err)
	}
}

func TestErrors(t *testing.T) {
	sock := start(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"service", "list", "-o", "yaml"}, `-o: expected table or json, got "yaml"`},
		{[]string{"logs", "nope"}, `no service "nope"`},
		{[]string{"logs"}, "accepts 1 arg(s), received 0"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"--socket", sock}, tc.args...), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"--socket", filepath.Join(t.TempDir(), "none.sock"), "version"}, &out, &errb)
	if err == nil || !strings.Contains(out.String(), "hostctl") {
		t.Errorf("no host: err=%v out=%q", err, out.String())
	}
}

func TestVersionAndLogs(t *testing.T) {
	sock := start(t)
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--socket", sock, "version"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kernel      6.12.117-berth", "containerd  v2.4.2", "runc        1.5.2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("version output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"--socket", sock, "logs", "udev"}, &out, &errb); err != nil || out.String() != "coldplug settled\n" {
		t.Errorf("logs %q %v", out.String(), err)
	}
}
