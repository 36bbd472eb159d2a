package services

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// CatalogueFolder is the catalogue's folder in the repository, below the
// module root; the build installs it at layout.CatalogueDir.
const CatalogueFolder = "services/catalogue"

// LoadCatalogue reads every NAME.yaml of dir, each one service named as its
// file, and validates each. It reports every bad file at once; the
// entries come back sorted by name.
func LoadCatalogue(dir string) ([]*Definition, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read catalogue: %w", err)
	}
	var defs []*Definition
	var errs []error
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok || e.IsDir() {
			continue
		}
		d, err := LoadEntry(dir, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		defs = append(defs, d)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].Name < defs[j].Name })
	return defs, nil
}

// LoadEntry reads and validates the catalogue entry dir/NAME.yaml.
func LoadEntry(dir, name string) (*Definition, error) {
	p := filepath.Join(dir, name+".yaml")
	defs, err := loadOne(p, name, "catalogue entry", "file")
	if err != nil {
		return nil, err
	}
	if defs[0].XBerth.Rootfs != nil {
		return nil, defs[0].errorf("x-berth.rootfs", "a catalogue entry has an image (a rootfs is a built-in's): expected image, or x-berth.build for an image the build makes")
	}
	defs[0].Dir = dir
	return defs[0], nil
}
