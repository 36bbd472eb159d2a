package cloudconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/berth-os/berth/internal/atomicfile"
	"go.yaml.in/yaml/v3"
)

// StoreDir is where a host keeps its configuration, on the state partition.
const StoreDir = "/var/lib/berth/config"

// Store keeps the local layer (what hostctl config set writes), the last
// valid user-data of each datasource, and the last boot's status.
type Store struct {
	Dir string
}

const localFile = "local.yaml"

// Local returns the local layer (empty when there is none).
func (s Store) Local() (map[string]any, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, localFile))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, err
	}
	doc, err := Parse(filepath.Join(s.Dir, localFile), append([]byte("#cloud-config\n"), b...))
	if err != nil {
		return nil, err
	}
	return doc.Tree, nil
}

// WriteLocal validates tree and writes it atomically, keeping the previous
// version as local.yaml.prev. A tree that fails validation changes nothing.
func (s Store) WriteLocal(tree map[string]any) error {
	if _, err := FromTree(filepath.Join(s.Dir, localFile), tree); err != nil {
		return err
	}
	n, err := treeNode(tree)
	if err != nil {
		return err
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	p := filepath.Join(s.Dir, localFile)
	if old, err := os.ReadFile(p); err == nil {
		if err := atomicfile.Write(p+".prev", old, 0o600); err != nil {
			return err
		}
	}
	return atomicfile.Write(p, b, 0o600)
}

var sourceNameRe = regexp.MustCompile(`^[a-z0-9-]+$`)

func (s Store) userDataPath(source string) (string, error) {
	if !sourceNameRe.MatchString(source) {
		return "", fmt.Errorf("datasource name %q: not a name of [a-z0-9-] (it names the file of its user-data)", source)
	}
	return filepath.Join(s.Dir, "datasource", source+".user-data"), nil
}

// SaveUserData keeps a datasource's user-data, once it has been validated.
func (s Store) SaveUserData(source string, data []byte) error {
	p, err := s.userDataPath(source)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(p, data, 0o600)
}

// LastUserData returns the last valid user-data of a datasource.
func (s Store) LastUserData(source string) ([]byte, error) {
	p, err := s.userDataPath(source)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// Status is what the last boot (or change) made of the configuration,
// for hostctl config status.
type Status struct {
	Sources []SourceStatus `json:"sources"`
	// Stored lists keys that are set and valid but whose mechanism comes in
	// a later release.
	Stored []string `json:"stored,omitempty"`
	// ApplyErrors are failures while applying a valid configuration.
	ApplyErrors []string `json:"apply_errors,omitempty"`
	// Warnings are about how the configuration is read, whichever source
	// wins: a datasource over plain http without a pin, a seed volume
	// ignored.
	Warnings []string `json:"warnings,omitempty"`
}

// SourceStatus is one layer's source.
type SourceStatus struct {
	Layer    string   `json:"layer"`
	Name     string   `json:"name"`
	Used     bool     `json:"used"`
	Note     string   `json:"note,omitempty"`
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// HasErrors says whether any source had errors or applying failed.
func (s Status) HasErrors() bool {
	if len(s.ApplyErrors) > 0 {
		return true
	}
	for _, src := range s.Sources {
		if len(src.Errors) > 0 {
			return true
		}
	}
	return false
}

const statusFile = "status.json"

const datasourcesFile = "datasources"

// SaveDatasources keeps the merged configuration's berth.datasources, the
// order the next boot tries datasources in (none: the default order).
func (s Store) SaveDatasources(order []string) error {
	p := filepath.Join(s.Dir, datasourcesFile)
	if len(order) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	return atomicfile.Write(p, []byte(strings.Join(order, "\n")+"\n"), 0o600)
}

// Datasources is the order the last boot kept (SaveDatasources), nil for
// none.
func (s Store) Datasources() []string {
	b, err := os.ReadFile(filepath.Join(s.Dir, datasourcesFile))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// SaveStatus writes the status.
func (s Store) SaveStatus(st Status) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(s.Dir, statusFile), append(b, '\n'), 0o600)
}

// LoadStatus reads the status.
func (s Store) LoadStatus() (Status, error) {
	var st Status
	b, err := os.ReadFile(filepath.Join(s.Dir, statusFile))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// StoredKeys lists the keys set in tree whose effect is "stored".
func StoredKeys(tree map[string]any) []string {
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if prefix != "" {
			if e, err := EffectOf(prefix); err == nil && e.Kind == "stored" {
				out = append(out, prefix)
				return
			}
		}
		if m, ok := v.(map[string]any); ok {
			for _, k := range sortedKeys(m) {
				p := k
				if prefix != "" {
					p = FormatKey(append(mustSegs(prefix), Seg{Key: k, Index: -1}))
				}
				walk(p, m[k])
			}
		}
	}
	walk("", tree)
	return out
}

func mustSegs(key string) []Seg {
	s, err := ParseKey(key)
	if err != nil {
		return []Seg{{Key: key, Index: -1}}
	}
	return s
}

// CmdlineLayer turns berth.* kernel command line flags into a layer:
// berth.ssh.port=2222 sets berth.ssh.port. Flags that steer boot itself
// (berth.slot, berth.debug, ...) are skipped.
func CmdlineLayer(flags map[string]string, reserved map[string]bool) (map[string]any, error) {
	tree := map[string]any{}
	var errs []error
	for k, v := range flags {
		if !strings.HasPrefix(k, "berth.") || reserved[k] {
			continue
		}
		segs, err := ParseKey(k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := EffectOf(k); err != nil {
			errs = append(errs, fmt.Errorf("kernel command line: %w", err))
			continue
		}
		val, err := ParseValue(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("kernel command line: %s: %w", k, err))
			continue
		}
		if err := Set(tree, segs, val); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if _, err := FromTree("kernel command line", tree); err != nil {
		return nil, err
	}
	return tree, nil
}
