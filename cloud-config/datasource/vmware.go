package datasource

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/berth-os/berth/internal/strictyaml"
	"github.com/berth-os/berth/internal/vmware"
)

// VMware is the VM's guestinfo variables (its extraConfig, as vSphere,
// Terraform and govc set them), read through the VMware backdoor as
// cloud-init's VMware datasource reads them:
//   - guestinfo.metadata: YAML or JSON with instance-id, local-hostname,
//     public-keys and network (cloud-init network configuration, a map, or
//     a string in network.encoding);
//   - guestinfo.userdata: the user-data;
//   - each with KEY.encoding: base64 (b64) or gzip+base64 (gz+b64);
//   - RancherOS's guestinfo.cloud-init.config.data, encoded as
//     guestinfo.cloud-init.data.encoding says, when there is no userdata.
//
// It is a local source: the backdoor needs no network.
type VMware struct {
	// Read returns the guestinfo keys (without "guestinfo.") that are
	// set; an error wrapping vmware.ErrNotVMware where there is no
	// backdoor. PID 1 reads them in a child process (vmware.Helper).
	Read func(ctx context.Context, keys []string) (map[string]string, error)
}

// guestinfoKeys are the keys the source reads.
var guestinfoKeys = []string{
	"metadata", "metadata.encoding", "userdata", "userdata.encoding",
	"cloud-init.config.data", "cloud-init.data.encoding",
}

func (v *VMware) Name() string  { return "vmware" }
func (v *VMware) Network() bool { return false }

func (v *VMware) Fetch(ctx context.Context) (*Data, error) {
	if v.Read == nil {
		return nil, ErrNotFound
	}
	info, err := v.Read(ctx, guestinfoKeys)
	if errors.Is(err, vmware.ErrNotVMware) {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	return parseGuestinfo(info)
}

func parseGuestinfo(info map[string]string) (*Data, error) {
	d := &Data{}
	md, hasMD := info["metadata"]
	if hasMD {
		b, err := guestinfoDecode("metadata", md, info["metadata.encoding"])
		if err != nil {
			return nil, err
		}
		if err := parseNoCloudMeta(b, d); err != nil {
			return nil, fmt.Errorf("guestinfo.metadata: %w", err)
		}
		if d.NetworkConfig, err = guestinfoNetwork(b); err != nil {
			return nil, err
		}
	}
	if ud, ok := info["userdata"]; ok {
		b, err := guestinfoDecode("userdata", ud, info["userdata.encoding"])
		if err != nil {
			return nil, err
		}
		d.UserData = b
	} else if ud, ok := info["cloud-init.config.data"]; ok {
		b, err := guestinfoDecode("cloud-init.config.data", ud, info["cloud-init.data.encoding"])
		if err != nil {
			return nil, err
		}
		d.UserData = b
	}
	if !hasMD && d.UserData == nil {
		return nil, fmt.Errorf("%w: no guestinfo.metadata or guestinfo.userdata", ErrNotFound)
	}
	return d, nil
}

// guestinfoNetwork is the metadata's network key: a map, given as YAML,
// or a string in the encoding network.encoding names.
func guestinfoNetwork(md []byte) ([]byte, error) {
	var m struct {
		Network  yaml.Node `yaml:"network"`
		Encoding string    `yaml:"network.encoding"`
	}
	if err := strictyaml.Unmarshal(md, &m); err != nil {
		return nil, fmt.Errorf("guestinfo.metadata: %w", err)
	}
	switch m.Network.Kind {
	case 0:
		return nil, nil
	case yaml.MappingNode:
		return yaml.Marshal(&m.Network)
	case yaml.ScalarNode:
		return guestinfoDecode("metadata: network", m.Network.Value, m.Encoding)
	}
	return nil, fmt.Errorf("guestinfo.metadata: network: expected a map or an encoded string")
}

// guestinfoDecode decodes a guestinfo value by its encoding, capped at
// maxBody once decompressed.
func guestinfoDecode(key, val, enc string) ([]byte, error) {
	field := "guestinfo." + key
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "":
		return []byte(val), nil
	case "base64", "b64":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(val), ""))
		if err != nil {
			return nil, fmt.Errorf("%s: expected base64, as its encoding says: %w", field, err)
		}
		return b, nil
	case "gzip+base64", "gz+b64":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(val), ""))
		if err != nil {
			return nil, fmt.Errorf("%s: expected base64 of gzip, as its encoding says: %w", field, err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: expected gzip, as its encoding says: %w", field, err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, maxBody+1))
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", field, err)
		}
		if len(out) > maxBody {
			return nil, fmt.Errorf("%s: over %d MiB once decompressed", field, maxBody>>20)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s.encoding: unknown encoding %q (expected base64, b64, gzip+base64 or gz+b64)", field, enc)
}
