package cloudconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// User-data in a name an older schema had is read in the new name, with a
// warning at its line naming both; with both names, the new one wins.
func TestRenamedKeysAreRead(t *testing.T) {
	doc, err := Parse("u", []byte("#cloud-config\nhostname: h\nberth:\n  datasources: [nocloud, state]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Config.Berth.CloudInit.Datasources; !reflect.DeepEqual(got, []string{"nocloud", "state"}) {
		t.Errorf("berth.cloud_init.datasources = %v, want what berth.datasources said", got)
	}
	if _, ok := doc.Tree["berth"].(map[string]any)["datasources"]; ok {
		t.Errorf("the old name is still in the tree: %v", doc.Tree)
	}
	if len(doc.Warnings) != 1 || !strings.Contains(doc.Warnings[0].Error(), "u:4: berth.datasources: renamed berth.cloud_init.datasources in config schema 2") {
		t.Errorf("warnings = %v, want one at line 4 naming both keys and the schema", doc.Warnings)
	}
	if doc.Origins["berth.cloud_init.datasources"] != "berth.datasources" {
		t.Errorf("origins = %v: hostctl config get --source should name the key as written", doc.Origins)
	}

	doc, err = Parse("u", []byte("#cloud-config\nberth:\n  datasources: [nocloud]\n  cloud_init:\n    datasources: [state]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Config.Berth.CloudInit.Datasources; !reflect.DeepEqual(got, []string{"state"}) {
		t.Errorf("both names: %v, want the new name's", got)
	}
	if len(doc.Warnings) != 1 || !strings.Contains(doc.Warnings[0].Error(), "berth.datasources: ignored: renamed berth.cloud_init.datasources in config schema 2, which is given too") {
		t.Errorf("both names: warnings = %v", doc.Warnings)
	}

	// A berth.cloud_init that is not a mapping: the old key is left out,
	// and the new one's own error stands.
	if _, err := Parse("u", []byte("#cloud-config\nberth:\n  datasources: [nocloud]\n  cloud_init: 3\n")); err == nil || !strings.Contains(err.Error(), "berth.cloud_init") {
		t.Errorf("cloud_init: 3 = %v, want an error naming berth.cloud_init", err)
	}

	// hostctl config set of the old name says what it is called now.
	if _, err := EffectOf("berth.datasources"); err == nil || !strings.Contains(err.Error(), "berth.datasources: renamed berth.cloud_init.datasources in config schema 2") {
		t.Errorf("EffectOf(berth.datasources) = %v", err)
	}
	if to, r := RenamedTo("berth.datasources[0]"); to != "berth.cloud_init.datasources[0]" || r == nil {
		t.Errorf("RenamedTo(berth.datasources[0]) = %s %v", to, r)
	}
	if to, r := RenamedTo("berth.datasourcesx"); to != "berth.datasourcesx" || r != nil {
		t.Errorf("RenamedTo(berth.datasourcesx) = %s %v: a longer key is not the renamed one", to, r)
	}
	for _, r := range Renames {
		if r.Schema < 2 || r.Schema > Schema {
			t.Errorf("rename %s → %s: schema %d outside 2..%d", r.From, r.To, r.Schema, Schema)
		}
		if _, err := EffectOf(r.To); err != nil {
			t.Errorf("rename %s → %s: the new name is not a key: %v", r.From, r.To, err)
		}
	}
}

// An upgrade migrates the local layer of schema 1 (local.yaml, what an
// older release wrote) into this schema's file, renaming keys, and leaves
// local.yaml byte for byte, for a rollback to boot with. It does so once;
// again only when the older release has changed its file since.
func TestStoreMigrate(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if note, err := s.Migrate(); note != "" || err != nil {
		t.Errorf("nothing to migrate: %q %v", note, err)
	}
	old := filepath.Join(s.Dir, "local.yaml")
	v1 := "hostname: kept\nberth:\n  datasources: [state, nocloud]\n"
	if err := os.WriteFile(old, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	note, err := s.Migrate()
	if err != nil {
		t.Fatal(err)
	}
	if want := "migrated local.yaml to local.v2.yaml (config schema 2): berth.datasources → berth.cloud_init.datasources; local.yaml is kept as it was"; !strings.HasPrefix(note, want) {
		t.Errorf("note %q, want it to start %q", note, want)
	}
	tree, err := s.Local()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"hostname": "kept", "berth": map[string]any{"cloud_init": map[string]any{"datasources": []any{"state", "nocloud"}}}}
	if !reflect.DeepEqual(tree, want) {
		t.Errorf("local layer after the migration = %v, want %v", tree, want)
	}
	if b, _ := os.ReadFile(old); string(b) != v1 {
		t.Errorf("local.yaml changed:\n%s", b)
	}
	if note, err := s.Migrate(); note != "" || err != nil {
		t.Errorf("a second boot migrates again: %q %v", note, err)
	}

	// This release's writes go to its own file only.
	if err := s.WriteLocal(map[string]any{"hostname": "newer"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(old); string(b) != v1 {
		t.Errorf("local.yaml changed by WriteLocal:\n%s", b)
	}
	if note, _ := s.Migrate(); note != "" {
		t.Errorf("a write of this release's file makes a migration: %q", note)
	}

	// Rolled back, the older release changed its file: the next boot of
	// this one migrates it again, keeping what it replaces.
	v1b := "hostname: after-rollback\n"
	if err := os.WriteFile(old, []byte(v1b), 0o600); err != nil {
		t.Fatal(err)
	}
	if note, err := s.Migrate(); !strings.Contains(note, "no key renamed") || err != nil {
		t.Errorf("after the older release's change: %q %v", note, err)
	}
	if tree, _ := s.Local(); tree["hostname"] != "after-rollback" {
		t.Errorf("local layer = %v, want the older release's latest", tree)
	}
	if b, _ := os.ReadFile(s.LocalPath() + ".prev"); !strings.Contains(string(b), "hostname: newer") {
		t.Errorf("the replaced file is not kept: %q", b)
	}

	// An older file that does not validate changes nothing.
	before, _ := os.ReadFile(s.LocalPath())
	if err := os.WriteFile(old, []byte("hostname: [not, a, name]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(); err == nil || !strings.Contains(err.Error(), "local.yaml") || !strings.Contains(err.Error(), "hostname") {
		t.Errorf("an invalid older file: %v, want an error naming the file and the field", err)
	}
	if after, _ := os.ReadFile(s.LocalPath()); string(after) != string(before) {
		t.Errorf("a failed migration changed %s:\n%s", s.LocalPath(), after)
	}
}

// A file a newer schema wrote (a rollback from a newer release) is not
// read: this release boots with its own file, in the names it knows.
func TestStoreIgnoresNewerSchemas(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if err := s.WriteLocal(map[string]any{"hostname": "mine"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, LocalFile(Schema+1)), []byte("hostname: newer\nberth:\n  a_key_from_the_future: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if note, err := s.Migrate(); note != "" || err != nil {
		t.Errorf("a newer schema's file made a migration: %q %v", note, err)
	}
	if tree, err := s.Local(); err != nil || tree["hostname"] != "mine" {
		t.Errorf("local layer = %v %v, want this schema's", tree, err)
	}
}
