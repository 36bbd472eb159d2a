package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-os/berth/internal/errkind"
)

// Image is an image in the system containerd's store, as hostctl image
// list shows it.
type Image struct {
	Name    string    `json:"name"`
	Digest  string    `json:"digest"`
	Size    int64     `json:"size"` // of its content in the store (packed)
	Type    string    `json:"type"` // the media type of its manifest or index
	Created time.Time `json:"created"`
}

// ImageHost is what PID 1 exposes of its image store.
type ImageHost interface {
	Images(ctx context.Context) ([]Image, error)
	// PullImage fetches and unpacks ref, writing progress lines to
	// progress; an image that does not exist is errkind.ErrNotFound.
	PullImage(ctx context.Context, ref string, progress io.Writer) (Image, error)
	// ImportImages loads the images of an OCI layout or docker save tarball.
	ImportImages(ctx context.Context, r io.Reader, progress io.Writer) ([]Image, error)
}

// PullRequest is the body of POST /v1/images/pull.
type PullRequest struct {
	Ref string `json:"ref"`
}

// ImageEvent is one line of the answer to a pull or an import: progress
// lines, then the outcome, the images or an error with the status of its
// kind (a stream's own status is sent before the outcome is known).
type ImageEvent struct {
	Progress string  `json:"progress,omitempty"`
	Image    *Image  `json:"image,omitempty"`
	Images   []Image `json:"images,omitempty"`
	// Install is the outcome of hostctl install, which streams as a pull does.
	Install *InstallResult `json:"install,omitempty"`
	// Upgrade is the outcome of hostctl os upgrade.
	Upgrade *UpgradeResult `json:"upgrade,omitempty"`
	Error   string         `json:"error,omitempty"`
	Status  int            `json:"status,omitempty"`
}

// importPath takes a tarball of any size: no request limit applies to it.
const importPath = "/v1/images/import"

func imageRoutes(mux *http.ServeMux, h ImageHost) {
	mux.HandleFunc("GET /v1/images", func(w http.ResponseWriter, r *http.Request) {
		imgs, err := h.Images(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, imgs)
	})
	mux.HandleFunc("POST /v1/images/pull", func(w http.ResponseWriter, r *http.Request) {
		var req PullRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Ref == "" {
			writeError(w, BadRequest(errors.New("pull: expected a JSON body with ref")))
			return
		}
		stream(w, func(progress io.Writer) ImageEvent {
			img, err := h.PullImage(r.Context(), req.Ref, progress)
			if err != nil {
				return ImageEvent{Error: err.Error(), Status: statusOf(err)}
			}
			return ImageEvent{Image: &img}
		})
	})
	mux.HandleFunc("POST "+importPath, func(w http.ResponseWriter, r *http.Request) {
		// A tarball of images takes longer than the server's read timeout.
		http.NewResponseController(w).SetReadDeadline(time.Time{})
		stream(w, func(progress io.Writer) ImageEvent {
			imgs, err := h.ImportImages(r.Context(), r.Body, progress)
			if err != nil {
				return ImageEvent{Error: err.Error(), Status: statusOf(err)}
			}
			return ImageEvent{Images: imgs}
		})
	})
}

// stream answers with ImageEvent lines: each line run writes to progress,
// then the outcome.
func stream(w http.ResponseWriter, run func(progress io.Writer) ImageEvent) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	fl, _ := w.(http.Flusher)
	send := func(e ImageEvent) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(e)
		if fl != nil {
			fl.Flush()
		}
	}
	lw := &lineWriter{line: func(s string) { send(ImageEvent{Progress: s}) }}
	out := run(lw)
	lw.Close()
	send(out)
}

// lineWriter calls line for each line written to it.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	line func(string)
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		l.line(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}

func (l *lineWriter) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.line(string(l.buf))
		l.buf = nil
	}
}

// Images lists the images of the system containerd's store.
func (c *Client) Images(ctx context.Context) ([]Image, error) {
	var imgs []Image
	err := c.do(ctx, http.MethodGet, "/v1/images", nil, &imgs)
	return imgs, err
}

// PullImage asks the host to pull ref, copying its progress lines to
// progress. Its error is of the kind the host judged (errkind.ErrNotFound
// for an image the registry does not have).
func (c *Client) PullImage(ctx context.Context, ref string, progress io.Writer) (Image, error) {
	b, _ := json.Marshal(PullRequest{Ref: ref})
	e, err := c.events(ctx, "/v1/images/pull", "application/json", strings.NewReader(string(b)), progress)
	if err != nil {
		return Image{}, err
	}
	if e.Image == nil {
		return Image{}, fmt.Errorf("host API: pull %s: the answer names no image", ref)
	}
	return *e.Image, nil
}

// ImportImages streams a tarball of images (OCI layout or docker save) to
// the host, which loads and unpacks them.
func (c *Client) ImportImages(ctx context.Context, r io.Reader, progress io.Writer) ([]Image, error) {
	e, err := c.events(ctx, importPath, "application/x-tar", r, progress)
	if err != nil {
		return nil, err
	}
	return e.Images, nil
}

// events sends body to path and reads the ImageEvent lines of the answer:
// progress to progress, and the last, the outcome.
func (c *Client) events(ctx context.Context, path, ctype string, body io.Reader, progress io.Writer) (ImageEvent, error) {
	resp, err := c.sendType(ctx, http.MethodPost, path, ctype, body)
	if err != nil {
		return ImageEvent{}, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e ImageEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return ImageEvent{}, fmt.Errorf("host API: POST %s: decode the answer: %w", path, err)
		}
		switch {
		case e.Progress != "":
			fmt.Fprintln(progress, e.Progress)
			continue
		case e.Error != "":
			return ImageEvent{}, &remoteError{msg: e.Error, kind: kindOf(e.Status)}
		}
		return e, nil
	}
	if err := sc.Err(); err != nil {
		return ImageEvent{}, errkind.Mark(errkind.ErrUnavailable, fmt.Errorf("host API: POST %s: %w", path, err))
	}
	return ImageEvent{}, errkind.Mark(errkind.ErrUnavailable, fmt.Errorf("host API: POST %s: the answer ended before its outcome", path))
}
