package hostctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/google/go-cmp/cmp"
)

// imageHost has debian:bookworm, and imports whatever it is sent.
type imageHost struct {
	host
	imported []byte
}

var bookworm = api.Image{Name: "docker.io/library/debian:bookworm", Digest: "sha256:0123456789abcdef0123", Size: 48_100_000, Created: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}

func (h *imageHost) Images(context.Context) ([]api.Image, error) { return []api.Image{bookworm}, nil }

func (h *imageHost) PullImage(_ context.Context, ref string, progress io.Writer) (api.Image, error) {
	fmt.Fprintf(progress, "pull %s\n", ref)
	if ref != "debian:bookworm" {
		return api.Image{}, errkind.Mark(errkind.ErrNotFound, fmt.Errorf("pull docker.io/library/%s: no such image in its registry or the registry's mirrors", ref))
	}
	return bookworm, nil
}

func (h *imageHost) ImportImages(_ context.Context, r io.Reader, _ io.Writer) ([]api.Image, error) {
	b, err := io.ReadAll(r)
	h.imported = b
	return []api.Image{{Name: "docker.io/rancher/k3s:v1", Digest: "sha256:feed"}}, err
}

func TestImagePull(t *testing.T) {
	sock := start(t, &imageHost{})
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--socket", sock, "image", "pull", "debian:bookworm"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if want := "pull debian:bookworm\npulled docker.io/library/debian:bookworm sha256:0123456789abcdef0123\n"; out.String() != want {
		t.Errorf("output %q; want %q", out.String(), want)
	}
	out.Reset()
	err := run(context.Background(), []string{"--socket", sock, "image", "pull", "debian:nope"}, &out, &errb)
	want := "pull docker.io/library/debian:nope: no such image in its registry or the registry's mirrors"
	if err == nil || err.Error() != want || errkind.ExitCode(err) != 4 {
		t.Errorf("pull of a missing image: %v (exit %d); want %q, exit 4", err, errkind.ExitCode(err), want)
	}
}

func TestImageList(t *testing.T) {
	sock := start(t, &imageHost{})
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--socket", sock, "image", "list"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^NAME\s+DIGEST\s+SIZE\s+CREATED\ndocker.io/library/debian:bookworm\s+0123456789ab\s+48.1MB\s+2024-01-01 00:00:00\n$`)
	if !re.MatchString(out.String()) {
		t.Errorf("table:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"--socket", sock, "image", "list", "-o", "json"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var got []api.Image
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("json %q: %v", out.String(), err)
	}
	if d := cmp.Diff([]api.Image{bookworm}, got); d != "" {
		t.Errorf("json (-want +got):\n%s", d)
	}
}

func TestImageImport(t *testing.T) {
	h := &imageHost{}
	sock := start(t, h)
	file := filepath.Join(t.TempDir(), "k3s-airgap-images.tar")
	data := bytes.Repeat([]byte{0, 1, 2, 3}, 1<<19) // 2 MiB, beyond the host API's request limit
	os.WriteFile(file, data, 0o644)
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--socket", sock, "image", "import", file}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if out.String() != "imported docker.io/rancher/k3s:v1 sha256:feed\n" || !bytes.Equal(h.imported, data) {
		t.Errorf("output %q, the host got %d bytes; want the import line and all %d bytes", out.String(), len(h.imported), len(data))
	}
	missing := filepath.Join(t.TempDir(), "missing.tar")
	err := run(context.Background(), []string{"--socket", sock, "image", "import", missing}, &out, &errb)
	if err == nil || err.Error() != "import: open "+missing+": no such file or directory" || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("import of a missing file: %v", err)
	}
}
