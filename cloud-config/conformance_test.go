package cloudconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/strictyaml"
	"github.com/google/go-cmp/cmp"
)

// conformanceDefects gives, for each corpus file Berth rejects, the real
// defect in the file. A rejection without one fails the test: Berth
// rejects only real defects.
var conformanceDefects = map[string]string{
	"cloud-init__doc__examples__cloud-config-add-apt-repos.txt":                                                   "duplicate key: apt is given twice",
	"cloud-init__doc__examples__cloud-config-ca-certs.txt":                                                        "placeholder certificate: the PEM block holds no certificate",
	"cloud-init__doc__examples__cloud-config-disk-setup.txt":                                                      "duplicate keys: disk_setup, fs_setup and device_aliases are given twice",
	"cloud-init__doc__examples__cloud-config-mount-points.txt":                                                    "path on the read-only root: swap.filename /swap.img",
	"cloud-init__doc__examples__cloud-config-write-files.txt":                                                     "invalid base64 in a !!binary block",
	"cloud-init__doc__module-docs__cc_ca_certs__example1.yaml":                                                    "placeholder certificate: the PEM block holds no certificate",
	"cloud-init__doc__module-docs__cc_mounts__example1.yaml":                                                      "path on the read-only root: swap.filename /my/swapfile",
	"cloud-init__doc__module-docs__cc_phone_home__example1.yaml":                                                  "jinja template: Berth renders no templates; render it first (phone_home alone would be a warning)",
	"cloud-init__doc__module-docs__cc_write_files__example1.yaml":                                                 "placeholder content: base64 cut short with ...",
	"cloud-init__tests__integration_tests__modules__test_cli.py__INVALID_USER_DATA_SCHEMA.yaml":                   "not a cloud-init key: hashed-password (invalid for cloud-init's schema on purpose)",
	"cloud-init__tests__integration_tests__test_multi_part_user_data_handling.py__CLOUD_CONFIG_INVALID_YAML.yaml": "invalid YAML (on purpose upstream)",
	"netcfg__v1-bridge.yaml": "duplicate key: bridge_maxwait is given twice",
	"other__caltechlibrary-cloud-init-examples__opensearch-init.yaml":       "path on the read-only root: write_files to /usr/local/sbin",
	"rancheros__docs__os__networking__proxy-settings__index.md__block2.yml": "invalid YAML: a ... placeholder line",
	"rancheros__tests__assets__test_26__cloud-config.yml":                   "path on the read-only root: write_files to /usr/bin/test",
}

// conformanceOutcome runs one corpus file through the validator of berth
// config validate (network-config files through the network-config
// validator) and writes its outcome: accepted and its warnings, or
// rejected and its first error.
func conformanceOutcome(name string, data []byte) (string, bool) {
	var b strings.Builder
	if strings.HasPrefix(name, "netcfg__") {
		warnings, err := ValidateNetworkConfig(name, data)
		if err != nil {
			return fmt.Sprintf("%s: rejected: %s\n", name, firstLine(err)), false
		}
		fmt.Fprintf(&b, "%s: accepted, %d warnings\n", name, len(warnings))
		for _, w := range warnings {
			fmt.Fprintf(&b, "  warning: %s\n", w)
		}
		return b.String(), true
	}
	doc, err := Parse(name, data)
	if err != nil {
		return fmt.Sprintf("%s: rejected: %s\n", name, firstLine(err)), false
	}
	fmt.Fprintf(&b, "%s: accepted, %d warnings\n", name, len(doc.Warnings))
	for _, w := range doc.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", strings.TrimPrefix(w.Error(), name+":"))
	}
	return b.String(), true
}

func firstLine(err error) string {
	var es strictyaml.Errors
	msg := err.Error()
	if errors.As(err, &es) && len(es) > 0 {
		msg = es[0].Error()
	}
	msg, _, _ = strings.Cut(msg, "\n")
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return msg
}

// Every file of the conformance corpus has the outcome the golden file
// records; a change is a diff. go test ./cloud-config -run Conformance
// -update rewrites the golden file.
func TestConformance(t *testing.T) {
	dir := filepath.Join(conformanceDir(t), "cloud-config")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != "INDEX.md" && !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) < 141 {
		t.Fatalf("%s: %d files, expected the 141 of the corpus", dir, len(names))
	}
	var out strings.Builder
	accepted, rejected := 0, 0
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		s, ok := conformanceOutcome(name, data)
		if ok {
			accepted++
			if d, known := conformanceDefects[name]; known {
				t.Errorf("%s is accepted, but conformanceDefects says it has a defect: %s", name, d)
			}
		} else {
			rejected++
			defect, known := conformanceDefects[name]
			switch {
			case known:
				fmt.Fprintf(&out, "# defect: %s\n", defect)
			default:
				t.Errorf("%s is rejected, and conformanceDefects names no defect in it: %s", name, s)
			}
		}
		out.WriteString(s)
	}
	for name := range conformanceDefects {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("conformanceDefects names %s, which is not in the corpus", name)
		}
	}
	got := fmt.Sprintf("# %d files: %d accepted, %d rejected\n", len(names), accepted, rejected) + out.String()
	golden := filepath.Join("testdata", "conformance.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-golden +now); if the change is meant, run go test ./cloud-config -run Conformance -update:\n%s", golden, diff)
	}
}
