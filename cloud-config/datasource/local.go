package datasource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-os/berth/internal/strictyaml"
)

// File is user-data in a file: QEMU's fw_cfg entry opt/berth/user-data (as
// `berth run --cloud-config` passes it), or the state partition's
// /var/lib/berth/config/user-data.
type File struct {
	SourceName string
	Path       string
}

// FwCfgUserData is where the kernel shows fw_cfg's opt/berth/user-data.
const FwCfgUserData = "/sys/firmware/qemu_fw_cfg/by_name/opt/berth/user-data/raw"

// StateUserData is user-data kept on the state partition.
const StateUserData = "/var/lib/berth/config/user-data"

func (f File) Name() string  { return f.SourceName }
func (f File) Network() bool { return false }

func (f File) Fetch(ctx context.Context) (*Data, error) {
	b, err := readFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &Data{UserData: b}, nil
}

// readNoCloud reads a NoCloud seed folder: user-data, meta-data (YAML with
// instance-id and local-hostname) and network-config (cloud-init's
// network configuration, version 1 or 2).
func readNoCloud(dir string) (*Data, error) {
	d := &Data{}
	ud, err := readFile(filepath.Join(dir, "user-data"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	d.UserData = ud
	nc, err := readFile(filepath.Join(dir, "network-config"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	d.NetworkConfig = nc
	md, err := readFile(filepath.Join(dir, "meta-data"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		if err := parseNoCloudMeta(md, d); err != nil {
			return nil, fmt.Errorf("meta-data: %w", err)
		}
	}
	if d.UserData == nil && d.InstanceID == "" {
		return nil, fmt.Errorf("%w: no user-data or meta-data in the seed", ErrNotFound)
	}
	return d, nil
}

func parseNoCloudMeta(b []byte, d *Data) error {
	var md struct {
		InstanceID    string `yaml:"instance-id"`
		LocalHostname string `yaml:"local-hostname"`
		Hostname      string `yaml:"hostname"`
		PublicKeys    any    `yaml:"public-keys"`
	}
	if err := strictyaml.Unmarshal(b, &md); err != nil {
		return err
	}
	d.InstanceID = md.InstanceID
	d.Hostname = md.LocalHostname
	if d.Hostname == "" {
		d.Hostname = md.Hostname
	}
	switch k := md.PublicKeys.(type) {
	case string:
		d.PublicKeys = append(d.PublicKeys, strings.TrimSpace(k))
	case []any:
		for _, x := range k {
			if s, ok := x.(string); ok {
				d.PublicKeys = append(d.PublicKeys, strings.TrimSpace(s))
			}
		}
	}
	return nil
}

// readConfigDrive reads an OpenStack config drive: openstack/latest/
// user_data and meta_data.json.
func readConfigDrive(dir string) (*Data, error) {
	base := filepath.Join(dir, "openstack", "latest")
	md, err := readFile(filepath.Join(base, "meta_data.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no openstack/latest/meta_data.json", ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	d := &Data{}
	if err := parseOpenStackMeta(md, d); err != nil {
		return nil, fmt.Errorf("meta_data.json: %w", err)
	}
	ud, err := readFile(filepath.Join(base, "user_data"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	d.UserData = ud
	return d, nil
}

// readFile reads a file of a seed volume, which anyone with the disk wrote:
// like a metadata response, it is read only up to maxBody.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("%s: over %d MiB", path, maxBody>>20)
	}
	return b, nil
}
