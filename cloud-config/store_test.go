package cloudconfig

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStoreLocal(t *testing.T) {
	s := Store{Dir: filepath.Join(t.TempDir(), "config")}
	tr, err := s.Local()
	if err != nil || len(tr) != 0 {
		t.Fatalf("empty store: %v %v", tr, err)
	}
	if err := s.WriteLocal(map[string]any{"hostname": "one"}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteLocal(map[string]any{"hostname": "two"}); err != nil {
		t.Fatal(err)
	}
	// An invalid tree is refused and changes nothing.
	err = s.WriteLocal(map[string]any{"hostname": "-bad-"})
	if err == nil || !strings.Contains(err.Error(), "hostname") {
		t.Errorf("bad write: %v", err)
	}
	tr, _ = s.Local()
	if tr["hostname"] != "two" {
		t.Errorf("local = %v", tr)
	}
	prev, _ := os.ReadFile(s.LocalPath() + ".prev")
	if !strings.Contains(string(prev), "hostname: one") {
		t.Errorf("previous version not kept: %q", prev)
	}
	if err := s.SaveUserData("nocloud", []byte("#cloud-config\n")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.LastUserData("nocloud"); err != nil || string(b) != "#cloud-config\n" {
		t.Errorf("last user-data %q %v", b, err)
	}
}

// A datasource name is part of a file name: one that is a path, or could
// become one, is refused before anything is written.
func TestUserDataRefusesPathNames(t *testing.T) {
	root := t.TempDir()
	s := Store{Dir: filepath.Join(root, "var/lib/berth/config")}
	for _, name := range []string{"../etc", "../../../escape", "a/b", "/abs", "..", "", "Nocloud", "x.y"} {
		want := fmt.Sprintf("datasource name %q: not a name of [a-z0-9-] (it names the file of its user-data)", name)
		if err := s.SaveUserData(name, []byte("#cloud-config\n")); err == nil || err.Error() != want {
			t.Errorf("SaveUserData(%q) = %v, want %q", name, err, want)
		}
		if _, err := s.LastUserData(name); err == nil || err.Error() != want {
			t.Errorf("LastUserData(%q) = %v, want %q", name, err, want)
		}
	}
	var written []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
		}
		if p != root {
			written = append(written, strings.TrimPrefix(p, root))
		}
		return nil
	})
	if len(written) != 0 {
		t.Errorf("written: %q", written)
	}
}

func TestStoredKeys(t *testing.T) {
	tr := tree(t, "hostname: h\nntp: {servers: [pool.ntp.org]}\nberth:\n  services: {enable: [x]}\n  console: ubuntu\n  sysctl: {vm.swappiness: \"1\"}\n")
	// berth.console was the last key stored and not applied: it chooses
	// the console from the next boot now (hostctl console switch: at once).
	if diff := cmp.Diff([]string(nil), StoredKeys(tr)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestCmdlineLayer(t *testing.T) {
	tr, err := CmdlineLayer(map[string]string{"berth.ssh.port": "2222", "berth.slot": "b", "console": "ttyS0", "berth.network.dns.nameservers": "[9.9.9.9]"}, map[string]bool{"berth.slot": true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"berth": map[string]any{"ssh": map[string]any{"port": 2222}, "network": map[string]any{"dns": map[string]any{"nameservers": []any{"9.9.9.9"}}}}}
	if diff := cmp.Diff(want, tr); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if _, err := CmdlineLayer(map[string]string{"berth.sssh.port": "1"}, nil); err == nil || !strings.Contains(err.Error(), "berth.sssh: unknown key (did you mean berth.ssh?)") {
		t.Errorf("typo: %v", err)
	}
	if _, err := CmdlineLayer(map[string]string{"berth.ssh.port": "lots"}, nil); err == nil || !strings.Contains(err.Error(), "berth.ssh.port") {
		t.Errorf("bad value: %v", err)
	}
}

// A string yaml.v3 would write as a block scalar it cannot read back (a
// blank first line, nested in a list) is written so that it reads back.
func TestStoreLocalReadsBack(t *testing.T) {
	s := Store{Dir: filepath.Join(t.TempDir(), "config")}
	content := "\n[[ -z \"${X}\" ]] && export X=1\n\nif true; then\n  echo\nfi\n"
	tree := map[string]any{"write_files": []any{map[string]any{"path": "/home/u/.bashrc", "content": content, "append": true}}, "ntp": map[string]any{"servers": []any{"a.example"}, "enabled": true}}
	if err := s.WriteLocal(tree); err != nil {
		t.Fatal(err)
	}
	got, err := s.Local()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tree, got); diff != "" {
		t.Errorf("local.yaml read back (-written +read):\n%s", diff)
	}
}
