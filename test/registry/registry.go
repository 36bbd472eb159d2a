// Package registry is the OCI registry Berth's tests pull from: no public
// registry can be reached from the test machines, so the tests serve their
// own images (go-containerregistry's in-process registry) on 127.0.0.1,
// which a QEMU guest reaches at 10.0.2.2, and log every request so a test
// can tell that a pull went through it.
package registry

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Server is a registry listening on the loopback interface.
type Server struct {
	// Addr is host:port on the host; a QEMU guest with user networking
	// reaches it at GuestURL.
	Addr string

	l   net.Listener
	srv *http.Server

	mu    sync.Mutex
	reqs  []string
	files map[string][]byte
	// Handler, when set, sees each request before the registry does and
	// may answer it itself (return true): tests put credentials checks
	// here.
	Handler func(w http.ResponseWriter, r *http.Request) bool
}

// Start serves an empty registry on 127.0.0.1 at a free port.
func Start() (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("test registry: %w", err)
	}
	s := &Server{Addr: l.Addr().String(), l: l}
	reg := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() { s.log(fmt.Sprintf("%s %s %d", r.Method, r.URL.RequestURI(), rec.code)) }()
		if h := s.Handler; h != nil && h(rec, r) {
			return
		}
		if b, ok := s.file(r.URL.Path); ok {
			rec.Write(b)
			return
		}
		reg.ServeHTTP(rec, r)
	})}
	go s.srv.Serve(l)
	return s, nil
}

// URL is the registry's address from this machine.
func (s *Server) URL() string { return "http://" + s.Addr }

// GuestURL is the registry's address from a QEMU guest on user
// networking, where 10.0.2.2 is the host's loopback.
func (s *Server) GuestURL() string {
	_, port, _ := net.SplitHostPort(s.Addr)
	return "http://10.0.2.2:" + port
}

// Serve makes the server answer GET /files/NAME with data (a tarball
// for a guest to fetch with wget), and returns that path.
func (s *Server) Serve(name string, data []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files == nil {
		s.files = map[string][]byte{}
	}
	p := "/files/" + name
	s.files[p] = data
	return p
}

func (s *Server) file(p string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.files[p]
	return b, ok
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

func (s *Server) log(line string) {
	s.mu.Lock()
	s.reqs = append(s.reqs, line)
	s.mu.Unlock()
}

// Requests is the access log: "METHOD URI STATUS" for each request so far.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

// Push stores img under ref as a mirror of ref's registry holds it: a
// mirror serves docker.io/library/debian:bookworm as library/debian, tag
// bookworm. It speaks the registry API itself (blob uploads, then the
// manifest), as a client like docker push would.
func (s *Server) Push(ref string, img v1.Image) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("test registry: push %s: %w", ref, err)
	}
	repo := r.Context().RepositoryStr()
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("test registry: push %s: %w", ref, err)
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return fmt.Errorf("test registry: push %s: %w", ref, err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return fmt.Errorf("test registry: push %s: %w", ref, err)
		}
		err = s.putBlob(repo, d.String(), rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("test registry: push %s: layer %s: %w", ref, d, err)
		}
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("test registry: push %s: %w", ref, err)
	}
	cd, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("test registry: push %s: %w", ref, err)
	}
	if err := s.putBlob(repo, cd.String(), bytes.NewReader(cfg)); err != nil {
		return fmt.Errorf("test registry: push %s: config: %w", ref, err)
	}
	m, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("test registry: push %s: %w", ref, err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return fmt.Errorf("test registry: push %s: %w", ref, err)
	}
	req, _ := http.NewRequest(http.MethodPut, s.URL()+"/v2/"+repo+"/manifests/"+r.Identifier(), bytes.NewReader(m))
	req.Header.Set("Content-Type", string(mt))
	if err := do(req, http.StatusCreated); err != nil {
		return fmt.Errorf("test registry: push %s: manifest: %w", ref, err)
	}
	return nil
}

// putBlob uploads a blob in one request (a monolithic upload).
func (s *Server) putBlob(repo, digest string, body io.Reader) error {
	resp, err := http.Post(s.URL()+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("start upload: %s", resp.Status)
	}
	loc, err := resp.Location()
	if err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodPut, loc.String(), body)
	req.Header.Set("Content-Type", "application/octet-stream")
	return do(req, http.StatusCreated)
}

func do(req *http.Request, want int) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// Served reports whether the access log shows a manifest of repo (such
// as library/debian) answered with 200.
func (s *Server) Served(repo string) bool {
	for _, l := range s.Requests() {
		if strings.Contains(l, "/v2/"+repo+"/manifests/") && strings.HasSuffix(l, " 200") {
			return true
		}
	}
	return false
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}
