package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrGone means the server no longer has a pinned file (HTTP 404/410).
// Debian's pool drops superseded versions, so a pin can go stale.
var ErrGone = errors.New("no longer available upstream")

// ErrHTTP means the server answered with another error status; Fetch
// tries again.
var ErrHTTP = errors.New("unexpected HTTP status")

// ErrChecksum means a download did not match its pinned sha256.
var ErrChecksum = errors.New("sha256 mismatch")

// RetryWait is how long Fetch waits before its second try of a download
// that failed but may come (a stall, a 5xx); twice that before the third.
var RetryWait = 2 * time.Second

// Download is one pinned file.
type Download struct {
	URL    string
	SHA256 string
	Size   int64 // 0 when unknown
}

// Fetch returns the local path of a verified download, fetching it when the
// cache lacks it. progress, if not nil, counts the bytes received.
func (c *Cache) Fetch(ctx context.Context, d Download, progress io.Writer) (string, error) {
	if len(d.SHA256) != 64 || strings.Trim(strings.ToLower(d.SHA256), "0123456789abcdef") != "" {
		return "", fmt.Errorf("fetch %s: pinned sha256 %q is not 64 hex digits", d.URL, d.SHA256)
	}
	sum := strings.ToLower(d.SHA256)
	path := filepath.Join(c.Root, "dl", sum)
	if _, err := os.Stat(path); err == nil {
		if err := stamp(path); err != nil {
			return "", fmt.Errorf("fetch %s: %w", d.URL, err)
		}
		c.useDownload(sum)
		return path, nil
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(time.Duration(attempt) * RetryWait):
			}
		}
		err = c.fetchOnce(ctx, d, path, progress)
		if err == nil || errors.Is(err, ErrGone) || errors.Is(err, ErrChecksum) {
			break
		}
	}
	if err != nil {
		return "", err
	}
	c.useDownload(sum)
	return path, nil
}

// UseDownload marks a download as used, when the cache has it, without
// fetching it: a stage found in the cache uses what it was made from, so
// that the downloads live as long as the stages built from them (the
// kernel source, 150 MB, is needed again when the kernel config changes).
func (c *Cache) UseDownload(sha256 string) (bool, error) {
	sum := strings.ToLower(sha256)
	path := filepath.Join(c.Root, "dl", sum)
	if _, err := os.Stat(path); err != nil {
		return false, nil
	}
	if err := stamp(path); err != nil {
		return false, fmt.Errorf("use download %s: %w", sum, err)
	}
	c.useDownload(sum)
	return true, nil
}

// useDownload records that this value used a download: Prune keeps it.
func (c *Cache) useDownload(sum string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dl == nil {
		c.dl = map[string]bool{}
	}
	c.dl[sum] = true
}

func (c *Cache) fetchOnce(ctx context.Context, d Download, path string, progress io.Writer) error {
	resp, err := Get(ctx, d.URL)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", d.URL, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return fmt.Errorf("fetch %s: %s: %w", d.URL, resp.Status, ErrGone)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("fetch %s: %s: %w", d.URL, resp.Status, ErrHTTP)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".dl-*")
	if err != nil {
		return fmt.Errorf("fetch %s: %w", d.URL, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	var w io.Writer = io.MultiWriter(tmp, h)
	if progress != nil {
		w = io.MultiWriter(w, progress)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", d.URL, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(d.SHA256) {
		return fmt.Errorf("fetch %s: got sha256 %s (%d bytes), pinned %s: %w", d.URL, got, n, d.SHA256, ErrChecksum)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("fetch %s: %w", d.URL, err)
	}
	// Readable by all, like the stages: a cache may be shared read-only.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("fetch %s: %w", d.URL, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("fetch %s: %w", d.URL, err)
	}
	return nil
}
