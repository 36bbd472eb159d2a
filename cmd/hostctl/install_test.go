package hostctl

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/init/api"
)

type installHost struct {
	host
	got []api.InstallRequest
}

func (h *installHost) Install(_ context.Context, req api.InstallRequest, progress io.Writer) (api.InstallResult, error) {
	h.got = append(h.got, req)
	fmt.Fprintln(progress, "writing the root into BERTH_A (60 MiB)")
	return api.InstallResult{Plan: "/dev/vdb: 2048 MiB\n", Written: !req.DryRun}, nil
}

func TestInstall(t *testing.T) {
	h := &installHost{}
	sock := start(t, h)
	dir := t.TempDir()
	good := filepath.Join(dir, "cc.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("#cloud-config\nhostname: node1\n"), 0o600)
	os.WriteFile(bad, []byte("#cloud-config\nhostname: [a, b]\n"), 0o600)
	hostctl := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"--socket", sock}, args...), &out, &errb)
		return out.String() + errb.String(), err
	}

	out, err := hostctl("install", "--device", "/dev/vdb", "--cloud-config", good, "--append", "quiet", "--wipe")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "writing the root into BERTH_A") || !strings.Contains(out, "installed:\n/dev/vdb: 2048 MiB\n") {
		t.Errorf("hostctl install:\n%s", out)
	}
	want := api.InstallRequest{Device: "/dev/vdb", CloudConfig: "#cloud-config\nhostname: node1\n", Append: "quiet", Wipe: true}
	if len(h.got) != 1 || h.got[0] != want {
		t.Errorf("the host got %+v, want %+v", h.got, want)
	}

	if out, err := hostctl("install", "--device", "/dev/vdb", "--dry-run"); err != nil || !strings.Contains(out, "dry run, nothing written") {
		t.Errorf("hostctl install --dry-run: %v\n%s", err, out)
	}

	// Refusals reach no host: no device, an invalid or missing cloud-config.
	h.got = nil
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"install"}, []string{"--device"}},
		{[]string{"install", "--device", "/dev/vdb", "--cloud-config", bad}, []string{bad, "hostname", "nothing was written"}},
		{[]string{"install", "--device", "/dev/vdb", "--cloud-config", filepath.Join(dir, "none.yaml")}, []string{"none.yaml", "no such file"}},
	} {
		_, err := hostctl(tc.args...)
		if err == nil {
			t.Errorf("hostctl %v: no error", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("hostctl %v: %v; want it to name %q", tc.args, err, w)
			}
		}
	}
	if len(h.got) != 0 {
		t.Errorf("refused installs reached the host: %+v", h.got)
	}
}
