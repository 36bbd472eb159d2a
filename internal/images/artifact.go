package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxManifest caps a manifest or tag list read from a registry.
const maxManifest = 4 << 20

// FetchArtifact resolves ref (through o's mirrors and credentials) to a
// manifest of artifactType, and opens its one layer of layerType. The
// caller reads the layer to its end and closes it; the returned
// descriptor gives its digest and size.
func (o Options) FetchArtifact(ctx context.Context, ref, artifactType, layerType string) (io.ReadCloser, ocispec.Descriptor, error) {
	var none ocispec.Descriptor
	norm, err := Normalize(ref)
	if err != nil {
		return nil, none, err
	}
	r := o.Resolver(ctx)
	name, desc, err := r.Resolve(ctx, norm)
	if err != nil {
		return nil, none, pullError(norm, err)
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		return nil, none, fmt.Errorf("%s is a %s, expected an OCI manifest of %s", norm, desc.MediaType, artifactType)
	}
	f, err := r.Fetcher(ctx, name)
	if err != nil {
		return nil, none, err
	}
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, none, pullError(norm, err)
	}
	b, err := io.ReadAll(io.LimitReader(rc, maxManifest))
	rc.Close()
	if err != nil {
		return nil, none, fmt.Errorf("%s: manifest: %w", norm, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, none, fmt.Errorf("%s: manifest: %w", norm, err)
	}
	if m.ArtifactType != artifactType {
		return nil, none, fmt.Errorf("%s is not a %s: its artifact type is %q", norm, artifactType, m.ArtifactType)
	}
	var layer *ocispec.Descriptor
	for i, l := range m.Layers {
		if l.MediaType == layerType {
			if layer != nil {
				return nil, none, fmt.Errorf("%s: more than one layer of %s", norm, layerType)
			}
			layer = &m.Layers[i]
		}
	}
	if layer == nil {
		return nil, none, fmt.Errorf("%s: no layer of %s", norm, layerType)
	}
	rc, err = f.Fetch(ctx, *layer)
	if err != nil {
		return nil, none, pullError(norm, err)
	}
	return rc, *layer, nil
}

// Tags lists the tags of repo (a reference without tag, e.g.
// registry.lan/berth/os) from the first of its hosts (mirrors first, then
// the registry) that answers, sorted.
func (o Options) Tags(ctx context.Context, repo string) ([]string, error) {
	norm, err := Normalize(repo)
	if err != nil {
		return nil, err
	}
	if i := strings.LastIndex(norm, ":"); i > strings.LastIndex(norm, "/") {
		norm = norm[:i] // Normalize adds :latest
	}
	host, path, _ := strings.Cut(norm, "/")
	hosts, err := o.hosts(ctx)(host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, h := range hosts {
		tags, err := listTags(ctx, h, host, path)
		if err == nil {
			sort.Strings(tags)
			return tags, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", h.Host, err))
	}
	return nil, fmt.Errorf("list the tags of %s: %w", norm, errors.Join(errs...))
}

// listTags asks one host for the tags of path (Distribution's
// /v2/NAME/tags/list), authorizing once after a 401.
func listTags(ctx context.Context, h docker.RegistryHost, ns, path string) ([]string, error) {
	u := h.Scheme + "://" + h.Host + h.Path + "/" + path + "/tags/list"
	if h.Host != ns {
		u += "?ns=" + ns
	}
	var resp *http.Response
	for try := 0; try < 2; try++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		if h.Authorizer != nil {
			if err := h.Authorizer.Authorize(ctx, req); err != nil {
				return nil, err
			}
		}
		client := h.Client
		if client == nil {
			client = http.DefaultClient
		}
		if resp, err = client.Do(req); err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized || h.Authorizer == nil || try > 0 {
			break
		}
		err = h.Authorizer.AddResponses(ctx, []*http.Response{resp})
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("%w: no repository %s", errdefs.ErrNotFound, path)
	default:
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var list struct {
		Tags []string `json:"tags"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxManifest)).Decode(&list); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return list.Tags, nil
}
