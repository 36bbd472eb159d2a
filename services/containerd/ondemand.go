package containerd

// The user containerd on first use. Until a client connects to its socket,
// the service is this program alone: it binds the socket, tells PID 1 it is
// ready (the socket accepts), and waits. At the first connection it starts
// containerd as its child. containerd binds the same path, which replaces
// this program's socket in the folder; the connections this program
// accepted before that (the first, and any that came while containerd
// started) are held until containerd says READY=1 on a private notify
// socket, then joined to containerd's socket byte for byte. Later clients
// reach containerd itself. The service then lasts as long as containerd:
// a signal to this program goes to containerd, and containerd's exit is
// this program's.
//
// containerd starts at once instead when its store holds a container that
// its restart monitor would start (containerd.io/restart.status=running):
// such a container is to run after a boot without anyone asking. It does
// too when berth.containerd.on_demand is false (main.go).

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-os/berth/internal/envfile"
	"github.com/berth-os/berth/internal/notify"
)

// restartStatusLabel is the label containerd's restart monitor
// (plugins/restart) reads: containers with it are started (or stopped) by
// containerd itself.
const restartStatusLabel = "containerd.io/restart.status"

// restartLabelled returns the first container ("namespace/id") in
// containerd's metadata database whose restartStatusLabel is running, or ""
// when none is or there is no database yet. (The monitor stops the task of
// a container labelled stopped; after a boot there is none to stop.) The schema is containerd's
// metadata v1: v1/<namespace>/containers/<id>/labels/<key>. A database it
// cannot read is an error: the caller then starts containerd at once.
func restartLabelled(path string) (found string, err error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	// bbolt panics on some corrupt pages.
	defer func() {
		if r := recover(); r != nil {
			found, err = "", fmt.Errorf("read %s: %v", path, r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return "", fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	errFound := errors.New("found")
	err = db.View(func(tx *bolt.Tx) error {
		v1 := tx.Bucket([]byte("v1"))
		if v1 == nil {
			return nil
		}
		return v1.ForEachBucket(func(ns []byte) error {
			cs := v1.Bucket(ns).Bucket([]byte("containers"))
			if cs == nil {
				return nil
			}
			return cs.ForEachBucket(func(id []byte) error {
				labels := cs.Bucket(id).Bucket([]byte("labels"))
				if labels != nil && string(labels.Get([]byte(restartStatusLabel))) == "running" {
					found = string(ns) + "/" + string(id)
					return errFound
				}
				return nil
			})
		})
	})
	if errors.Is(err, errFound) {
		return found, nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return "", nil
}

// listen binds the socket where containerd will serve: a stale one from an
// earlier run is removed, and the mode is containerd's own (0660).
func listen(path string) (*net.UnixListener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	// The listener must not remove the path when it closes: by then the
	// path is containerd's socket.
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// onDemand serves the socket until its first connection, then runs
// containerd (c.containerd with argv and env) and joins the held connections to it. It returns
// containerd's exit status, or 0 when a signal came before any connection.
// sigs carries the signals for containerd (SIGTERM, SIGINT).
func onDemand(c config, argv, env []string, sigs <-chan os.Signal, log io.Writer) (int, error) {
	ln, err := listen(c.socket)
	if err != nil {
		return 1, err
	}
	conns := make(chan net.Conn)
	go func() {
		// This loop outlives the path: a connection that reached this
		// socket just before containerd replaced it is still taken.
		for {
			conn, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			conns <- conn
		}
	}()
	if err := notify.Ready("containerd starts at the first connection to " + c.socket); err != nil {
		fmt.Fprintln(log, "berth-containerd:", err)
	}
	fmt.Fprintf(log, "berth-containerd: %s accepts; containerd starts at its first connection\n", c.socket)

	var first net.Conn
	select {
	case first = <-conns:
	case sig := <-sigs:
		ln.Close()
		os.Remove(c.socket)
		fmt.Fprintf(log, "berth-containerd: %v before any connection: containerd never started\n", sig)
		return 0, nil
	}
	began := time.Now()

	// containerd's READY=1 comes to a socket of this program's, in the
	// abstract namespace (the service has the host's network namespace,
	// so the name carries the PID).
	name := "berth-containerd-" + strconv.Itoa(os.Getpid())
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "\x00" + name, Net: "unixgram"})
	if err != nil {
		first.Close()
		return 1, fmt.Errorf("notify socket: %w", err)
	}
	defer nc.Close()
	ready, dead := make(chan struct{}), make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := nc.ReadFrom(buf)
			if err != nil {
				return
			}
			if notify.Parse(buf[:n])["READY"] == "1" {
				close(ready)
				return
			}
		}
	}()

	// containerd's readiness is this program's to hear, not PID 1's.
	cmd := &exec.Cmd{Path: c.containerd, Args: argv, Env: envfile.Set(env, notify.Env+"=@"+name),
		Stdout: os.Stdout, Stderr: os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}}
	if err := cmd.Start(); err != nil {
		first.Close()
		return 1, fmt.Errorf("start %s: %w", c.containerd, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var wg sync.WaitGroup
	hold := func(conn net.Conn) {
		defer wg.Done()
		select {
		case <-ready:
			join(conn, c.socket, log)
		case <-dead:
			conn.Close()
		}
	}
	wg.Add(1)
	go hold(first)
	go func() {
		for conn := range conns {
			wg.Add(1)
			go hold(conn)
		}
	}()
	go func() {
		select {
		case <-ready:
			fmt.Fprintf(log, "berth-containerd: containerd (pid %d) serves, %.3fs after the first connection\n", cmd.Process.Pid, time.Since(began).Seconds())
		case <-dead:
		}
	}()

	for {
		select {
		case sig := <-sigs:
			cmd.Process.Signal(sig)
		case err := <-exited:
			close(dead)
			ln.Close()
			var ee *exec.ExitError
			switch {
			case err == nil:
				return 0, nil
			case errors.As(err, &ee):
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return 128 + int(ws.Signal()), nil
				}
				return ee.ExitCode(), nil
			default:
				return 1, err
			}
		}
	}
}

// join copies bytes both ways between a held client connection and a new
// connection to containerd's socket, until both sides are done.
func join(client net.Conn, socket string, log io.Writer) {
	defer client.Close()
	server, err := net.Dial("unix", socket)
	if err != nil {
		fmt.Fprintf(log, "berth-containerd: a held connection: %v\n", err)
		return
	}
	defer server.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(server, client)
		server.(*net.UnixConn).CloseWrite()
		close(done)
	}()
	io.Copy(client, server)
	client.(*net.UnixConn).CloseWrite()
	<-done
}
