package datasource

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-os/berth/internal/vmware"
)

func gzb64(t *testing.T, s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func guestinfo(info map[string]string, err error) *VMware {
	return &VMware{Read: func(ctx context.Context, keys []string) (map[string]string, error) {
		if err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, k := range keys {
			if v, ok := info[k]; ok {
				out[k] = v
			}
		}
		return out, nil
	}}
}

func TestVMware(t *testing.T) {
	// As govc or Terraform's vsphere provider sets them (cloud-init's
	// VMware datasource documentation): metadata as YAML with a network
	// map, user-data gzipped.
	md := "instance-id: vm-1042\nlocal-hostname: vsphere-berth\npublic-keys: [\"" + key + "\"]\nnetwork:\n  version: 2\n  ethernets:\n    nics:\n      match: {name: eth*}\n      dhcp4: true\n"
	ud := "#cloud-config\nhostname: from-userdata\n"
	for _, tc := range []struct {
		name string
		info map[string]string
		want *Data
	}{
		{"plain metadata, gzip+base64 user-data", map[string]string{
			"metadata": md, "userdata": gzb64(t, ud), "userdata.encoding": "gzip+base64",
		}, &Data{InstanceID: "vm-1042", Hostname: "vsphere-berth", PublicKeys: []string{key}, UserData: []byte(ud),
			NetworkConfig: []byte("version: 2\nethernets:\n    nics:\n        match: {name: eth*}\n        dhcp4: true\n")}},
		{"base64 JSON metadata with an encoded network, b64 user-data", map[string]string{
			"metadata":          base64.StdEncoding.EncodeToString([]byte(`{"instance-id": "vm-7", "local-hostname": "j", "network": "` + gzb64(t, "version: 1\nconfig: []\n") + `", "network.encoding": "gz+b64"}`)),
			"metadata.encoding": "base64",
			"userdata":          base64.StdEncoding.EncodeToString([]byte(ud)), "userdata.encoding": "b64",
		}, &Data{InstanceID: "vm-7", Hostname: "j", UserData: []byte(ud), NetworkConfig: []byte("version: 1\nconfig: []\n")}},
		{"RancherOS's keys", map[string]string{
			"cloud-init.config.data": base64.StdEncoding.EncodeToString([]byte(ud)), "cloud-init.data.encoding": "base64",
		}, &Data{UserData: []byte(ud)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := guestinfo(tc.info, nil).Fetch(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, d); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestVMwareRefused(t *testing.T) {
	bomb := func() string {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(make([]byte, maxBody+1))
		zw.Close()
		return base64.StdEncoding.EncodeToString(b.Bytes())
	}()
	for _, tc := range []struct {
		name string
		info map[string]string
		err  string
	}{
		{"bad base64", map[string]string{"userdata": "!!", "userdata.encoding": "base64"}, "guestinfo.userdata: expected base64, as its encoding says"},
		{"not gzip", map[string]string{"userdata": "aGVsbG8=", "userdata.encoding": "gz+b64"}, "guestinfo.userdata: expected gzip, as its encoding says"},
		{"unknown encoding", map[string]string{"metadata": "x", "metadata.encoding": "xz"}, `guestinfo.metadata.encoding: unknown encoding "xz" (expected base64, b64, gzip+base64 or gz+b64)`},
		{"gzip bomb", map[string]string{"userdata": bomb, "userdata.encoding": "gzip+base64"}, "guestinfo.userdata: over 16 MiB once decompressed"},
		{"metadata not YAML", map[string]string{"metadata": "instance-id: [\n"}, "guestinfo.metadata: "},
		{"network a list", map[string]string{"metadata": "network: [1]\n"}, "guestinfo.metadata: network: expected a map or an encoded string"},
	} {
		_, err := guestinfo(tc.info, nil).Fetch(context.Background())
		if err == nil || Absent(err) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.err)
		}
	}
}

func TestVMwareAbsent(t *testing.T) {
	// No VMware backdoor (PID 1's helper faulted), or no keys set: not
	// present, and the next source is tried.
	notVMware := fmt.Errorf("%w: the backdoor call faulted", vmware.ErrNotVMware)
	for name, v := range map[string]*VMware{
		"no backdoor": guestinfo(nil, notVMware),
		"no keys":     guestinfo(map[string]string{"unrelated": "x"}, nil),
		"no reader":   {},
	} {
		if _, err := v.Fetch(context.Background()); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	// A helper that broke otherwise is an error.
	if _, err := guestinfo(nil, errors.New("guestinfo helper: exit 1: receive: no size")).Fetch(context.Background()); err == nil || Absent(err) {
		t.Errorf("a broken helper: %v", err)
	}
}
