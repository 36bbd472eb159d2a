package apply

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/internal/atomicfile"
)

// IDs are the uids and gids given to cloud-config's users and to the
// groups made for them. The state partition keeps them (layout.UsersFile),
// so that a user keeps their uid, and the files they own in /home stay
// theirs, whatever the order of users in cloud-config; and an id once given
// is not given to another user, even after its user left the config.
type IDs struct {
	Users map[string]UserID `json:"users"`
	// Groups are supplementary groups cloud-config names that the host
	// does not have (its base groups) and no user's own group is.
	Groups map[string]int `json:"groups,omitempty"`
}

// UserID is a user's uid and the gid of its own group.
type UserID struct {
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// FirstID is where the uids and gids given to cloud-config's users and
// groups start.
const FirstID = 1000

// maxID is the highest uid or gid cloud-config may give (65534 is nobody).
const maxID = 65533

// AssignIDs gives each user of users (root aside: it stays 0) a uid and the
// gid of its own group, and each supplementary group the host lacks a gid,
// from stored, what earlier boots gave:
//   - a uid given in cloud-config wins, and is recorded;
//   - a listed user keeps its stored uid, unless another user's given uid
//     is that one (it then gets a new uid);
//   - a new user gets the lowest id from FirstID up that no stored or given
//     uid and no gid in use has;
//   - a user's group is the host's group of its name if there is one, else
//     the stored one, else its uid when that is free as a gid, else the
//     lowest free id;
//   - stored users and groups no longer listed stay recorded, so that their
//     ids are not given again.
//
// system maps the host's own groups to their gids. The notes say which
// stored ids changed and why. The outcome depends on the order of users
// only among users that are new at once.
func AssignIDs(users []cloudconfig.User, stored IDs, system map[string]int) (IDs, []string) {
	out := IDs{Users: map[string]UserID{}, Groups: map[string]int{}}
	var notes []string
	uidOwner := map[int]string{}
	gidUsed := map[int]bool{}
	for _, gid := range system {
		gidUsed[gid] = true
	}
	listed := map[string]bool{}
	given := map[string]bool{}
	for _, u := range users {
		if u.Name == "root" {
			continue
		}
		listed[u.Name] = true
		if u.UID != nil {
			// Validation refuses two users with one uid.
			out.Users[u.Name] = UserID{UID: *u.UID, GID: -1}
			uidOwner[*u.UID] = u.Name
			given[u.Name] = true
			if old, ok := stored.Users[u.Name]; ok && old.UID != *u.UID {
				notes = append(notes, fmt.Sprintf("user %s: uid %d, as cloud-config gives it (was %d)", u.Name, *u.UID, old.UID))
			}
		}
	}
	// Stored uids stay, unless a given uid took one.
	for _, name := range slices.Sorted(maps.Keys(stored.Users)) {
		if given[name] || name == "root" {
			continue
		}
		id := stored.Users[name]
		if owner, ok := uidOwner[id.UID]; ok {
			what := "its record is dropped"
			if listed[name] {
				what = "it gets a new uid"
			}
			notes = append(notes, fmt.Sprintf("user %s: uid %d is now %s's, as cloud-config gives it; %s", name, id.UID, owner, what))
			continue
		}
		out.Users[name] = UserID{UID: id.UID, GID: -1}
		uidOwner[id.UID] = name
	}
	// A user's own group: the host's group of its name, else its stored
	// gid where free (even when its uid moved), else decided below.
	gids := map[string]int{}
	for _, name := range slices.Sorted(maps.Keys(stored.Users)) {
		if _, kept := out.Users[name]; !kept && !listed[name] {
			continue
		}
		if gid := stored.Users[name].GID; !gidUsed[gid] {
			if _, sys := system[name]; !sys {
				gids[name] = gid
				gidUsed[gid] = true
			}
		}
	}
	for _, g := range slices.Sorted(maps.Keys(stored.Groups)) {
		if _, sys := system[g]; sys || listed[g] {
			continue
		}
		if gid := stored.Groups[g]; !gidUsed[gid] {
			out.Groups[g] = gid
			gidUsed[gid] = true
		}
	}
	free := func() int {
		n := FirstID
		for uidOwner[n] != "" || gidUsed[n] {
			n++
		}
		return n
	}
	// New users, in list order.
	for _, u := range users {
		if _, ok := out.Users[u.Name]; ok || u.Name == "root" {
			continue
		}
		n := free()
		out.Users[u.Name] = UserID{UID: n, GID: -1}
		uidOwner[n] = u.Name
	}
	// Groups of the users that have none yet (their uid when free as a
	// gid): listed ones in list order, then the rest by name.
	order := []string{}
	for _, u := range users {
		if u.Name != "root" {
			order = append(order, u.Name)
		}
	}
	order = append(order, slices.Sorted(maps.Keys(out.Users))...)
	for _, name := range order {
		id := out.Users[name]
		if id.GID >= 0 {
			continue
		}
		gid, ok := gids[name]
		switch sys, isSys := system[name]; {
		case isSys:
			gid = sys
		case ok:
		case !gidUsed[id.UID]:
			gid = id.UID
			gidUsed[gid] = true
		default:
			gid = free()
			gidUsed[gid] = true
		}
		id.GID = gid
		out.Users[name] = id
	}
	// Supplementary groups the host lacks and no user's own group is.
	for _, u := range users {
		for _, g := range u.Groups {
			if _, sys := system[g]; sys || listed[g] {
				continue
			}
			if _, ok := out.Groups[g]; ok {
				continue
			}
			n := free()
			out.Groups[g] = n
			gidUsed[n] = true
		}
	}
	if len(out.Groups) == 0 {
		out.Groups = nil
	}
	return out, notes
}

// UIDs maps each user to its uid, root to 0.
func (ids IDs) UIDs() map[string]int {
	m := map[string]int{"root": 0}
	for name, id := range ids.Users {
		m[name] = id.UID
	}
	return m
}

// Owner is a user's uid and gid; root and unknown names are 0, 0.
func (ids IDs) Owner(name string) (uid, gid int) {
	id, ok := ids.Users[name]
	if !ok {
		return 0, 0
	}
	return id.UID, id.GID
}

// LoadIDs reads the ids kept at path; no file is no ids yet. A file that
// is not what SaveIDs writes is an error naming it and the bad field.
func LoadIDs(path string) (IDs, error) {
	var ids IDs
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return IDs{Users: map[string]UserID{}}, nil
	}
	if err != nil {
		return ids, fmt.Errorf("read user ids: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ids); err != nil {
		return IDs{}, fmt.Errorf("read user ids %s: %w", path, err)
	}
	var errs []error
	check := func(field string, id int) {
		if id < 0 || id > maxID {
			errs = append(errs, fmt.Errorf("%s: %s: expected 0 to %d, got %d", path, field, maxID, id))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(ids.Users)) {
		check("users."+name+".uid", ids.Users[name].UID)
		check("users."+name+".gid", ids.Users[name].GID)
	}
	for _, g := range slices.Sorted(maps.Keys(ids.Groups)) {
		check("groups."+g, ids.Groups[g])
	}
	if err := errors.Join(errs...); err != nil {
		return IDs{}, fmt.Errorf("read user ids: %w", err)
	}
	if ids.Users == nil {
		ids.Users = map[string]UserID{}
	}
	return ids, nil
}

// SaveIDs writes ids to path atomically (readers see the old file or the
// new, never a part).
func SaveIDs(path string, ids IDs) error {
	b, err := json.MarshalIndent(ids, "", "  ")
	if err != nil {
		return fmt.Errorf("write user ids: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write user ids: %w", err)
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}
