package images

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
	"golang.org/x/net/http/httpproxy"
)

// Auth is a registry's credentials: a user name and password, or Docker's
// auth string (base64 of user:password).
type Auth struct {
	Username string
	Password string
	Auth     string
}

// credentials is the user name and password of a.
func (a Auth) credentials() (string, string, error) {
	if a.Auth == "" {
		return a.Username, a.Password, nil
	}
	b, err := base64.StdEncoding.DecodeString(a.Auth)
	if err != nil {
		return "", "", fmt.Errorf("auth: expected base64 of user:password: %w", err)
	}
	u, p, ok := strings.Cut(string(b), ":")
	if !ok {
		return "", "", fmt.Errorf("auth: expected base64 of user:password, the decoded text has no colon")
	}
	return u, p, nil
}

// Proxy is the HTTP proxy pulls go through, as curl and Go read it from
// the environment.
type Proxy struct {
	HTTP, HTTPS, No string
}

// Env is the proxy as environment variables, upper and lower case (what
// dockerd, containerd and shells read), sorted.
func (p Proxy) Env() []string {
	var out []string
	for _, kv := range [][2]string{{"HTTP_PROXY", p.HTTP}, {"HTTPS_PROXY", p.HTTPS}, {"NO_PROXY", p.No}} {
		if kv[1] == "" {
			continue
		}
		out = append(out, kv[0]+"="+kv[1], strings.ToLower(kv[0])+"="+kv[1])
	}
	return out
}

// Options configure how images are fetched.
type Options struct {
	// HostsDir holds the registries' hosts.toml files (HostsDir on a host).
	HostsDir string
	// Auths are credentials by registry host: docker.io, or a mirror's
	// host[:port].
	Auths map[string]Auth
	Proxy Proxy
}

// Resolver is a resolver that follows o's hosts folder (mirrors first),
// sends o's credentials and goes through o's proxy.
func (o Options) Resolver(ctx context.Context) remotes.Resolver {
	return docker.NewResolver(docker.ResolverOptions{Hosts: o.hosts(ctx)})
}

// hosts are the hosts a registry is reached through: its mirrors, then
// itself.
func (o Options) hosts(ctx context.Context) docker.RegistryHosts {
	proxy := (&httpproxy.Config{HTTPProxy: o.Proxy.HTTP, HTTPSProxy: o.Proxy.HTTPS, NoProxy: o.Proxy.No}).ProxyFunc()
	return config.ConfigureHosts(ctx, config.HostOptions{
		HostDir:     o.hostDir,
		Credentials: o.credentials,
		UpdateClient: func(c *http.Client) error {
			if t, ok := c.Transport.(*http.Transport); ok {
				t.Proxy = func(r *http.Request) (*url.URL, error) { return proxy(r.URL) }
			}
			return nil
		},
	})
}

func (o Options) hostDir(host string) (string, error) {
	if o.HostsDir == "" {
		return "", nil
	}
	return config.HostDirFromRoot(o.HostsDir)(host)
}

// credentials answers the authorizer, which asks by the host it talks to:
// Docker Hub's API host is registry-1.docker.io, configured as docker.io.
func (o Options) credentials(host string) (string, string, error) {
	a, ok := o.Auths[host]
	if !ok && (host == "registry-1.docker.io" || host == "index.docker.io") {
		a, ok = o.Auths[DockerHub]
	}
	if !ok {
		return "", "", nil
	}
	u, p, err := a.credentials()
	if err != nil {
		return "", "", fmt.Errorf("registry %s: %w", host, err)
	}
	return u, p, nil
}
