// Package timesync is what PID 1, the ntp service and hostctl share about
// keeping the clock right: the service's config file, which PID 1 renders
// into /etc from cloud-config's ntp key; the status file the service
// writes; and the kernel's own view of the clock (adjtimex), which anyone
// may read.
package timesync

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Where the files live. /etc/ntp is bound read-only into the service, and
// /run/berth/ntp read-write; the console sees both.
const (
	// ConfigFile is the service's config, relative to /etc.
	ConfigFile = "ntp/ntp.conf"
	// ConfigPath is ConfigFile on the host and in the service.
	ConfigPath = "/etc/" + ConfigFile
	// StatusDir holds StatusPath.
	StatusDir = "/run/berth/ntp"
	// StatusPath is the service's status, rewritten after every poll.
	StatusPath = StatusDir + "/status.json"
	// Port is NTP's port.
	Port = 123
)

// DefaultPools are used when cloud-config names no server and no pool:
// the Debian project's zones of pool.ntp.org, as cloud-init and Debian's
// ntp packages use them.
var DefaultPools = []string{"0.debian.pool.ntp.org", "1.debian.pool.ntp.org", "2.debian.pool.ntp.org", "3.debian.pool.ntp.org"}

// Source is a server, or a pool name whose addresses are each a server.
type Source struct {
	Pool bool
	Host string // a host name or an IP address
	Port int
}

// Addr is host:port, as net.Dial takes it.
func (s Source) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

func (s Source) String() string {
	if s.Port == Port {
		return s.Host
	}
	return s.Addr()
}

// Config is the service's config.
type Config struct {
	// Enabled is false when cloud-config says ntp.enabled: false: the
	// service then leaves the clock alone.
	Enabled bool
	Sources []Source
}

// FromCloudConfig makes the service's config from cloud-config's
// ntp.enabled, ntp.servers and ntp.pools (each entry HOST or HOST:PORT).
// With neither servers nor pools, the Debian pools are used. Entries are
// expected to have passed cloud-config's validation; a bad one is an error
// naming its field path all the same.
func FromCloudConfig(enabled *bool, servers, pools []string) (Config, error) {
	c := Config{Enabled: enabled == nil || *enabled}
	var errs []error
	add := func(field string, pool bool, entries []string) {
		for i, e := range entries {
			host, port, err := SplitHostPort(e)
			if err != nil {
				errs = append(errs, fmt.Errorf("ntp.%s[%d]: %w", field, i, err))
				continue
			}
			c.Sources = append(c.Sources, Source{Pool: pool, Host: host, Port: port})
		}
	}
	add("servers", false, servers)
	add("pools", true, pools)
	if len(servers) == 0 && len(pools) == 0 {
		add("pools", true, DefaultPools)
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	return c, nil
}

// SplitHostPort splits a server entry: HOST, an IPv6 address, HOST:PORT
// or [IPv6]:PORT. The port is 123 unless given. The host itself is not
// checked here (cloud-config checks host names).
func SplitHostPort(s string) (host string, port int, err error) {
	if s == "" {
		return "", 0, fmt.Errorf("empty (expected HOST or HOST:PORT)")
	}
	if ip := net.ParseIP(s); ip != nil { // a bare IPv6 address has colons too
		return s, Port, nil
	}
	if !strings.Contains(s, ":") {
		return s, Port, nil
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("%q: expected HOST, HOST:PORT or [IPv6]:PORT", s)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("%q: expected a port from 1 to 65535, got %q", s, p)
	}
	if h == "" {
		return "", 0, fmt.Errorf("%q: no host before the port", s)
	}
	return h, n, nil
}

// Render is the config file's text.
func (c Config) Render() string {
	var b strings.Builder
	b.WriteString("# Rendered by Berth from cloud-config's ntp; the ntp service reads it.\n")
	if !c.Enabled {
		b.WriteString("# ntp.enabled is false: the clock is left alone.\noff\n")
	}
	for _, s := range c.Sources {
		kind := "server"
		if s.Pool {
			kind = "pool"
		}
		fmt.Fprintf(&b, "%s %s port %d\n", kind, s.Host, s.Port)
	}
	return b.String()
}

// Parse reads a config file; name is its path, for errors.
func Parse(name string, data []byte) (Config, error) {
	c := Config{Enabled: true}
	var errs []error
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: %s", name, i+1, fmt.Sprintf(format, args...)))
		}
		f := strings.Fields(line)
		switch {
		case f[0] == "off" && len(f) == 1:
			c.Enabled = false
		case (f[0] == "server" || f[0] == "pool") && (len(f) == 2 || len(f) == 4 && f[2] == "port"):
			s := Source{Pool: f[0] == "pool", Host: f[1], Port: Port}
			if len(f) == 4 {
				n, err := strconv.Atoi(f[3])
				if err != nil || n < 1 || n > 65535 {
					bad("expected a port from 1 to 65535, got %q", f[3])
					continue
				}
				s.Port = n
			}
			c.Sources = append(c.Sources, s)
		default:
			bad("expected \"server HOST [port N]\", \"pool HOST [port N]\" or \"off\", got %q", line)
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	if c.Enabled && len(c.Sources) == 0 {
		return Config{}, fmt.Errorf("%s: no server and no pool", name)
	}
	return c, nil
}
