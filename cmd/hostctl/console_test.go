package hostctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
)

// consoleHost knows default and ubuntu; a switch to debian fails.
type consoleHost struct {
	host
	calls []string
}

func (h *consoleHost) Consoles(context.Context) (api.Consoles, error) {
	return api.Consoles{Consoles: []api.Console{
		{Name: "default", Service: "console", Image: "built-in", Running: true, Persist: []string{"/home", "/root", "/opt", "/var"}},
		{Name: "ubuntu", Service: "console-ubuntu", Image: "docker.io/library/ubuntu:24.04", Chosen: true, Persist: []string{"/home", "/root", "/opt"}},
	}, Reason: "console ubuntu cannot start: image docker.io/library/ubuntu:24.04 is not in the local store; the default console runs instead"}, nil
}

func (h *consoleHost) verb(verb, name string) (api.ConsoleResult, error) {
	h.calls = append(h.calls, verb+" "+name)
	switch name {
	case "ubuntu", "console-ubuntu":
		return api.ConsoleResult{Name: "ubuntu", Service: "console-ubuntu", Switched: verb == "switch", Pulled: "docker.io/library/ubuntu:24.04"}, nil
	case "debian":
		return api.ConsoleResult{Name: "debian", Service: "console-debian"}, errors.New("console switch failed: console debian did not start: not ready in 30s; default stays the console")
	}
	return api.ConsoleResult{Name: name}, errkind.Mark(errkind.ErrNotFound, fmt.Errorf("no console %q (known: default, debian, ubuntu)", name))
}

func (h *consoleHost) SwitchConsole(_ context.Context, name string) (api.ConsoleResult, error) {
	return h.verb("switch", name)
}

func (h *consoleHost) EnableConsole(_ context.Context, name string) (api.ConsoleResult, error) {
	return h.verb("enable", name)
}

func TestConsoleList(t *testing.T) {
	sock := start(t, &consoleHost{})
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--socket", sock, "console", "list"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	want := `NAME     SERVICE         IMAGE                           CHOSEN  RUNNING  PERSIST
default  console         built-in                        -       yes      /home,/root,/opt,/var
ubuntu   console-ubuntu  docker.io/library/ubuntu:24.04  yes     -        /home,/root,/opt

console ubuntu cannot start: image docker.io/library/ubuntu:24.04 is not in the local store; the default console runs instead
`
	if out.String() != want {
		t.Errorf("console list:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	if err := run(context.Background(), []string{"--socket", sock, "console", "list", "-o", "json"}, &out, &errb); err != nil || !strings.Contains(out.String(), `"service": "console-ubuntu"`) {
		t.Errorf("console list -o json: %v\n%s", err, out.String())
	}
}

func TestConsoleVerbs(t *testing.T) {
	h := &consoleHost{}
	sock := start(t, h)
	for _, tc := range []struct {
		args     []string
		out, err string
		exit     int
	}{
		{[]string{"switch", "ubuntu"}, "pulled docker.io/library/ubuntu:24.04\nconsole ubuntu holds the logins now (console-ubuntu), and from the next boot\n", "", 0},
		{[]string{"enable", "console-ubuntu"}, "pulled docker.io/library/ubuntu:24.04\nconsole ubuntu from the next boot (berth.console); hostctl console switch ubuntu does it now\n", "", 0},
		{[]string{"switch", "debian"}, "", "console switch debian: console switch failed: console debian did not start: not ready in 30s; default stays the console", 1},
		{[]string{"enable", "fedora"}, "", `console enable fedora: no console "fedora" (known: default, debian, ubuntu)`, 4},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"--socket", sock, "console"}, tc.args...), &out, &errb)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || err.Error() != tc.err || errkind.ExitCode(err) != tc.exit) {
			t.Errorf("console %q: %v (exit %d); want %q, exit %d", tc.args, err, errkind.ExitCode(err), tc.err, tc.exit)
		}
		if out.String() != tc.out {
			t.Errorf("console %q: output %q, want %q", tc.args, out.String(), tc.out)
		}
	}
	if want := "switch ubuntu,enable console-ubuntu,switch debian,enable fedora"; strings.Join(h.calls, ",") != want {
		t.Errorf("calls %q, want %s", h.calls, want)
	}
}
