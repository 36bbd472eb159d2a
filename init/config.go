package main

// Configuration layers: image defaults, datasource user-data, the local
// layer (hostctl config set) and the kernel command line, each validated
// and merged; what boot made of them is kept for hostctl config status.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/cloud-config/datasource"
	"github.com/berth-os/berth/internal/layout"
	"github.com/berth-os/berth/internal/verity"
)

// reservedFlags steer boot itself; they are not configuration keys.
var reservedFlags = map[string]bool{
	"berth.slot": true, "berth.debug": true, "berth.break": true, "berth.boot": true,
	"berth.autologin": true, "berth.datasources": true, "berth.cloud_config_url": true,
	layout.FlagRoot: true, layout.FlagRootSHA256: true, layout.FlagBootPart: true, verity.Flag: true,
}

// hostConfig is PID 1's view of the configuration: its layers, the merge,
// and what boot made of it.
type hostConfig struct {
	store    cloudconfig.Store
	layers   []cloudconfig.Layer
	merged   *cloudconfig.Merged
	status   cloudconfig.Status
	instance string
	scripts  []cloudconfig.Part
	ds       *datasource.Data
	// pending are network datasources to read once the network is up.
	pending []datasource.Source
}

// phaseConfig reads the layers (image defaults, datasource, local,
// command line), validates each and merges them. A source that fails
// validation is reported and left out: for a datasource, its last valid
// user-data stands in, so a typo never costs a host its keys.
func (h *host) phaseConfig(ctx context.Context) error {
	c := &hostConfig{store: cloudconfig.Store{Dir: cloudconfig.StoreDir}}
	h.cfg = c
	// Before anything reads the local layer: the datasource order is in it.
	if note, err := c.store.Migrate(); err != nil {
		h.logf("config: %v; the local config of this release's schema is used as it is", err)
		c.status.Warnings = append(c.status.Warnings, err.Error())
	} else if note != "" {
		h.logf("config: %s", note)
	}
	c.layers = append(c.layers, cloudconfig.Layer{Name: cloudconfig.LayerImage, Source: "image defaults", Tree: h.imageDefaults()})
	c.status.Sources = append(c.status.Sources, cloudconfig.SourceStatus{Layer: cloudconfig.LayerImage, Name: "image", Used: true})

	local, network := h.datasources()
	data, attempts := datasource.First(ctx, local, 2*time.Second)
	h.noteAttempts(attempts)
	if data != nil {
		h.useDatasource(data)
	} else if len(network) > 0 {
		c.pending = network
	}
	if tree, err := c.store.Local(); err != nil {
		h.configError(cloudconfig.LayerLocal, "local config", err)
	} else {
		c.layers = append(c.layers, cloudconfig.Layer{Name: cloudconfig.LayerLocal, Source: "local config", Tree: tree})
		c.status.Sources = append(c.status.Sources, cloudconfig.SourceStatus{Layer: cloudconfig.LayerLocal, Name: c.store.LocalPath(), Used: true})
	}
	if tree, err := cloudconfig.CmdlineLayer(h.flags, reservedFlags); err != nil {
		h.configError(cloudconfig.LayerCmdline, "kernel command line", err)
	} else if len(tree) > 0 {
		c.layers = append(c.layers, cloudconfig.Layer{Name: cloudconfig.LayerCmdline, Source: "kernel command line", Tree: tree})
		c.status.Sources = append(c.status.Sources, cloudconfig.SourceStatus{Layer: cloudconfig.LayerCmdline, Name: "kernel command line", Used: true})
	}
	h.noteStateKeys()
	return h.remerge()
}

// noteStateKeys warns about berth.state outside the kernel command line:
// the state partition is mounted before any other layer is read (they live
// on it), so there it changes nothing.
func (h *host) noteStateKeys() {
	c := h.cfg
	for _, l := range c.layers {
		b, _ := l.Tree["berth"].(map[string]any)
		if _, ok := b["state"]; !ok || l.Name == cloudconfig.LayerCmdline {
			continue
		}
		for i := range c.status.Sources {
			if st := &c.status.Sources[i]; st.Layer == l.Name && st.Used {
				st.Warnings = append(st.Warnings, "berth.state: read from the kernel command line only (berth.state.dev=...): set here, it changes nothing")
			}
		}
	}
}

// remerge merges the layers; if the whole is invalid the datasource layer
// is dropped, then everything but the image defaults.
func (h *host) remerge() error {
	c := h.cfg
	m, err := cloudconfig.Merge(c.layers...)
	if err != nil {
		h.alertf("config: the merged configuration is invalid:\n%v", err)
		c.status.ApplyErrors = append(c.status.ApplyErrors, err.Error())
		var rest []cloudconfig.Layer
		for _, l := range c.layers {
			if l.Name != cloudconfig.LayerDatasource {
				rest = append(rest, l)
			}
		}
		if m, err = cloudconfig.Merge(rest...); err == nil {
			h.alertf("config: booting without the datasource layer")
		} else if m, err = cloudconfig.Merge(c.layers[0]); err != nil {
			return err
		} else {
			h.alertf("config: booting with the image defaults only")
		}
	}
	c.merged = m
	c.status.Stored = cloudconfig.StoredKeys(m.Tree)
	if err := c.store.SaveDatasources(m.Config.Berth.CloudInit.Datasources); err != nil {
		h.logf("config: keep berth.cloud_init.datasources: %v", err)
	}
	if err := c.store.SaveStatus(c.status); err != nil {
		h.logf("config: save status: %v", err)
	}
	return nil
}

// imageDefaults is the image's own layer.
func (h *host) imageDefaults() map[string]any {
	hn := h.info.Hostname
	if hn == "" {
		hn = "berth"
	}
	return map[string]any{"hostname": hn}
}

// datasources lists the sources to try now (local ones) and once the
// network is up, as the kernel command line and the DMI tables select them.
func (h *host) datasources() (local, network []datasource.Source) {
	sel := datasource.Selection{
		URL:         h.flags.Get("berth.cloud_config_url"),
		NoCloudSeed: h.flags.Get("ds"),
		DMI:         "/sys/class/dmi/id",
		Sysfs:       "/sys",
		Dev:         "/dev",
		Load:        h.loadFS,
		GuestInfo:   h.guestInfo,
	}
	sel.Order = datasourceOrder(h.flags.Get("berth.datasources"), h.cfg.store)
	sel.Precedence = datasource.Precedence{
		Installed: installed(h.stage1, h.state, h.cfg.store),
		Virtual:   datasource.Virtual("/proc/cpuinfo", "/sys"),
	}
	local, network, problems := sel.Select()
	for _, p := range problems {
		h.alertf("config: %s", p)
	}
	// Sources whose data can be changed on its way (plain http, no pin)
	// are named on the consoles and in hostctl config status, used or not.
	for _, w := range datasource.Warnings(append(append([]datasource.Source(nil), local...), network...)...) {
		h.alertf("config: warning: %s", w)
		h.cfg.status.Warnings = append(h.cfg.status.Warnings, w)
	}
	return local, network
}

// loadFS loads the module of a filesystem type the kernel lacks (udf, of
// Azure's provisioning media: the kernel has it as a module only).
func (h *host) loadFS(fstype string) error {
	if b, err := os.ReadFile("/proc/filesystems"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == fstype {
				return nil
			}
		}
	}
	return h.system().Modprobe(fstype, nil)
}

// installed says whether the host runs installed, as datasource precedence
// means it: booted from its disk, with a state partition that holds an
// earlier boot's configuration (its status). On its first boot, from an
// ISO, or with /var on tmpfs, it does not. Called before this boot saves
// its own status.
func installed(boot layout.Boot, st stateInfo, store cloudconfig.Store) bool {
	if boot.Medium != layout.MediumDisk || !st.Persistent || st.Formatted {
		return false
	}
	_, err := store.LoadStatus()
	return !errors.Is(err, fs.ErrNotExist)
}

// datasourceOrder is the order datasources are tried in: berth.datasources=
// on the kernel command line, else berth.cloud_init.datasources of the
// local layer, else the one the last boot's merged configuration had (a
// datasource's user-data may set it, for the boots after); nil for the
// default order.
func datasourceOrder(flag string, store cloudconfig.Store) []string {
	if flag != "" {
		return strings.Split(flag, ",")
	}
	if local, err := store.Local(); err == nil {
		v, _ := cloudconfig.Get(local, []cloudconfig.Seg{{Key: "berth", Index: -1}, {Key: "cloud_init", Index: -1}, {Key: "datasources", Index: -1}})
		if l, ok := v.([]any); ok && len(l) > 0 {
			out := make([]string, len(l))
			for i, e := range l {
				out[i] = fmt.Sprint(e)
			}
			return out
		}
	}
	return store.Datasources()
}

func (h *host) noteAttempts(attempts []datasource.Attempt) {
	for _, a := range attempts {
		if a.Err == nil {
			h.debugf("config: datasource %s: read in %.3fs", a.Source, a.Took.Seconds())
			continue
		}
		h.debugf("config: datasource %s: %v (%.3fs)", a.Source, a.Err, a.Took.Seconds())
		note := a.Err.Error()
		switch {
		case errors.Is(a.Err, datasource.ErrNotFound):
			note = "not present"
		case errors.Is(a.Err, datasource.ErrUnavailable):
			note = "not answering"
		}
		h.cfg.status.Sources = append(h.cfg.status.Sources, cloudconfig.SourceStatus{Layer: cloudconfig.LayerDatasource, Name: a.Source, Note: note})
		if !datasource.Absent(a.Err) {
			h.alertf("config: datasource %s: %v", a.Source, a.Err)
		}
	}
}

// useDatasource parses a datasource's user-data into the datasource layer.
// Invalid user-data is reported on the consoles and in the status, and the
// last valid user-data of that datasource is used instead.
func (h *host) useDatasource(d *datasource.Data) {
	c := h.cfg
	c.ds = d
	src := fmt.Sprintf("user-data (%s)", d.Source)
	st := cloudconfig.SourceStatus{Layer: cloudconfig.LayerDatasource, Name: d.Source, Used: true}
	doc, err := cloudconfig.Parse(src, d.UserData)
	if err != nil {
		st.Errors = splitLines(err)
		h.alertf("config: %s is invalid; booting with the last good config:\n%v", src, err)
		st.Note = "invalid; the last valid user-data of this datasource is used"
		if last, lerr := c.store.LastUserData(d.Source); lerr == nil {
			doc, err = cloudconfig.Parse(src+" (last valid)", last)
		}
		if err != nil {
			st.Used = false
			st.Note = "invalid, and no earlier valid user-data"
			doc = &cloudconfig.Document{Tree: map[string]any{}}
		}
	} else if len(d.UserData) > 0 {
		if err := c.store.SaveUserData(d.Source, d.UserData); err != nil {
			h.logf("config: keep user-data of %s: %v", d.Source, err)
		}
	}
	for _, w := range doc.Warnings {
		st.Warnings = append(st.Warnings, w.Error())
		// Said on the consoles too: without it, the console asks for a
		// login, and hostctl config status is behind that login.
		if _, ok := cloudconfig.FlagOnly(w.Path); ok {
			h.alertf("config: %v", w)
		}
	}
	tree := doc.Tree
	// Meta-data: a hostname and keys the user-data does not give. Clouds
	// give a fully qualified name (host.novalocal, ip-10-0-0-1.ec2.internal)
	// where cloud-config has hostname and fqdn, so it is split as
	// cloud-init does. A user-data fqdn names the host too (its first
	// label), as in cloud-init.
	_, hasHost := tree["hostname"]
	_, hasFQDN := tree["fqdn"]
	if !hasHost && !hasFQDN && d.Hostname != "" {
		host, _, dotted := strings.Cut(d.Hostname, ".")
		tree["hostname"] = host
		if dotted {
			tree["fqdn"] = d.Hostname
		}
		if _, err := cloudconfig.FromTree(src, tree); err != nil {
			delete(tree, "hostname")
			delete(tree, "fqdn")
			st.Errors = append(st.Errors, fmt.Sprintf("meta-data hostname %q: left out: %v", d.Hostname, err))
		}
	}
	if len(d.PublicKeys) > 0 {
		keys, _ := tree["ssh_authorized_keys"].([]any)
		for _, k := range d.PublicKeys {
			keys = append(keys, k)
		}
		tree["ssh_authorized_keys"] = keys
		if _, err := cloudconfig.FromTree(src, tree); err != nil {
			delete(tree, "ssh_authorized_keys")
			st.Errors = append(st.Errors, "meta-data public keys: "+err.Error())
		}
	}
	h.networkConfig(d, src, tree, &st)
	for _, n := range d.Notes {
		h.logf("config: datasource %s: %s", d.Source, n)
		if st.Note != "" {
			st.Note += "; "
		}
		st.Note += n
	}
	c.scripts = doc.Scripts
	c.instance = d.InstanceID
	if c.instance == "" {
		sum := sha256.Sum256(d.UserData)
		c.instance = "ud-" + hex.EncodeToString(sum[:8])
	}
	c.layers = append(c.layers, cloudconfig.Layer{Name: cloudconfig.LayerDatasource, Source: src, Tree: tree, Origins: doc.Origins})
	c.status.Sources = append(c.status.Sources, st)
}

// networkConfig puts a datasource's network-config into the layer as
// berth.network, unless the user-data has its own. What does not convert or
// validate is reported and left out.
func (h *host) networkConfig(d *datasource.Data, src string, tree map[string]any, st *cloudconfig.SourceStatus) {
	if len(d.NetworkConfig) == 0 {
		return
	}
	berth, _ := tree["berth"].(map[string]any)
	if _, ok := berth["network"]; ok {
		st.Warnings = append(st.Warnings, "network-config: not used: the user-data has berth.network")
		return
	}
	n, warnings, err := cloudconfig.FromNetworkConfig(d.NetworkConfig)
	st.Warnings = append(st.Warnings, warnings...)
	if err != nil || n == nil {
		if err != nil {
			st.Errors = append(st.Errors, err.Error())
			h.alertf("config: %s: %v", src, err)
		}
		return
	}
	if berth == nil {
		berth = map[string]any{}
	}
	berth["network"] = n
	tree["berth"] = berth
	if _, err := cloudconfig.FromTree(src+" network-config", tree); err != nil {
		delete(berth, "network")
		if len(berth) == 0 {
			delete(tree, "berth")
		}
		st.Errors = append(st.Errors, "network-config: left out: "+err.Error())
		h.alertf("config: %s network-config left out:\n%v", src, err)
	}
}

func (h *host) configError(layer, name string, err error) {
	h.alertf("config: %s is invalid and left out:\n%v", name, err)
	h.cfg.status.Sources = append(h.cfg.status.Sources, cloudconfig.SourceStatus{Layer: layer, Name: name, Errors: splitLines(err)})
}

func splitLines(err error) []string {
	return strings.Split(strings.TrimSpace(err.Error()), "\n")
}
