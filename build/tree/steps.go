package tree

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Source names where a step takes files from: a package set
// ("packages:host"), a Go program ("go:init"), a service bundle
// ("service:console"), the kernel's modules ("kernel:modules"), a folder
// of the repository ("files:console"). A Resolver gives its path when the
// layout is applied, so a layout is data that tests print without
// building anything.
type Source struct {
	Kind, Name string
}

func (s Source) String() string { return s.Kind + ":" + s.Name }

// Resolver returns the path of a source.
type Resolver func(Source) (string, error)

// Step is one operation of a layout. String is the line a golden list
// shows.
type Step interface {
	Apply(t *Tree, r Resolver) error
	String() string
}

// Layout is a list of steps applied in order.
type Layout []Step

// Apply applies every step in order.
func (l Layout) Apply(t *Tree, r Resolver) error {
	for i, s := range l {
		if err := s.Apply(t, r); err != nil {
			return fmt.Errorf("layout step %d (%s): %w", i+1, s, err)
		}
	}
	return nil
}

// Lines are the steps as text, one a line.
func (l Layout) Lines() []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = s.String()
	}
	return out
}

// Sources lists the sources the steps take files from, sorted.
func (l Layout) Sources() []Source {
	seen := map[Source]bool{}
	var out []Source
	for _, s := range l {
		u, ok := s.(interface{ Uses() Source })
		if !ok || seen[u.Uses()] {
			continue
		}
		seen[u.Uses()] = true
		out = append(out, u.Uses())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func mode(m os.FileMode) string {
	s := fmt.Sprintf("%04o", m.Perm())
	if m&os.ModeSticky != 0 {
		s = fmt.Sprintf("%04o", 0o1000|m.Perm())
	}
	return s
}

func ifThere(cond bool, what string) string {
	if cond {
		return " (" + what + ")"
	}
	return ""
}

// resolve gives the path of a source, or of a path under it.
func resolve(r Resolver, src Source, sub string) (string, error) {
	p, err := r(src)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", src, err)
	}
	return filepath.Join(p, sub), nil
}

// Skeleton makes the merged-/usr folders and links (Tree.Skeleton).
type Skeleton struct{}

func (Skeleton) Apply(t *Tree, _ Resolver) error { return t.Skeleton() }
func (Skeleton) String() string                  { return "skeleton (merged /usr, top-level folders)" }

// Merge copies a source's tree, or a folder Sub of it, over To.
type Merge struct {
	From     Source
	Sub      string // a folder of the source; "" for all of it
	To       string
	IfExists bool // a missing Sub is no error
}

func (m Merge) Uses() Source { return m.From }

func (m Merge) Apply(t *Tree, r Resolver) error {
	src, err := resolve(r, m.From, m.Sub)
	if err != nil {
		return err
	}
	if m.IfExists {
		if _, err := os.Stat(src); os.IsNotExist(err) {
			return nil
		}
	}
	return t.Merge(src, m.To)
}

func (m Merge) String() string {
	from := m.From.String()
	if m.Sub != "" {
		from += "/" + strings.TrimPrefix(m.Sub, "/")
	}
	return fmt.Sprintf("merge %s → %s%s", from, m.To, ifThere(m.IfExists, "if present"))
}

// Install copies a source's file (a Go program) to To with Mode.
type Install struct {
	From Source
	To   string
	Mode os.FileMode
}

func (i Install) Uses() Source { return i.From }

func (i Install) Apply(t *Tree, r Resolver) error {
	src, err := resolve(r, i.From, "")
	if err != nil {
		return err
	}
	return t.Install(src, i.To, i.Mode)
}

func (i Install) String() string {
	return fmt.Sprintf("install %s → %s %s", i.From, i.To, mode(i.Mode))
}

// Remove deletes Path and what is under it.
type Remove struct{ Path string }

func (x Remove) Apply(t *Tree, _ Resolver) error { return t.Remove(x.Path) }
func (x Remove) String() string                  { return "remove " + x.Path }

// Exclude deletes Path, what a package set has and an image leaves out,
// and what is under it. A Path the tree does not have is an error: the
// packages moved or dropped it, and the exclusion no longer does what its
// comment says. Field says where the exclusion was written (file and
// field path), for that error; it is no part of the step's identity.
type Exclude struct{ Path, Field string }

func (x Exclude) Apply(t *Tree, _ Resolver) error {
	if !t.Exists(x.Path) {
		where := "exclude"
		if x.Field != "" {
			where = x.Field
		}
		return fmt.Errorf("%s: %s: the packages have no such file or folder (moved or dropped in an update?)", where, x.Path)
	}
	return t.Remove(x.Path)
}

func (x Exclude) String() string { return "exclude " + x.Path }

// Dir makes a folder.
type Dir struct {
	Path      string
	Mode      os.FileMode
	IfMissing bool // leave what is there (a mount point the packages already have)
}

func (d Dir) Apply(t *Tree, _ Resolver) error {
	if d.IfMissing && t.Exists(d.Path) {
		return nil
	}
	return t.Dir(d.Path, d.Mode)
}

func (d Dir) String() string {
	return fmt.Sprintf("dir %s %s%s", d.Path, mode(d.Mode), ifThere(d.IfMissing, "if missing"))
}

// File writes Data to Path. What says what it is, for the listing.
type File struct {
	Path      string
	Mode      os.FileMode
	Data      []byte
	What      string
	IfMissing bool
}

func (f File) Apply(t *Tree, _ Resolver) error {
	if f.IfMissing && t.Exists(f.Path) {
		return nil
	}
	return t.File(f.Path, f.Data, f.Mode)
}

func (f File) String() string {
	s := fmt.Sprintf("file %s %s", f.Path, mode(f.Mode))
	if f.What != "" {
		s += ": " + f.What
	}
	return s + ifThere(f.IfMissing, "if missing")
}

// Symlink makes Path a link to Target.
type Symlink struct{ Path, Target string }

func (l Symlink) Apply(t *Tree, _ Resolver) error { return t.Symlink(l.Path, l.Target) }
func (l Symlink) String() string                  { return fmt.Sprintf("symlink %s → %s", l.Path, l.Target) }

// HardLink makes Path a hard link to Target, a file of the tree: one
// inode, which squashfs keeps once and a running host reads into memory
// once (a multi-call program's names).
type HardLink struct{ Path, Target string }

func (l HardLink) Apply(t *Tree, _ Resolver) error { return t.HardLink(l.Path, l.Target) }
func (l HardLink) String() string                  { return fmt.Sprintf("hard link %s → %s", l.Path, l.Target) }

// LinkSame makes files of the same contents and mode one inode
// (Tree.LinkSame): a last step, once every file is there.
type LinkSame struct{}

func (LinkSame) Apply(t *Tree, _ Resolver) error {
	_, _, err := t.LinkSame()
	return err
}
func (LinkSame) String() string {
	return "hard-link identical files (one inode, one copy in the page cache)"
}

// BusyboxLinks links every busybox applet that has no program of its own
// to Busybox (a path in the tree).
type BusyboxLinks struct {
	Busybox  string
	IfExists bool // no busybox is no error
}

func (b BusyboxLinks) Apply(t *Tree, _ Resolver) error {
	if b.IfExists && !t.Exists(b.Busybox) {
		return nil
	}
	_, err := t.BusyboxLinks(b.Busybox)
	return err
}

func (b BusyboxLinks) String() string {
	return fmt.Sprintf("busybox applet links → %s%s", b.Busybox, ifThere(b.IfExists, "if present"))
}

// Concat writes to To the files under a source's folder Sub whose names
// end in Suffix, one after the other in path order, each ending in a
// newline (a CA bundle, as update-ca-certificates makes it).
type Concat struct {
	From   Source
	Sub    string
	Suffix string
	To     string
	Mode   os.FileMode
}

func (c Concat) Uses() Source { return c.From }

func (c Concat) Apply(t *Tree, r Resolver) error {
	dir, err := resolve(r, c.From, c.Sub)
	if err != nil {
		return err
	}
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, c.Suffix) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("concat %s: %w", dir, err)
	}
	if len(files) == 0 {
		return fmt.Errorf("concat: no *%s files in %s", c.Suffix, dir)
	}
	sort.Strings(files)
	var out []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("concat: %w", err)
		}
		out = append(out, b...)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			out = append(out, '\n')
		}
	}
	return t.File(c.To, out, c.Mode)
}

func (c Concat) String() string {
	return fmt.Sprintf("concat %s/%s/*%s → %s %s", c.From, strings.TrimPrefix(c.Sub, "/"), c.Suffix, c.To, mode(c.Mode))
}
