package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// Hasher builds a cache key from named inputs. Every input is framed with
// its name and length, so different inputs cannot collide by concatenation.
type Hasher struct {
	h   hashWriter
	err error
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

// NewKey starts a key for a stage; bump version when the stage's recipe changes.
func NewKey(stage string, version int) *Hasher {
	k := &Hasher{h: sha256.New()}
	k.String("stage", stage+"/"+strconv.Itoa(version))
	return k
}

// String adds a named string.
func (k *Hasher) String(name, v string) *Hasher {
	fmt.Fprintf(k.h, "%s\x00%d\x00%s\x00", name, len(v), v)
	return k
}

// Bytes adds named bytes.
func (k *Hasher) Bytes(name string, v []byte) *Hasher { return k.String(name, string(v)) }

// File adds a file's content and mode.
func (k *Hasher) File(name, path string) *Hasher {
	mode, sum, err := fileSum(path)
	if err != nil {
		k.err = errors.Join(k.err, fmt.Errorf("hash %s: %w", path, err))
		return k
	}
	return k.String(name, fmt.Sprintf("%o:%s", mode, sum))
}

func fileSum(path string) (fs.FileMode, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return 0, "", err
	}
	return st.Mode() & fs.ModePerm, hex.EncodeToString(h.Sum(nil)), nil
}

// Dir adds every file under a directory: relative paths, modes, symlink
// targets and contents, in sorted order.
func (k *Hasher) Dir(name, root string) *Hasher {
	var entries []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			entries = append(entries, fmt.Sprintf("%s l %s", rel, t))
		case d.IsDir():
			entries = append(entries, fmt.Sprintf("%s d %o", rel, info.Mode()&fs.ModePerm))
		case d.Type().IsRegular():
			sum, err := FileSHA256(p)
			if err != nil {
				return err
			}
			entries = append(entries, fmt.Sprintf("%s f %o %s", rel, info.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid), sum))
		}
		return nil
	})
	if err != nil {
		k.err = errors.Join(k.err, fmt.Errorf("hash %s: %w", root, err))
	}
	sort.Strings(entries)
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintln(h, e)
	}
	return k.String(name, hex.EncodeToString(h.Sum(nil)))
}

// Key returns the hex key, or the first error met while hashing.
func (k *Hasher) Key() (string, error) {
	if k.err != nil {
		return "", k.err
	}
	return hex.EncodeToString(k.h.Sum(nil))[:32], nil
}

// FileSHA256 is the hex sha256 of a file's content.
func FileSHA256(p string) (string, error) {
	_, sum, err := fileSum(p)
	if err != nil {
		return "", fmt.Errorf("sha256 of %s: %w", p, err)
	}
	return sum, nil
}
