// Package notify tells the supervisor (PID 1) that a service is ready, with
// the sd_notify datagram protocol: "READY=1" sent to the unix datagram socket
// named by $NOTIFY_SOCKET. Services that declare notify: true in their
// definition are only counted as running once they send it.
package notify

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// Env is the environment variable that carries the socket path.
const Env = "NOTIFY_SOCKET"

// Ready reports readiness, with an optional human-readable status.
// Without $NOTIFY_SOCKET it does nothing.
func Ready(status string) error {
	msg := "READY=1"
	if status != "" {
		msg += "\nSTATUS=" + status
	}
	return Send(msg)
}

// Status reports a status line without changing readiness.
func Status(status string) error {
	return Send("STATUS=" + status)
}

// Send sends one raw notify message.
func Send(msg string) error {
	path := os.Getenv(Env)
	if path == "" {
		return nil
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify %s: %w", path, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		return fmt.Errorf("notify %s: %w", path, err)
	}
	return nil
}

// Parse splits a notify datagram into its KEY=VALUE fields.
func Parse(msg []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(msg), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}
