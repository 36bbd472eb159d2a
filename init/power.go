package main

import (
	"bufio"
	"net"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The power socket (layout.PowerSocket) is how a guest agent shuts the
// host down when its hypervisor asks (qemu-ga's guest-shutdown runs
// /sbin/shutdown, which is services/shutdown in the agent's image). It
// takes one line, "poweroff" or "reboot", from a root process, answers
// "ok" and shuts down as the power button does: nothing else can be
// asked there, so the agents need neither the host API nor SYS_BOOT.

// servePower answers the power socket's connections until l closes.
func (h *host) servePower(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		h.goSafe("power request", func() { h.powerRequest(c) })
	}
}

// powerRequest reads one request and carries it out.
func (h *host) powerRequest(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(&limitedConn{c, 64}).ReadString('\n')
	verb := strings.TrimSpace(line)
	if err != nil || verb != "poweroff" && verb != "reboot" {
		c.Write([]byte("error: want poweroff or reboot\n"))
		return
	}
	c.Write([]byte("ok\n"))
	h.alertf("%s asked through the power socket by pid %d (a guest agent, for the hypervisor)", verb, peerPID(c))
	h.Shutdown(verb == "reboot")
}

// limitedConn reads at most n bytes of a connection.
type limitedConn struct {
	c net.Conn
	n int
}

func (l *limitedConn) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, net.ErrClosed
	}
	p = p[:min(len(p), l.n)]
	n, err := l.c.Read(p)
	l.n -= n
	return n, err
}

// peerPID is the process ID at the other end of a unix socket, 0 if unknown.
func peerPID(c net.Conn) int32 {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	var pid int32
	raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid = cred.Pid
		}
	})
	return pid
}
