package cloudconfig

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/berth-os/berth/internal/pattern"
	"go.yaml.in/yaml/v3"
)

// StoreDir is where a host keeps its configuration, on the state partition.
const StoreDir = "/var/lib/berth/config"

// Store keeps the local layer (what hostctl config set writes), the last
// valid user-data of each datasource, and the last boot's status.
type Store struct {
	Dir string
}

// LocalFile is the file of schema n's local layer. Schema 1 is what
// releases before schemas wrote, and still read.
func LocalFile(n int) string {
	if n <= 1 {
		return "local.yaml"
	}
	return fmt.Sprintf("local.v%d.yaml", n)
}

// LocalPath is the file of this release's local layer (Schema).
func (s Store) LocalPath() string {
	return filepath.Join(s.Dir, LocalFile(Schema))
}

// Local returns the local layer (empty when there is none).
func (s Store) Local() (map[string]any, error) {
	return readLocal(s.LocalPath())
}

func readLocal(p string) (map[string]any, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, err
	}
	doc, err := Parse(p, append([]byte("#cloud-config\n"), b...))
	if err != nil {
		return nil, err
	}
	return doc.Tree, nil
}

// WriteLocal validates tree and writes it atomically, keeping the previous
// version beside it (.prev). A tree that fails validation changes nothing.
func (s Store) WriteLocal(tree map[string]any) error {
	p := s.LocalPath()
	if _, err := FromTree(p, tree); err != nil {
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
	if old, err := os.ReadFile(p); err == nil {
		if err := atomicfile.Write(p+".prev", old, 0o600); err != nil {
			return err
		}
	}
	return atomicfile.Write(p, b, 0o600)
}

// migratedSuffix names the record, beside a schema's local layer, of the
// older file it was migrated from: its name and its sha256 then.
const migratedSuffix = ".from"

// Migrate brings the local layer of an older schema into this release's
// file (LocalPath) when the newest older file is not the one migrated
// last: at the first boot after an upgrade, and at the first after an
// older release (a rollback, a downgrade) changed its file, which is then
// the user's latest word. Keys that a schema renamed are read in their
// new names (Renames). The older file is left as it was, for its release
// to boot with; this release's file is kept as .prev before it is
// replaced. It returns what it did, for the log ("" when nothing); an
// older file that does not parse, or does not validate here, is an error
// and changes nothing.
func (s Store) Migrate() (string, error) {
	var src string
	for n := Schema - 1; n >= 1 && src == ""; n-- {
		p := filepath.Join(s.Dir, LocalFile(n))
		if _, err := os.Stat(p); err == nil {
			src = p
		}
	}
	if src == "" {
		return "", nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	record := fmt.Sprintf("%s sha256:%s\n", filepath.Base(src), hex.EncodeToString(sum[:]))
	cur := s.LocalPath()
	if old, err := os.ReadFile(cur + migratedSuffix); err == nil && string(old) == record {
		return "", nil
	}
	doc, err := Parse(src, append([]byte("#cloud-config\n"), b...))
	if err != nil {
		return "", fmt.Errorf("migrate %s: %w", src, err)
	}
	var renames []string
	for _, w := range doc.Warnings {
		if to, r := RenamedTo(w.Path); r != nil && strings.HasPrefix(w.Msg, "renamed ") {
			renames = append(renames, w.Path+" → "+to)
		}
	}
	if err := s.WriteLocal(doc.Tree); err != nil {
		return "", fmt.Errorf("migrate %s: %w", src, err)
	}
	if err := atomicfile.Write(cur+migratedSuffix, []byte(record), 0o600); err != nil {
		return "", err
	}
	what := "no key renamed"
	if len(renames) > 0 {
		what = strings.Join(renames, ", ")
	}
	return fmt.Sprintf("migrated %s to %s (config schema %d): %s; %s is kept as it was, for a rollback to the release that reads it",
		filepath.Base(src), filepath.Base(cur), Schema, what, filepath.Base(src)), nil
}

var sourceNameRe = pattern.New(`^[a-z0-9-]+$`)

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

// SaveDatasources keeps the merged configuration's
// berth.cloud_init.datasources, the
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
