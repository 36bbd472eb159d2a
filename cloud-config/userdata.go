package cloudconfig

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/berth-os/berth/internal/strictyaml"
)

// Part kinds.
const (
	KindCloudConfig = "cloud-config"
	KindScript      = "script"
	// KindIgnored is a part of a type cloud-init has no handler for
	// either (a #cloud-config-archive or MIME part of type foo/bar): left
	// out with a warning, Data holding the reason.
	KindIgnored = "ignored"
)

// Part is one piece of user-data: a #cloud-config document or a script.
type Part struct {
	Kind string
	Name string // the MIME filename, or "user-data"
	Data []byte
}

// maxUserData bounds what is read (after gzip), like cloud providers do.
const maxUserData = 16 << 20

// SplitUserData turns raw user-data into parts: gzip is undone, MIME
// multipart is split, and each part is a #cloud-config document or a #!
// script. Empty user-data has no parts. Parts Berth cannot run
// (#include, boothooks, part handlers) are errors naming them.
func SplitUserData(data []byte) ([]Part, error) {
	return (&splitter{unzip: maxUserData}).split(data)
}

// maxNesting bounds how deep MIME multiparts (and gzip in them) nest.
const maxNesting = 8

// splitter splits one user-data. Decompression is the one way a part can
// grow, so what gzip gives, over the whole user-data and its parts, is
// capped at maxUserData in all; a gzip in a gzip in a MIME part cannot
// multiply it. Nesting is capped too.
type splitter struct {
	unzip int // bytes gzip may still give
	depth int
}

func (s *splitter) split(data []byte) ([]Part, error) {
	s.depth++
	defer func() { s.depth-- }()
	if s.depth > maxNesting {
		return nil, fmt.Errorf("user-data nests MIME parts or gzip more than %d deep", maxNesting)
	}
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		d, err := io.ReadAll(io.LimitReader(zr, int64(s.unzip)+1))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if len(d) > s.unzip {
			return nil, fmt.Errorf("user-data decompresses to over %d MiB in all", maxUserData>>20)
		}
		s.unzip -= len(d)
		data = d
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, nil
	}
	if isMIME(trimmed) {
		return s.splitMIME(trimmed)
	}
	if first, _, _ := bytes.Cut(trimmed, []byte("\n")); strings.TrimSpace(string(first)) == "#cloud-config-archive" {
		return splitArchive(trimmed)
	}
	p, err := classify("user-data", "", trimmed)
	if err != nil {
		return nil, err
	}
	return []Part{p}, nil
}

// classify names a single part by its first line or MIME type.
func classify(name, mimeType string, data []byte) (Part, error) {
	// The first line alone is copied: data may be megabytes.
	line, _, _ := bytes.Cut(data, []byte("\n"))
	first := strings.TrimSpace(string(line))
	switch {
	case strings.HasPrefix(first, "## template:") || mimeType == "text/jinja2":
		return Part{}, fmt.Errorf("%s: %s: templates are not rendered on Berth (it has no instance data to fill them with); render the template before you hand it over, with the values written in, or read them at run time in a runcmd script", name, first)
	case mimeType == "text/cloud-config-archive" || first == "#cloud-config-archive":
		parts, err := splitArchive(data)
		if err != nil {
			return Part{}, err
		}
		if len(parts) != 1 {
			return Part{}, fmt.Errorf("%s: a #cloud-config-archive inside MIME is not supported on Berth; give its parts as MIME parts", name)
		}
		return parts[0], nil
	case mimeType == "text/cloud-config" || strings.HasPrefix(first, "#cloud-config"):
		return Part{Kind: KindCloudConfig, Name: name, Data: data}, nil
	case mimeType == "text/x-shellscript" || strings.HasPrefix(first, "#!"):
		if !strings.HasPrefix(first, "#!") {
			return Part{}, fmt.Errorf("%s: a text/x-shellscript part must start with #!", name)
		}
		return Part{Kind: KindScript, Name: name, Data: data}, nil
	case strings.HasPrefix(first, "#include") || mimeType == "text/x-include-url":
		return Part{}, fmt.Errorf("%s: #include user-data is not supported on Berth (Berth fetches no user-data from URLs at boot; give the documents themselves, as MIME multipart if there are several)", name)
	case strings.HasPrefix(first, "#cloud-boothook") || mimeType == "text/cloud-boothook":
		return Part{}, fmt.Errorf("%s: #cloud-boothook is not supported on Berth (put the commands in bootcmd, which runs at every boot before services)", name)
	case strings.HasPrefix(first, "#part-handler") || mimeType == "text/part-handler":
		return Part{}, fmt.Errorf("%s: part handlers are not supported on Berth (Berth runs no Python; give #cloud-config and #! script parts)", name)
	}
	if mimeType != "" && mimeType != "text/plain" && mimeType != "application/octet-stream" {
		return Part{Kind: KindIgnored, Name: name, Data: []byte(fmt.Sprintf("ignored: a part of type %s has no handler, on Berth as in cloud-init", mimeType))}, nil
	}
	return Part{}, fmt.Errorf("%s: not user-data Berth knows (expected a first line of #cloud-config or #!, got %q)", name, truncate(first, 40))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func isMIME(data []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for i := 0; i < 20 && sc.Scan(); i++ {
		l := strings.ToLower(sc.Text())
		if strings.HasPrefix(l, "content-type:") && strings.Contains(l, "multipart/") {
			return true
		}
		if l == "" {
			break
		}
	}
	return false
}

func (s *splitter) splitMIME(data []byte) ([]Part, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("MIME user-data: %w", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return nil, fmt.Errorf("MIME user-data: expected multipart with a boundary, got %q", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []Part
	for i := 1; ; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("MIME user-data: part %d: %w", i, err)
		}
		name := p.FileName()
		if name == "" {
			name = fmt.Sprintf("part-%03d", i)
		}
		body, err := io.ReadAll(io.LimitReader(p, maxUserData))
		if err != nil {
			return nil, fmt.Errorf("MIME user-data: %s: %w", name, err)
		}
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
			if body, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), "")); err != nil {
				return nil, fmt.Errorf("MIME user-data: %s: base64: %w", name, err)
			}
		}
		ptype, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if strings.HasPrefix(ptype, "multipart/") {
			sub, err := s.split(append([]byte("Content-Type: "+p.Header.Get("Content-Type")+"\n\n"), body...))
			if err != nil {
				return nil, err
			}
			parts = append(parts, sub...)
			continue
		}
		if len(body) > 2 && body[0] == 0x1f && body[1] == 0x8b {
			sub, err := s.split(body)
			if err != nil {
				return nil, fmt.Errorf("MIME user-data: %s: %w", name, err)
			}
			parts = append(parts, sub...)
			continue
		}
		part, err := classify(name, ptype, bytes.TrimLeft(body, " \t\r\n"))
		if err != nil {
			return nil, err
		}
		parts = append(parts, part)
	}
	return parts, nil
}

// splitArchive reads a #cloud-config-archive: a YAML list of parts, each
// the part's content as a string, or a map of content, type and filename
// (and launch-index, which Berth does not filter on). A part's type
// defaults to what its first line says.
func splitArchive(data []byte) ([]Part, error) {
	var items []yaml.Node
	if err := strictyaml.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("#cloud-config-archive: expected a list of parts: %v", err)
	}
	var parts []Part
	for i, it := range items {
		name := fmt.Sprintf("part-%03d", i+1)
		var p struct {
			Content     string `yaml:"content"`
			Type        string `yaml:"type"`
			Filename    string `yaml:"filename"`
			LaunchIndex *int   `yaml:"launch-index"`
		}
		switch it.Kind {
		case yaml.ScalarNode:
			p.Content = it.Value
		case yaml.MappingNode:
			if err := it.Decode(&p); err != nil {
				return nil, fmt.Errorf("#cloud-config-archive: %s (line %d): %v", name, it.Line, err)
			}
		default:
			return nil, fmt.Errorf("#cloud-config-archive: %s (line %d): expected a string or a map of content, type and filename", name, it.Line)
		}
		if p.Filename != "" {
			name = p.Filename
		}
		content := []byte(strings.TrimLeft(p.Content, " \t\r\n"))
		if len(content) == 0 {
			continue
		}
		if p.Type == "" {
			first, _, _ := strings.Cut(string(content), "\n")
			if !strings.HasPrefix(first, "#") {
				parts = append(parts, Part{Kind: KindIgnored, Name: name, Data: []byte("ignored: a part without a type or a #cloud-config or #! first line has no handler, on Berth as in cloud-init")})
				continue
			}
		}
		part, err := classify(name, p.Type, content)
		if err != nil {
			return nil, fmt.Errorf("#cloud-config-archive: %w", err)
		}
		parts = append(parts, part)
	}
	return parts, nil
}
