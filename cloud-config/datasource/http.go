package datasource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// MetadataAddr is where clouds serve instance metadata.
const MetadataAddr = "http://169.254.169.254"

// maxBody bounds a metadata response.
const maxBody = 16 << 20

type httpGetter struct {
	client *http.Client
}

func newGetter() httpGetter {
	return httpGetter{client: &http.Client{Timeout: 5 * time.Second}}
}

// errMissing is an HTTP 404: the service is there but has no such item.
var errMissing = errors.New("404 not found")

func (g httpGetter) do(ctx context.Context, method, url string, header map[string]string) ([]byte, http.Header, error) {
	return g.send(ctx, method, url, header, nil)
}

// send is do with a request body.
func (g httpGetter) send(ctx context.Context, method, url string, header map[string]string, body []byte) ([]byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w: %w", method, url, ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, resp.Header, errMissing
	case resp.StatusCode >= 300:
		return nil, resp.Header, fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	return got, resp.Header, nil
}

// EC2 is the EC2 instance metadata service: IMDSv2 (a session token from a
// PUT), falling back to IMDSv1 where the service gives no token.
type EC2 struct {
	URL string // MetadataAddr unless testing
	g   httpGetter
}

func (e *EC2) Name() string  { return "ec2" }
func (e *EC2) Network() bool { return true }

func (e *EC2) Fetch(ctx context.Context) (*Data, error) {
	e.g = newGetter()
	base := strings.TrimRight(e.URL, "/")
	header := map[string]string{}
	tok, _, err := e.g.do(ctx, http.MethodPut, base+"/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "300"})
	switch {
	case err == nil:
		header["X-aws-ec2-metadata-token"] = strings.TrimSpace(string(tok))
	case errors.Is(err, ErrUnavailable):
		return nil, err // nothing answers
	default:
		// IMDSv1: no token endpoint; plain GETs.
	}
	get := func(p string) (string, error) {
		b, _, err := e.g.do(ctx, http.MethodGet, base+p, header)
		return strings.TrimSpace(string(b)), err
	}
	id, err := get("/latest/meta-data/instance-id")
	if err != nil {
		return nil, absent("an EC2 metadata service", err)
	}
	d := &Data{InstanceID: id}
	d.Hostname, _ = get("/latest/meta-data/local-hostname")
	if k, err := get("/latest/meta-data/public-keys/0/openssh-key"); err == nil && k != "" {
		d.PublicKeys = append(d.PublicKeys, k)
	}
	ud, _, err := e.g.do(ctx, http.MethodGet, base+"/latest/user-data", header)
	if err != nil && !errors.Is(err, errMissing) {
		return nil, err
	}
	d.UserData = ud
	return d, nil
}

// OpenStack is the OpenStack metadata service.
type OpenStack struct {
	URL string
}

func (o *OpenStack) Name() string  { return "openstack" }
func (o *OpenStack) Network() bool { return true }

func (o *OpenStack) Fetch(ctx context.Context) (*Data, error) {
	g := newGetter()
	base := strings.TrimRight(o.URL, "/") + "/openstack/latest"
	md, _, err := g.do(ctx, http.MethodGet, base+"/meta_data.json", nil)
	if err != nil {
		return nil, absent("an OpenStack metadata service", err)
	}
	d := &Data{}
	if err := parseOpenStackMeta(md, d); err != nil {
		return nil, fmt.Errorf("meta_data.json: %w", err)
	}
	ud, _, err := g.do(ctx, http.MethodGet, base+"/user_data", nil)
	if err != nil && !errors.Is(err, errMissing) {
		return nil, err
	}
	d.UserData = ud
	return d, nil
}

func parseOpenStackMeta(b []byte, d *Data) error {
	var md struct {
		UUID       string            `json:"uuid"`
		Hostname   string            `json:"hostname"`
		Name       string            `json:"name"`
		PublicKeys map[string]string `json:"public_keys"`
	}
	if err := json.Unmarshal(b, &md); err != nil {
		return err
	}
	d.InstanceID = md.UUID
	d.Hostname = md.Hostname
	if d.Hostname == "" {
		d.Hostname = md.Name
	}
	names := make([]string, 0, len(md.PublicKeys))
	for n := range md.PublicKeys {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d.PublicKeys = append(d.PublicKeys, strings.TrimSpace(md.PublicKeys[n]))
	}
	return nil
}

// GCE is Google Compute Engine's metadata server (it insists on the
// Metadata-Flavor: Google header both ways).
type GCE struct {
	URL string
}

func (g *GCE) Name() string  { return "gce" }
func (g *GCE) Network() bool { return true }

func (g *GCE) Fetch(ctx context.Context) (*Data, error) {
	hg := newGetter()
	base := strings.TrimRight(g.URL, "/") + "/computeMetadata/v1/instance"
	h := map[string]string{"Metadata-Flavor": "Google"}
	id, hdr, err := hg.do(ctx, http.MethodGet, base+"/id", h)
	if err != nil || hdr.Get("Metadata-Flavor") != "Google" {
		return nil, absent("a GCE metadata server", err)
	}
	d := &Data{InstanceID: strings.TrimSpace(string(id))}
	if hn, _, err := hg.do(ctx, http.MethodGet, base+"/hostname", h); err == nil {
		d.Hostname = strings.SplitN(strings.TrimSpace(string(hn)), ".", 2)[0]
	}
	if keys, _, err := hg.do(ctx, http.MethodGet, base+"/attributes/ssh-keys", h); err == nil {
		for _, line := range strings.Split(string(keys), "\n") {
			// "user:ssh-ed25519 AAAA... comment"
			if _, k, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k != "" {
				d.PublicKeys = append(d.PublicKeys, k)
			}
		}
	}
	ud, _, err := hg.do(ctx, http.MethodGet, base+"/attributes/user-data", h)
	if err != nil && !errors.Is(err, errMissing) {
		return nil, err
	}
	d.UserData = ud
	return d, nil
}

// URL is user-data at a URL: berth.cloud_config_url=, or the seed of
// ds=nocloud;s=URL (then URL is a folder with user-data and meta-data).
// The URL's fragment may pin what is read (see Pins).
type URL struct {
	SourceName string
	Location   string
	Seed       bool
}

func (u *URL) Name() string  { return u.SourceName }
func (u *URL) Network() bool { return true }

func (u *URL) Fetch(ctx context.Context) (*Data, error) {
	loc, pins, err := ParseLocation(u.Location)
	if err != nil {
		return nil, err
	}
	g := newGetter()
	if !u.Seed {
		b, _, err := g.do(ctx, http.MethodGet, loc, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", loc, err)
		}
		if err := checkPin(loc, pins.UserData, b); err != nil {
			return nil, err
		}
		return &Data{UserData: b}, nil
	}
	base := strings.TrimRight(loc, "/")
	ud, _, err := g.do(ctx, http.MethodGet, base+"/user-data", nil)
	if err != nil {
		return nil, fmt.Errorf("%s/user-data: %w", base, err)
	}
	if err := checkPin(base+"/user-data", pins.UserData, ud); err != nil {
		return nil, err
	}
	d := &Data{UserData: ud}
	// Over plain http, a seed whose user-data is pinned reads meta-data
	// (which may give root's keys) only when it is pinned too.
	if pins.UserData != "" && pins.MetaData == "" && plainHTTP(loc) {
		return d, nil
	}
	if md, _, err := g.do(ctx, http.MethodGet, base+"/meta-data", nil); err == nil {
		if err := checkPin(base+"/meta-data", pins.MetaData, md); err != nil {
			return nil, err
		}
		if err := parseNoCloudMeta(md, d); err != nil {
			return nil, fmt.Errorf("%s/meta-data: %w", base, err)
		}
	} else if pins.MetaData != "" {
		return nil, fmt.Errorf("%s/meta-data: pinned, and not read: %w", base, err)
	}
	return d, nil
}
