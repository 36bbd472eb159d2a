package build

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/tree"
	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/berth-os/berth/internal/layout"
)

// Manifest is out/manifest.json.
type Manifest struct {
	Artifacts []Artifact      `json:"artifacts"`
	Versions  layout.Versions `json:"versions"`
}

// Artifact is one output file.
type Artifact struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// writeManifest sorts the artifacts and writes manifest.json.
func (j *job) writeManifest(_ context.Context) error {
	m := &j.res.Manifest
	m.Versions = j.versions
	sort.Slice(m.Artifacts, func(a, b int) bool { return m.Artifacts[a].Name < m.Artifacts[b].Name })
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	path := filepath.Join(j.o.OutDir, "manifest.json")
	if err := tree.MkdirAll(j.o.OutDir); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return nil
}

// artifact describes a file, using the sha256 recorded beside it in its
// stage when there is one (hashing a 2 GiB raw image on every warm build
// would be most of the work).
func artifact(path, name string) (Artifact, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Artifact{}, fmt.Errorf("artifact %s: %w", name, err)
	}
	sum, err := cachedSHA(path)
	if err != nil {
		return Artifact{}, fmt.Errorf("artifact %s: %w", name, err)
	}
	return Artifact{Name: name, Size: st.Size(), SHA256: sum}, nil
}

// cachedSHA reads path.sha256, writing it first when missing. A stage
// shared read-only (another user's kernel) may not take it: the sum is
// then computed every time.
func cachedSHA(path string) (string, error) {
	if b, err := os.ReadFile(path + ".sha256"); err == nil && len(b) >= 64 {
		return string(b[:64]), nil
	}
	s, err := cache.FileSHA256(path)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path+".sha256", []byte(s+"\n"), 0o644); err != nil && !os.IsPermission(err) {
		return "", fmt.Errorf("record sha256 of %s: %w", path, err)
	}
	return s, nil
}
