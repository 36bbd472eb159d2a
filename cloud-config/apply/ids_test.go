package apply

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/google/go-cmp/cmp"
)

// bootIDs is what each boot does: read the kept ids, assign, keep them.
func bootIDs(t *testing.T, path string, users []cloudconfig.User) (IDs, []string) {
	t.Helper()
	stored, err := LoadIDs(path)
	if err != nil {
		t.Fatal(err)
	}
	ids, notes := AssignIDs(users, stored, map[string]int{"root": 0, "docker": 999})
	if err := SaveIDs(path, ids); err != nil {
		t.Fatal(err)
	}
	return ids, notes
}

func named(names ...string) []cloudconfig.User {
	var out []cloudconfig.User
	for _, n := range names {
		out = append(out, cloudconfig.User{Name: n})
	}
	return out
}

func uidPtr(n int) *int { return &n }

// A user keeps their uid across boots whatever the list order, and an id
// once given is not given again, even after its user left the list.
func TestUserIDsStayAcrossBoots(t *testing.T) {
	for _, tc := range []struct {
		name      string
		boots     [][]cloudconfig.User
		want      map[string]UserID // after the last boot
		wantNotes []string          // of the last boot
	}{
		{name: "reordered",
			boots: [][]cloudconfig.User{named("alice", "bob", "carol"), named("carol", "bob", "alice")},
			want:  map[string]UserID{"alice": {1000, 1000}, "bob": {1001, 1001}, "carol": {1002, 1002}}},
		{name: "the first user removed",
			boots: [][]cloudconfig.User{named("alice", "bob"), named("bob", "dave")},
			// alice's uid stays hers: dave gets the next free one.
			want: map[string]UserID{"alice": {1000, 1000}, "bob": {1001, 1001}, "dave": {1002, 1002}}},
		{name: "removed and listed again",
			boots: [][]cloudconfig.User{named("alice", "bob"), named("bob"), named("erin", "alice", "bob")},
			want:  map[string]UserID{"alice": {1000, 1000}, "bob": {1001, 1001}, "erin": {1002, 1002}}},
		{name: "a given uid is recorded and stays when no longer given",
			boots: [][]cloudconfig.User{{{Name: "ops", UID: uidPtr(1500)}, {Name: "ci"}}, named("ci", "ops", "new")},
			want:  map[string]UserID{"ops": {1500, 1500}, "ci": {1000, 1000}, "new": {1001, 1001}}},
		{name: "new users skip given uids",
			boots: [][]cloudconfig.User{{{Name: "a"}, {Name: "b", UID: uidPtr(1001)}, {Name: "c"}}},
			want:  map[string]UserID{"a": {1000, 1000}, "b": {1001, 1001}, "c": {1002, 1002}}},
		{name: "a given uid wins over another user's kept one",
			boots: [][]cloudconfig.User{named("alice", "bob"), {{Name: "alice"}, {Name: "bob", UID: uidPtr(1000)}}},
			// Each keeps its own group's gid: group ownership stays.
			want: map[string]UserID{"alice": {1002, 1000}, "bob": {1000, 1001}},
			wantNotes: []string{
				"user bob: uid 1000, as cloud-config gives it (was 1001)",
				"user alice: uid 1000 is now bob's, as cloud-config gives it; it gets a new uid",
			}},
		{name: "a given uid takes a gone user's",
			boots:     [][]cloudconfig.User{named("alice"), {{Name: "bob", UID: uidPtr(1000)}}},
			want:      map[string]UserID{"bob": {1000, 1000}},
			wantNotes: []string{"user alice: uid 1000 is now bob's, as cloud-config gives it; its record is dropped"}},
		{name: "a user named as a host group is in it",
			boots: [][]cloudconfig.User{named("docker", "ops")},
			want:  map[string]UserID{"docker": {1000, 999}, "ops": {1001, 1001}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users.json")
			var ids IDs
			var notes []string
			for _, users := range tc.boots {
				ids, notes = bootIDs(t, path, users)
			}
			if diff := cmp.Diff(tc.want, ids.Users); diff != "" {
				t.Errorf("ids (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantNotes, notes); diff != "" {
				t.Errorf("notes (-want +got)\n%s", diff)
			}
			// Another boot with the same list changes nothing.
			again, notes := bootIDs(t, path, tc.boots[len(tc.boots)-1])
			if diff := cmp.Diff(ids, again); diff != "" || len(notes) > 0 {
				t.Errorf("a second boot changed ids (-first +second)\n%s%q", diff, notes)
			}
		})
	}
}

// Supplementary groups the host lacks keep their gids too, and a new
// user's uid is not the gid of such a group.
func TestGroupIDsStay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	ops := cloudconfig.User{Name: "ops", Groups: cloudconfig.List{"wheel", "docker"}}
	ids, _ := bootIDs(t, path, []cloudconfig.User{ops})
	if diff := cmp.Diff(map[string]int{"wheel": 1001}, ids.Groups); diff != "" {
		t.Errorf("groups (-want +got)\n%s", diff)
	}
	ids, _ = bootIDs(t, path, []cloudconfig.User{{Name: "ci"}, ops})
	want := IDs{Users: map[string]UserID{"ops": {1000, 1000}, "ci": {1002, 1002}}, Groups: map[string]int{"wheel": 1001}}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	// A given uid that is a kept group's gid: the user's own group gets
	// another gid, the group keeps its own.
	ids, _ = bootIDs(t, path, []cloudconfig.User{{Name: "ci"}, ops, {Name: "x", UID: uidPtr(1001)}})
	if got := ids.Users["x"]; got != (UserID{1001, 1003}) || ids.Groups["wheel"] != 1001 {
		t.Errorf("x %v, groups %v", got, ids.Groups)
	}
}

// What the file holds is checked: a bad one is an error naming the file
// and the field, not ids from nowhere.
func TestLoadIDsErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ body, want string }{
		"bad uid":       {`{"users": {"ops": {"uid": -3, "gid": 1000}}}`, "users.json: users.ops.uid: expected 0 to 65533, got -3"},
		"bad group":     {`{"users": {}, "groups": {"wheel": 70000}}`, "users.json: groups.wheel: expected 0 to 65533, got 70000"},
		"unknown field": {`{"users": {"ops": {"uid": 1000, "gdi": 1}}}`, `users.json: json: unknown field "gdi"`},
		"not json":      {`users: ops`, "users.json: invalid character"},
	} {
		p := filepath.Join(dir, "users.json")
		os.WriteFile(p, []byte(tc.body), 0o644)
		_, err := LoadIDs(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if ids, err := LoadIDs(filepath.Join(dir, "none.json")); err != nil || len(ids.Users) != 0 {
		t.Errorf("no file: %v %v", ids, err)
	}
}

// write_files' owner takes users and groups by name or number.
func TestOwner(t *testing.T) {
	ids := IDs{Users: map[string]UserID{"ops": {1000, 1005}}, Groups: map[string]int{"wheel": 1001}}
	for s, want := range map[string][2]int{
		"ops": {1000, 1005}, "ops:wheel": {1000, 1001}, "ops:root": {1000, 0}, "root": {0, 0},
		"42": {42, 42}, "42:ops": {42, 1005}, "ops:7": {1000, 7},
	} {
		uid, gid, err := owner(s, ids)
		if err != nil || [2]int{uid, gid} != want {
			t.Errorf("owner(%q) = %d, %d, %v; want %v", s, uid, gid, err, want)
		}
	}
	for s, want := range map[string]string{"bob": `owner "bob": no such user`, "ops:staff": `owner "ops:staff": no such group`, "-1": `owner "-1": no such user`} {
		if _, _, err := owner(s, ids); err == nil || err.Error() != want {
			t.Errorf("owner(%q): %v, want %q", s, err, want)
		}
	}
}
