package main

// User-defined services: hostctl service enable FILE|URL takes a Compose
// document of image services, validates it whole, pulls every image, then
// stores each service as its own NAME.yaml on the state partition and
// enables it. They run on the image services' runner (imageservices.go),
// as the catalogue's do. On any failure nothing changes: no file is left,
// and the configuration is as it was.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/berth-os/berth/cloud-config/datasource"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/init/supervise"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/strictyaml"
	"github.com/berth-os/berth/services"
)

var (
	// userServicesAt is where user services are stored (tests change it).
	userServicesAt = layout.UserServicesDir
	// fetchTimeout bounds the fetch of a definition's URL.
	fetchTimeout = 30 * time.Second
	// cloudPullTimeout bounds the pull of a cloud-config service's image
	// when it starts.
	cloudPullTimeout = 3 * time.Minute
	// userImage makes sure a user service's image is in the store (tests
	// change it).
	userImage = (*host).ensureImage
)

// originKey is the top-level extension key of a stored definition that
// says where it came from (Compose ignores x- keys).
const originKey = "x-berth-origin"

// userDefs are the stored user services, by name. A file that does not
// load (enable checked it, but it may have been edited since) is left
// out: badUserDefs reports it.
func (h *host) userDefs() map[string]*services.Definition {
	defs, _ := readUserDefs()
	return defs
}

// readUserDefs reads every stored user service, and says what is wrong
// with each file that does not load.
func readUserDefs() (map[string]*services.Definition, []string) {
	out := map[string]*services.Definition{}
	var bad []string
	ents, _ := os.ReadDir(userServicesAt)
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok || e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		d, err := loadUserDef(name)
		if err != nil {
			bad = append(bad, fmt.Sprintf("berth.services: user service %s is left out: %v", name, err))
			continue
		}
		out[name] = d
	}
	return out, bad
}

// loadUserDef reads userServicesAt/NAME.yaml: one image service, named as
// its file.
func loadUserDef(name string) (*services.Definition, error) {
	d, err := services.LoadEntry(userServicesAt, name)
	if err != nil {
		return nil, err
	}
	if err := userOnly(d); err != nil {
		return nil, err
	}
	return d, nil
}

// userOrigin is where a stored definition came from.
func userOrigin(name string) string {
	b, err := os.ReadFile(filepath.Join(userServicesAt, name+".yaml"))
	if err != nil {
		return ""
	}
	var o map[string]any
	if yaml.Unmarshal(b, &o) != nil {
		return ""
	}
	s, _ := o[originKey].(string)
	return s
}

// userEntries are the user services as hostctl service lists them.
func (h *host) userEntries() []serviceEntry {
	defs := h.userDefs()
	var out []serviceEntry
	for _, n := range slices.Sorted(maps.Keys(defs)) {
		e := serviceEntry{Name: n, Source: api.SourceUser, Origin: userOrigin(n), Image: defs[n].Image}
		for _, d := range defs[n].DependsOn {
			e.Needs = append(e.Needs, d.Name)
		}
		out = append(out, e)
	}
	return out
}

// userOnly refuses what a user service may not have: a built-in's rootfs
// or a catalogue image's build recipe. Privileges are root's to grant on
// its own host, as Compose allows them.
func userOnly(d *services.Definition) error {
	var errs strictyaml.Errors
	if d.XBerth.Rootfs != nil {
		errs = append(errs, &strictyaml.FieldError{Source: d.Source, Path: d.Path + ".x-berth.rootfs", Msg: "a user service runs an image (a rootfs is a built-in's, made by the build): expected image"})
	}
	if d.XBerth.Build != nil {
		errs = append(errs, &strictyaml.FieldError{Source: d.Source, Path: d.Path + ".x-berth.build", Msg: "a user service runs an image from a registry or the store (berth build makes only the catalogue's): expected image"})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// readDefinition is the document of d: its data, or its URL's body
// (size-capped, with a timeout, checked against URL#sha256=HEX).
func readDefinition(ctx context.Context, d api.ServiceDefinition) ([]byte, error) {
	if !strings.HasPrefix(d.Origin, "http://") && !strings.HasPrefix(d.Origin, "https://") {
		if len(d.Data) == 0 {
			return nil, api.BadRequest(fmt.Errorf("%s: empty (expected a Compose document with services:)", d.Origin))
		}
		return d.Data, nil
	}
	base, pins, err := datasource.ParseLocation(d.Origin)
	if err != nil {
		return nil, api.BadRequest(err)
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base, nil)
	if err != nil {
		return nil, api.BadRequest(fmt.Errorf("%s: %w", base, err))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, errkind.Mark(errkind.ErrUnavailable, fmt.Errorf("fetch %s: %w", base, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errkind.Mark(errkind.ErrUnavailable, fmt.Errorf("fetch %s: %s", base, resp.Status))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, api.MaxDefinitionSize+1))
	if err != nil {
		return nil, errkind.Mark(errkind.ErrUnavailable, fmt.Errorf("fetch %s: %w", base, err))
	}
	if len(body) > api.MaxDefinitionSize {
		return nil, api.BadRequest(fmt.Errorf("%s: larger than %d bytes (a Compose document of services is expected)", base, api.MaxDefinitionSize))
	}
	if pins.UserData != "" {
		sum := sha256.Sum256(body)
		if got := hex.EncodeToString(sum[:]); got != pins.UserData {
			return nil, api.BadRequest(fmt.Errorf("%s: refused: its sha256 is %s, the URL pins %s", base, got, pins.UserData))
		}
	}
	return body, nil
}

// DefineServices is hostctl service enable FILE|URL.
func (h *host) DefineServices(ctx context.Context, sd api.ServiceDefinition) (api.DefineResult, error) {
	var res api.DefineResult
	data, err := readDefinition(ctx, sd)
	if err != nil {
		return res, err
	}
	defs, docs, err := h.checkDefinitions(data, sd.Origin)
	if err != nil {
		return res, err
	}
	if sd.DryRun {
		for _, d := range defs {
			res.Services = append(res.Services, api.ServiceResult{Name: d.Name})
		}
		return res, nil
	}
	// Every image first: nothing is stored that cannot start.
	for _, d := range defs {
		if err := userImage(h, ctx, d); err != nil {
			return res, err
		}
	}
	written, err := storeDefinitions(defs, docs)
	if err != nil {
		return res, err
	}
	undo := func() {
		for _, p := range written {
			os.Remove(p)
		}
	}
	// Now enable each: the local layer changes once for all of them.
	cat := h.catalogue()
	cres, err := h.changeLocal(func(local map[string]any) error {
		// editServiceLists edits the merged lists into the local layer:
		// each service's change joins them before the next one's, and
		// they are as they were after.
		sel := &h.cfg.merged.Config.Berth.Services
		en, dis := sel.Enable, sel.Disable
		defer func() { sel.Enable, sel.Disable = en, dis }()
		for _, d := range defs {
			e, _ := findEntry(cat, d.Name)
			if err := h.editServiceLists(local, e, true); err != nil {
				return err
			}
			sel.Enable = appendNew(sel.Enable, d.Name)
			sel.Disable = slices.DeleteFunc(slices.Clone(sel.Disable), func(s string) bool { return s == d.Name })
		}
		return nil
	}, false, false)
	if err != nil {
		undo()
		return res, err
	}
	for i := range cres.Changes {
		if strings.HasPrefix(cres.Changes[i].Key, "berth.services") {
			cres.Changes[i].Effect = map[bool]string{true: "now and from the next boot", false: "from the next boot"}[sd.Now]
		}
	}
	for i, d := range defs {
		r := api.ServiceResult{Name: d.Name}
		if i == 0 {
			r.Config = &cres
		}
		if sd.Now {
			now, err := h.startService(ctx, d.Name)
			r.State, r.Started = now.State, now.Started
			if err != nil {
				r.Warnings = append(r.Warnings, fmt.Sprintf("enabled from the next boot, but: %v", err))
			}
		}
		res.Services = append(res.Services, r)
	}
	return res, nil
}

func appendNew(list []string, n string) []string {
	if slices.Contains(list, n) {
		return list
	}
	return append(slices.Clone(list), n)
}

// checkDefinitions parses and validates a user's document: each service
// on its own, an image service, not named as a built-in or a catalogue
// entry (a user service of that name is replaced), and the set with the
// other user services and the host's names. It returns each service's own
// document, to store.
func (h *host) checkDefinitions(data []byte, origin string) ([]*services.Definition, map[string][]byte, error) {
	defs, err := services.Parse(data, origin)
	if err != nil {
		return nil, nil, api.BadRequest(err)
	}
	var errs strictyaml.Errors
	add := func(err error) {
		var se strictyaml.Errors
		if errors.As(err, &se) {
			errs = append(errs, se...)
		} else if err != nil {
			errs = append(errs, &strictyaml.FieldError{Source: origin, Msg: err.Error()})
		}
	}
	cat := h.catalogue()
	for _, d := range defs {
		add(userOnly(d))
		if e, ok := findEntry(cat, d.Name); ok && (e.Source != api.SourceUser || e.Origin == cloudOrigin) {
			errs = append(errs, &strictyaml.FieldError{Source: origin, Path: d.Path,
				Msg: fmt.Sprintf("%q is a %s service's name: expected a name of its own", d.Name, e.Source)})
		}
	}
	// The set: these, the other user services, and the host's others by
	// name (what depends_on and after/before may name).
	set := slices.Clone(defs)
	others := h.userDefs()
	for _, e := range cat {
		if slices.ContainsFunc(defs, func(d *services.Definition) bool { return d.Name == e.Name }) {
			continue
		}
		if d, ok := others[e.Name]; ok {
			set = append(set, d)
			continue
		}
		set = append(set, &services.Definition{Name: e.Name, Image: e.Image, Source: e.Source})
	}
	if _, err := services.ValidateSet(set); err != nil {
		add(err)
	}
	if len(errs) > 0 {
		return nil, nil, api.BadRequest(errs)
	}
	docs, err := splitDocument(data, origin)
	if err != nil {
		return nil, nil, api.BadRequest(err)
	}
	return defs, docs, nil
}

// splitDocument makes one document for each service of data: its
// services: entry alone, with where it came from.
func splitDocument(data []byte, origin string) (map[string][]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: %v", origin, err)
	}
	top := doc.Content[0]
	out := map[string][]byte{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != "services" {
			continue
		}
		svcs := top.Content[i+1]
		for j := 0; j+1 < len(svcs.Content); j += 2 {
			one := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
				{Kind: yaml.ScalarNode, Value: originKey}, {Kind: yaml.ScalarNode, Value: origin, Style: yaml.DoubleQuotedStyle},
				{Kind: yaml.ScalarNode, Value: "services"}, {Kind: yaml.MappingNode, Content: []*yaml.Node{svcs.Content[j], svcs.Content[j+1]}},
			}}
			var b bytes.Buffer
			enc := yaml.NewEncoder(&b)
			enc.SetIndent(2)
			if err := enc.Encode(one); err != nil {
				return nil, fmt.Errorf("%s: services.%s: %w", origin, svcs.Content[j].Value, err)
			}
			out[svcs.Content[j].Value] = b.Bytes()
		}
	}
	return out, nil
}

// storeDefinitions writes each service's document to userServicesAt
// atomically (a temporary file renamed), and returns the files written;
// on failure it removes them again.
func storeDefinitions(defs []*services.Definition, docs map[string][]byte) ([]string, error) {
	if err := os.MkdirAll(userServicesAt, 0o700); err != nil {
		return nil, err
	}
	var written []string
	for _, d := range defs {
		p := filepath.Join(userServicesAt, d.Name+".yaml")
		if err := writeAtomic(p, docs[d.Name]); err != nil {
			for _, w := range written {
				os.Remove(w)
			}
			return nil, fmt.Errorf("store service %s: %w", d.Name, err)
		}
		written = append(written, p)
	}
	return written, nil
}

func writeAtomic(p string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-"+filepath.Base(p))
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

// RemoveService is hostctl service rm: a user service's definition goes,
// once it is disabled (and so stopped at the next boot); a running one is
// stopped first.
func (h *host) RemoveService(ctx context.Context, name string) error {
	p := filepath.Join(userServicesAt, name+".yaml")
	if _, err := os.Stat(p); err != nil {
		if e, ok := findEntry(h.catalogue(), name); ok {
			return errkind.Mark(errkind.ErrInvalidConfig, fmt.Errorf("%s is a %s service: only a user service's definition can be removed (disable it instead)", name, e.Source))
		}
		return h.unknownService(name)
	}
	configMu.Lock()
	set, _ := h.wantedServices()
	configMu.Unlock()
	if slices.Contains(set, name) {
		return errkind.Mark(errkind.ErrInvalidConfig, fmt.Errorf("%s is enabled: hostctl service disable %s first", name, name))
	}
	if h.sup != nil {
		if _, ok := h.sup.Detail(name); ok {
			if err := h.sup.Stop(ctx, name); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("remove service %s: %w", name, err)
	}
	h.logf("service %s: definition removed", name)
	return nil
}

// cloudOrigin is the origin of the services that cloud-config defines.
const cloudOrigin = "cloud-config"

// cloudDefs are berth.services.define's services that are valid, by name,
// and what is wrong with the others, each naming its field under
// berth.services.define. A name of a built-in, catalogue entry or stored
// user service is refused: those are defined already.
func (h *host) cloudDefs(taken map[string]string) (map[string]*services.Definition, []string) {
	out := map[string]*services.Definition{}
	if h.cfg == nil || h.cfg.merged == nil {
		return out, nil
	}
	define := h.cfg.merged.Config.Berth.Services.Define
	var bad []string
	for _, name := range slices.Sorted(maps.Keys(define)) {
		field := "berth.services.define." + name
		if src, ok := taken[name]; ok {
			bad = append(bad, fmt.Sprintf("%s: %q is a %s service's name: expected a name of its own", field, name, src))
			continue
		}
		d, err := parseCloudDef(name, define[name])
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		out[name] = d
	}
	return out, bad
}

// parseCloudDef validates one inline definition as a Compose service,
// with its errors' field paths under berth.services.define.
func parseCloudDef(name string, v any) (*services.Definition, error) {
	b, err := yaml.Marshal(map[string]any{"services": map[string]any{name: v}})
	if err != nil {
		return nil, fmt.Errorf("berth.services.define.%s: %v", name, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Content) == 0 {
		return nil, fmt.Errorf("berth.services.define.%s: %v", name, err)
	}
	defs, err := services.ParseNode(doc.Content[0], cloudOrigin, "")
	if err == nil && len(defs) == 1 {
		err = userOnly(defs[0])
	}
	var errs strictyaml.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			e.Source, e.Line = "", 0 // lines of a re-encoding, not of the user-data
			e.Path = "berth.services.define." + strings.TrimPrefix(e.Path, "services.")
		}
		return nil, errs
	}
	if err != nil {
		return nil, err
	}
	if len(defs) != 1 {
		return nil, fmt.Errorf("berth.services.define.%s: expected a service", name)
	}
	return defs[0], nil
}

// cloudEntries are cloud-config's services as hostctl service lists them:
// in the default set (they start unless berth.services.disable names them).
func (h *host) cloudEntries(taken map[string]string) []serviceEntry {
	defs, _ := h.cloudDefs(taken)
	var out []serviceEntry
	for _, n := range slices.Sorted(maps.Keys(defs)) {
		e := serviceEntry{Name: n, Source: api.SourceUser, Origin: cloudOrigin, Image: defs[n].Image, Default: true}
		for _, d := range defs[n].DependsOn {
			e.Needs = append(e.Needs, d.Name)
		}
		out = append(out, e)
	}
	return out
}

// cloudService is what the supervisor runs for a service of
// berth.services.define. Its image is pulled the first time (bounded by
// cloudPullTimeout); at boot, before the network is up, one that is not in
// the store yet fails to start, and is pulled and started once the host is
// ready.
func (h *host) cloudService(ctx context.Context, name string) (supervise.Service, error) {
	defs, _ := h.cloudDefs(nil)
	d := defs[name]
	if !h.booted.Load() {
		svc, err := h.imageService(ctx, d)
		if err != nil {
			go h.pullAndStart(d)
			return svc, fmt.Errorf("%w (its image is pulled and the service started once the host is ready)", err)
		}
		return svc, nil
	}
	pctx, cancel := context.WithTimeout(ctx, cloudPullTimeout)
	err := userImage(h, pctx, d)
	cancel()
	if err != nil {
		return supervise.Service{}, err
	}
	return h.imageService(ctx, d)
}

// pullAndStart waits for the ready line, then pulls d's image and starts
// it.
func (h *host) pullAndStart(d *services.Definition) {
	for deadline := time.Now().Add(30 * time.Minute); !h.booted.Load(); time.Sleep(2 * time.Second) {
		if time.Now().After(deadline) {
			return // a boot that never got ready has said so
		}
	}
	if _, err := h.startService(context.Background(), d.Name); err != nil {
		h.logf("service %s: %v", d.Name, err)
	}
}
