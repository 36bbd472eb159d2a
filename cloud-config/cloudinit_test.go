package cloudconfig

import (
	"bytes"
	"encoding/json"
	goflag "flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = goflag.Bool("update", false, "rewrite golden files and the README's cloud-init table")

// schemaKeys reads cloud-init's JSON schema: its top-level keys and the
// keys of a users[] entry.
func schemaKeys(t *testing.T) (top, user []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(conformanceDir(t), "cloud-init-schema", "schema-cloud-config-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]any `json:"properties"`
		Defs       map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	for k := range s.Properties {
		top = append(top, k)
	}
	for k := range s.Defs["users_groups.user"].Properties {
		user = append(user, k)
	}
	sort.Strings(top)
	sort.Strings(user)
	return top, user
}

func tableKeys(table []CloudInitKey) []string {
	var out []string
	for _, k := range table {
		out = append(out, k.Key)
	}
	return out
}

// Every key of cloud-init's schema is in Berth's tables, once, in order,
// and nothing else is.
func TestCloudInitKeysAreTheSchema(t *testing.T) {
	top, user := schemaKeys(t)
	if diff := cmp.Diff(top, tableKeys(CloudInitKeys)); diff != "" {
		t.Errorf("CloudInitKeys and the schema's top-level keys differ (-schema +table):\n%s", diff)
	}
	if diff := cmp.Diff(user, tableKeys(CloudInitUserKeys)); diff != "" {
		t.Errorf("CloudInitUserKeys and the schema's users[] keys differ (-schema +table):\n%s", diff)
	}
}

// An applied key is a field of the typed model (chpasswd is rewritten into
// users before decoding), an alias names a key of the same table, an
// ignored key has a reason, and every cloud-init field of the model is in
// the table.
func TestCloudInitKeysMatchTheModel(t *testing.T) {
	check := func(name string, table []CloudInitKey, typ reflect.Type, normalized map[string]bool) {
		fields := map[string]bool{}
		for i := 0; i < typ.NumField(); i++ {
			tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ",")
			fields[tag] = true
		}
		for _, k := range table {
			switch k.Handling {
			case Applied:
				if !fields[k.Key] && !normalized[k.Key] {
					t.Errorf("%s: %s is applied but %s has no such field", name, k.Key, typ)
				}
				delete(fields, k.Key)
			case Alias:
				if _, ok := lookupKey(table, k.Target); !ok && !fields[k.Target] {
					t.Errorf("%s: %s is an alias of %s, which is not a key", name, k.Key, k.Target)
				}
			case Ignored:
				if k.Note == "" {
					t.Errorf("%s: %s is ignored without a reason", name, k.Key)
				}
				if fields[k.Key] {
					t.Errorf("%s: %s is ignored but %s decodes it", name, k.Key, typ)
				}
			}
		}
		delete(fields, "berth")
		for f := range fields {
			t.Errorf("%s: %s is a field of %s but not in the table", name, f, typ)
		}
	}
	check("CloudInitKeys", CloudInitKeys, reflect.TypeFor[Config](), map[string]bool{"chpasswd": true})
	check("CloudInitUserKeys", CloudInitUserKeys, reflect.TypeFor[User](), map[string]bool{"hashed_passwd": true})
}

// Every ignored key is a warning that carries its reason, not an error.
func TestCloudInitIgnoredKeysWarn(t *testing.T) {
	for _, k := range CloudInitKeys {
		if k.Handling != Ignored {
			continue
		}
		doc, err := Parse("u", []byte("#cloud-config\n"+k.Key+": {}\n"))
		if err != nil {
			t.Errorf("%s: %v", k.Key, err)
			continue
		}
		want := fmt.Sprintf("u:2: %s: ignored: %s", k.Key, k.Note)
		if len(doc.Warnings) != 1 || doc.Warnings[0].Error() != want {
			t.Errorf("%s: warnings %v, want %q", k.Key, doc.Warnings, want)
		}
		if _, ok := doc.Tree[k.Key]; ok {
			t.Errorf("%s: an ignored key stayed in the tree", k.Key)
		}
	}
}

// readmeTable is the README's table of cloud-init keys, made from the
// tables.
func readmeTable() string {
	var b bytes.Buffer
	row := func(prefix string, k CloudInitKey) {
		what := k.Handling.String()
		note := k.Note
		if k.Handling == Alias {
			what = "applied"
			note = "deprecated spelling of `" + prefix + k.Target + "`, read as it (with a warning)"
		} else if k.Handling == Ignored {
			what = "ignored, warning"
		}
		fmt.Fprintf(&b, "| `%s%s` | %s | %s |\n", prefix, k.Key, what, note)
	}
	b.WriteString("| cloud-init key | Berth | how, or why not and what instead |\n|---|---|---|\n")
	for _, k := range CloudInitKeys {
		row("", k)
	}
	for _, k := range CloudInitUserKeys {
		row("users[].", k)
	}
	return b.String()
}

const (
	readmeBegin = "<!-- cloud-init keys: made by go test ./cloud-config -run TestREADME -update -->\n"
	readmeEnd   = "<!-- end of cloud-init keys -->\n"
)

// The README's table of cloud-init keys is the tables'.
func TestREADMECloudInitTable(t *testing.T) {
	path := filepath.Join("..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, readmeBegin), strings.Index(s, readmeEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: no cloud-init key table between %q and %q", path, readmeBegin, readmeEnd)
	}
	got, want := s[i+len(readmeBegin):j], readmeTable()
	if *update {
		if err := os.WriteFile(path, []byte(s[:i+len(readmeBegin)]+want+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: the cloud-init key table differs from CloudInitKeys (-tables +README); run go test ./cloud-config -run TestREADME -update:\n%s", path, diff)
	}
}
