package containerd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-os/berth/internal/notify"
	"github.com/berth-os/berth/internal/servicetest"
)

// fakeEnv makes the test binary a stand-in for containerd: it binds the
// socket named by the variable as containerd does (removing what is
// there), records its start, says READY=1, and answers each line with its
// PID. SIGTERM ends it with status 3.
const fakeEnv = "BERTH_TEST_FAKE_CONTAINERD"

func TestMain(m *testing.M) {
	if sock := os.Getenv(fakeEnv); sock != "" {
		fakeContainerd(sock)
		return
	}
	os.Exit(m.Run())
}

func fakeContainerd(sock string) {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	os.WriteFile(sock+".started", []byte(os.Getenv(notify.Env)), 0o644)
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		os.Exit(9)
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				sc := bufio.NewScanner(conn)
				for sc.Scan() {
					fmt.Fprintf(conn, "containerd %d: %s\n", os.Getpid(), sc.Text())
				}
			}()
		}
	}()
	notify.Ready("")
	<-term
	os.Exit(3)
}

// ask sends a line on a new connection to the socket and returns the
// answer.
func ask(t *testing.T, sock, line string) string {
	t.Helper()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintln(conn, line)
	answer, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("ask %q: %v", line, err)
	}
	return strings.TrimSpace(answer)
}

type result struct {
	code int
	err  error
}

func startOnDemand(t *testing.T) (sock string, sigs chan os.Signal, ready *servicetest.NotifySocket, done <-chan result, log *servicetest.Log) {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctrd") // short: a socket path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock = filepath.Join(dir, "containerd.sock")
	ready = servicetest.ListenNotify(t)
	t.Setenv(notify.Env, ready.Path)
	sigs = make(chan os.Signal, 1)
	log = &servicetest.Log{}
	ch := make(chan result, 1)
	c := config{socket: sock, containerd: os.Args[0]}
	env := append(os.Environ(), fakeEnv+"="+sock)
	go func() {
		code, err := onDemand(c, []string{"containerd", "--config", "/c.toml"}, env, sigs, log)
		ch <- result{code, err}
	}()
	return sock, sigs, ready, ch, log
}

// The socket accepts before containerd runs; the first connection starts
// it and is answered by it; a later one reaches it too; containerd's exit
// status is the program's.
func TestOnDemandStartsAtFirstConnection(t *testing.T) {
	sock, sigs, ready, done, log := startOnDemand(t)
	if msg, err := ready.Read(30 * time.Second); err != nil || !strings.Contains(msg, "READY=1") {
		t.Fatalf("notify message %q, %v; want READY=1 before any connection", msg, err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Fatalf("the socket before containerd: %v %v, want a socket of mode 0660", fi, err)
	}
	if _, err := os.Stat(sock + ".started"); err == nil {
		t.Fatal("containerd started before any connection")
	}

	first := ask(t, sock, "version")
	var pid int
	if _, err := fmt.Sscanf(first, "containerd %d: version", &pid); err != nil || pid == os.Getpid() {
		t.Fatalf("the first connection's answer %q, want containerd's", first)
	}
	// containerd heard its readiness on the program's socket, not PID 1's.
	if env, _ := os.ReadFile(sock + ".started"); !strings.HasPrefix(string(env), "@berth-containerd-") {
		t.Errorf("containerd's NOTIFY_SOCKET %q, want the program's own", env)
	}
	if second := ask(t, sock, "ps"); second != fmt.Sprintf("containerd %d: ps", pid) {
		t.Errorf("a later connection's answer %q, want the same containerd's", second)
	}
	if msg, err := ready.Read(100 * time.Millisecond); err == nil {
		t.Errorf("PID 1 heard %q after the first READY=1; containerd's is the program's", msg)
	}

	sigs <- syscall.SIGTERM
	select {
	case r := <-done:
		if r.err != nil || r.code != 3 {
			t.Errorf("onDemand = %d, %v; want containerd's status 3", r.code, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("SIGTERM did not reach containerd")
	}
	if !strings.Contains(log.String(), fmt.Sprintf("containerd (pid %d) serves", pid)) {
		t.Errorf("log %q, want containerd's start", log.String())
	}
}

// A signal before any connection ends the program; containerd never ran.
func TestOnDemandSignalBeforeUse(t *testing.T) {
	sock, sigs, ready, done, _ := startOnDemand(t)
	if _, err := ready.Read(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	sigs <- syscall.SIGTERM
	r := <-done
	if r.err != nil || r.code != 0 {
		t.Errorf("onDemand = %d, %v; want 0", r.code, r.err)
	}
	if _, err := os.Stat(sock + ".started"); err == nil {
		t.Error("containerd started")
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is left: %v", err)
	}
}

// metaDB writes a containerd metadata database: namespace -> container ->
// labels.
func metaDB(t *testing.T, containers map[string]map[string]map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		v1, _ := tx.CreateBucket([]byte("v1"))
		v1.Put([]byte("version"), []byte{3})
		for ns, cs := range containers {
			b, _ := v1.CreateBucket([]byte(ns))
			img, _ := b.CreateBucket([]byte("image"))
			img.CreateBucket([]byte("docker.io/library/busybox:latest"))
			cb, _ := b.CreateBucket([]byte("containers"))
			for id, labels := range cs {
				c, _ := cb.CreateBucket([]byte(id))
				c.Put([]byte("image"), []byte("docker.io/library/busybox:latest"))
				lb, _ := c.CreateBucket([]byte("labels"))
				for k, v := range labels {
					lb.Put([]byte(k), []byte(v))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRestartLabelled(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
		want string
	}{
		{"no database", filepath.Join(t.TempDir(), "meta.db"), ""},
		{"no labels", metaDB(t, map[string]map[string]map[string]string{"default": {"web": {"nerdctl/name": "web"}}}), ""},
		{"a restart label", metaDB(t, map[string]map[string]map[string]string{
			"default": {"web": {"nerdctl/name": "web"}},
			"k8s.io":  {"db": {restartStatusLabel: "running"}},
		}), "k8s.io/db"},
		{"a restart label that wants it stopped", metaDB(t, map[string]map[string]map[string]string{
			"default": {"web": {restartStatusLabel: "stopped"}},
		}), ""},
	} {
		got, err := restartLabelled(tc.path)
		if err != nil || got != tc.want {
			t.Errorf("%s: restartLabelled = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	bad := filepath.Join(t.TempDir(), "meta.db")
	os.WriteFile(bad, bytes.Repeat([]byte("not bolt"), 1024), 0o600)
	if got, err := restartLabelled(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("a corrupt database: %q, %v; want an error naming it", got, err)
	}
}

// With a restart-labelled container in its store, containerd is exec'd at
// once; without the database it would wait for a connection.
func TestRunExecsForRestartLabel(t *testing.T) {
	dir := cgroupDir(t, "41\n", "memory pids\n")
	db := metaDB(t, map[string]map[string]map[string]string{"default": {"web": {restartStatusLabel: "running"}}})
	var argv0 string
	exec := func(a0 string, av, env []string) error {
		argv0 = a0
		return errors.New("exec format error")
	}
	log := runExpectingExec(t, &argv0, exec, "-cgroup", dir, "-containerd", "/bin/ctrd", "-db", db)
	if !strings.Contains(log, "its container default/web has containerd.io/restart.status=running") {
		t.Errorf("log %q, want the reason containerd starts now", log)
	}
}

// runExpectingExec runs run with args (and a socket, and no settings file
// unless args give one), and
// wants containerd exec'd at once (with /bin/ctrd): were it to wait for a
// connection instead, a SIGTERM at a deadline ends the wait and fails the
// test. It returns the log.
func runExpectingExec(t *testing.T, argv0 *string, exec execFunc, args ...string) string {
	t.Helper()
	var log bytes.Buffer
	sigs := make(chan os.Signal, 1)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	// First, so that the caller's flags win.
	args = append([]string{"-socket", filepath.Join(t.TempDir(), "s"), "-settings", filepath.Join(t.TempDir(), "none.conf")}, args...)
	go func() {
		code, err := run(args, &log, exec, sigs)
		done <- result{code, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		sigs <- syscall.SIGTERM
		r = <-done
		t.Errorf("run waited for a connection instead of starting containerd")
	}
	if *argv0 != "/bin/ctrd" || r.err == nil || r.code != 1 {
		t.Errorf("run = %d, %v; exec'd %q; want the exec of /bin/ctrd", r.code, r.err, *argv0)
	}
	return log.String()
}

// berth.containerd.on_demand, as PID 1 renders it: ON_DEMAND=false starts
// containerd at once; true, a missing file or a value that is no bool is
// on demand; -on-demand given wins over the file.
func TestSettings(t *testing.T) {
	dir := t.TempDir()
	file := func(content string) string {
		f := filepath.Join(dir, fmt.Sprintf("containerd-%d.conf", len(content)))
		os.WriteFile(f, []byte(content), 0o644)
		return f
	}
	off := file("# berth.containerd\nON_DEMAND=false\n")
	for _, tc := range []struct {
		name string
		args []string
		want bool
		why  string // the reason containerd starts at once
		log  string
	}{
		{"off", []string{"-settings", off}, false, "berth.containerd.on_demand is false", ""},
		{"on", []string{"-settings", file("ON_DEMAND=true\n")}, true, "", ""},
		{"missing", []string{"-settings", filepath.Join(dir, "none")}, true, "", ""},
		{"no bool", []string{"-settings", file("ON_DEMAND=sometimes\n")}, true, "", "ON_DEMAND=sometimes is not true or false; containerd starts on demand"},
		{"not NAME=value", []string{"-settings", file("junk\n")}, true, "", `"junk" is no NAME=value line; containerd starts on demand`},
		{"the flag wins", []string{"-settings", off, "-on-demand=true"}, true, "", ""},
		{"the flag off", []string{"-settings", file("ON_DEMAND=true\n"), "-on-demand=false"}, false, "-on-demand=false", ""},
	} {
		var log bytes.Buffer
		c, err := parseFlags(tc.args, &log)
		if err != nil || c.onDemand != tc.want || c.why != tc.why {
			t.Errorf("%s: onDemand %v (why %q), %v; want %v (why %q)", tc.name, c.onDemand, c.why, err, tc.want, tc.why)
		}
		if tc.log != "" && !strings.Contains(log.String(), tc.log) || tc.log == "" && log.Len() > 0 {
			t.Errorf("%s: log %q, want %q", tc.name, log.String(), tc.log)
		}
	}
}

// ON_DEMAND=false: containerd is exec'd at once, and the log says why.
func TestRunExecsForSettings(t *testing.T) {
	dir := cgroupDir(t, "41\n", "memory pids\n")
	settings := filepath.Join(t.TempDir(), "containerd.conf")
	os.WriteFile(settings, []byte("ON_DEMAND=false\n"), 0o644)
	var argv0 string
	exec := func(a0 string, av, env []string) error {
		argv0 = a0
		return errors.New("exec format error")
	}
	log := runExpectingExec(t, &argv0, exec, "-cgroup", dir, "-containerd", "/bin/ctrd", "-db", filepath.Join(t.TempDir(), "meta.db"), "-settings", settings)
	if !strings.Contains(log, "containerd starts now: berth.containerd.on_demand is false") {
		t.Errorf("log %q, want the reason containerd starts now", log)
	}
	// A SIGTERM before the exec is honoured: no exec, status 0.
	argv0 = ""
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGTERM
	var buf bytes.Buffer
	code, err := run([]string{"-cgroup", dir, "-containerd", "/bin/ctrd", "-on-demand=false"}, &buf, exec, sigs)
	if argv0 != "" || err != nil || code != 0 {
		t.Errorf("a SIGTERM before the exec: run = %d, %v, exec'd %q; want 0, no exec", code, err, argv0)
	}
}
