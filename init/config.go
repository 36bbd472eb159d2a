package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/cloud-config/apply"
	"github.com/berth-os/berth/cloud-config/datasource"
	"github.com/berth-os/berth/init/etc"
	"github.com/berth-os/berth/init/mounts"
	"github.com/berth-os/berth/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// reservedFlags steer boot itself; they are not configuration keys.
var reservedFlags = map[string]bool{
	"berth.slot": true, "berth.debug": true, "berth.break": true, "berth.boot": true,
	"berth.autologin": true, "berth.datasources": true, "berth.cloud_config_url": true,
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
		c.status.Sources = append(c.status.Sources, cloudconfig.SourceStatus{Layer: cloudconfig.LayerLocal, Name: filepath.Join(cloudconfig.StoreDir, "local.yaml"), Used: true})
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
// network is up (metadata services, URLs), from berth.datasources or, by
// default, the local ones plus the cloud the DMI tables name.
func (h *host) datasources() (local, network []datasource.Source) {
	// The volume sources wait for block devices once between them.
	settle := &datasource.Settle{}
	nocloud, configdrive := datasource.NoCloud(), datasource.ConfigDrive()
	nocloud.Settle, configdrive.Settle = settle, settle
	all := map[string]datasource.Source{
		"fwcfg":       datasource.File{SourceName: "fwcfg", Path: datasource.FwCfgUserData},
		"nocloud":     nocloud,
		"configdrive": configdrive,
		"state":       datasource.File{SourceName: "state", Path: datasource.StateUserData},
		"ec2":         &datasource.EC2{URL: datasource.MetadataAddr},
		"openstack":   &datasource.OpenStack{URL: datasource.MetadataAddr},
		"gce":         &datasource.GCE{URL: datasource.MetadataAddr},
	}
	order := []string{"fwcfg", "nocloud", "configdrive", "state"}
	if u := h.flags.Get("berth.cloud_config_url"); u != "" {
		all["url"] = &datasource.URL{SourceName: "url", Location: u}
		order = append(order, "url")
	}
	if seed, ok := datasource.ParseNoCloudCmdline(h.flags.Get("ds")); ok {
		all["nocloud-net"] = &datasource.URL{SourceName: "nocloud-net", Location: seed, Seed: true}
		order = append(order, "nocloud-net")
	}
	if cloud := dmiCloud("/sys/class/dmi/id"); cloud != "" {
		order = append(order, cloud)
	}
	if v := h.flags.Get("berth.datasources"); v != "" {
		order = strings.Split(v, ",")
	}
	for _, name := range order {
		s, ok := all[strings.TrimSpace(name)]
		if !ok {
			h.alertf("config: berth.datasources: unknown datasource %q (known: ec2, configdrive, fwcfg, gce, nocloud, openstack, state)", name)
			continue
		}
		if s.Network() {
			network = append(network, s)
		} else {
			local = append(local, s)
		}
	}
	return local, network
}

// dmiCloud names the cloud whose metadata service the DMI tables promise.
func dmiCloud(dmi string) string {
	read := func(f string) string {
		b, _ := os.ReadFile(filepath.Join(dmi, f))
		return strings.TrimSpace(string(b))
	}
	vendor, product, asset := read("sys_vendor"), read("product_name"), read("chassis_asset_tag")
	switch {
	case strings.HasPrefix(vendor, "Amazon EC2") || strings.HasPrefix(read("bios_vendor"), "Amazon EC2"):
		return "ec2"
	case vendor == "Google" || product == "Google Compute Engine":
		return "gce"
	case strings.Contains(product, "OpenStack") || strings.Contains(vendor, "OpenStack") || asset == "OpenTelekomCloud":
		return "openstack"
	}
	return ""
}

func (h *host) noteAttempts(attempts []datasource.Attempt) {
	for _, a := range attempts {
		if a.Err == nil {
			continue
		}
		note := a.Err.Error()
		if errors.Is(a.Err, datasource.ErrNotFound) {
			note = "not present"
		}
		h.cfg.status.Sources = append(h.cfg.status.Sources, cloudconfig.SourceStatus{Layer: cloudconfig.LayerDatasource, Name: a.Source, Note: note})
		if !errors.Is(a.Err, datasource.ErrNotFound) {
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
	}
	tree := doc.Tree
	// Meta-data: a hostname and keys the user-data does not give. Clouds
	// give a fully qualified name (host.novalocal, ip-10-0-0-1.ec2.internal)
	// where cloud-config has hostname and fqdn, so it is split as
	// cloud-init does.
	if _, ok := tree["hostname"]; !ok && d.Hostname != "" {
		host, _, dotted := strings.Cut(d.Hostname, ".")
		tree["hostname"] = host
		if _, ok := tree["fqdn"]; !ok && dotted {
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
	c.scripts = doc.Scripts
	c.instance = d.InstanceID
	if c.instance == "" {
		sum := sha256.Sum256(d.UserData)
		c.instance = "ud-" + hex.EncodeToString(sum[:8])
	}
	c.layers = append(c.layers, cloudconfig.Layer{Name: cloudconfig.LayerDatasource, Source: src, Tree: tree})
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

// etcConfig turns the merged configuration into what /etc is made of.
func (h *host) etcConfig() etc.Config {
	id, err := etc.MachineID("/var/lib/berth/machine-id")
	if err != nil {
		h.logf("machine id: %v", err)
	}
	c := etc.Config{
		Hostname:   h.info.Hostname,
		MachineID:  id,
		Version:    h.info.Versions.Berth,
		ResolvConf: resolvConf,
		SSHKeyDir:  "/var/lib/berth/ssh",
	}
	if h.cfg == nil || h.cfg.merged == nil {
		if c.Hostname == "" {
			c.Hostname = "berth"
		}
		return c
	}
	cfg := h.cfg.merged.Config
	if cfg.Hostname != "" {
		c.Hostname = cfg.Hostname
	}
	c.SSHPort = cfg.Berth.SSH.Port
	c.SSHListen = cfg.Berth.SSH.ListenAddress
	c.SSHPasswords = cfg.SSHPwauth != nil && *cfg.SSHPwauth
	ids := apply.UserIDs(cfg.Users)
	for _, u := range cfg.Users {
		if u.Name == "root" {
			c.RootPasswd = u.Passwd
			continue
		}
		shell := u.Shell
		if shell == "" {
			shell = "/bin/sh"
		}
		// As in cloud-init, the password is locked unless lock_passwd: false.
		// Locked with "*", not "!": sshd without PAM refuses even key logins
		// to an account whose hash starts with "!"; no password matches
		// either.
		passwd := u.Passwd
		if u.LockPasswd == nil || *u.LockPasswd {
			passwd = "*" + passwd
		}
		c.Users = append(c.Users, etc.User{Name: u.Name, UID: ids[u.Name], Gecos: u.Gecos, Home: apply.Home(u), Shell: shell, Groups: u.Groups, Passwd: passwd})
	}
	return c
}

// applier applies configuration on this host.
func (h *host) applier() *apply.Applier {
	return &apply.Applier{Root: "/", Host: &osHost{h: h}, ProcSys: "/proc/sys", Out: h.logs.Writer("cloud-config", "stdout")}
}

// phaseApply puts the early part of the merged configuration into effect:
// keys, files, kernel settings, mounts, the network configuration, then
// bootcmd.
func (h *host) phaseApply(ctx context.Context) error {
	if h.cfg == nil || h.cfg.merged == nil {
		return nil
	}
	cfg := h.cfg.merged.Config
	errs := []error{h.growState(ctx, cfg)}
	errs = append(errs, h.applyEarly(ctx, cfg)...)
	errs = append(errs, h.swap(cfg))
	if len(cfg.Bootcmd) > 0 {
		errs = append(errs, h.applier().Commands(ctx, "bootcmd", cfg.Bootcmd, h.commandEnv()))
	}
	return h.recordApply(errs)
}

// applyEarly applies what does not need the services.
func (h *host) applyEarly(ctx context.Context, cfg cloudconfig.Config) []error {
	a := h.applier()
	return []error{
		a.AuthorizedKeys(cfg.SSHAuthorizedKeys, cfg.Users),
		a.WriteFiles(cfg.WriteFiles, false, cfg.Users),
		a.Sysctl(cloudconfig.Strings(cfg.Berth.Sysctl)),
		a.Modules(cfg.Berth.Modules),
		a.Timezone(cfg.Timezone),
		a.CACerts(cfg.CACerts),
		a.Mounts(cfg.Mounts),
		writeNetworkConfig(cfg.Berth.Network),
	}
}

func (h *host) recordApply(errs []error) error {
	err := errors.Join(errs...)
	if err != nil {
		h.cfg.status.ApplyErrors = append(h.cfg.status.ApplyErrors, splitLines(err)...)
		h.cfg.store.SaveStatus(h.cfg.status)
	}
	return err
}

// networkConfigPath is where the network service reads berth.network.
const networkConfigPath = "/run/berth/network/config.json"

func writeNetworkConfig(n cloudconfig.Network) error {
	b, err := n.ServiceJSON()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(networkConfigPath), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(networkConfigPath, b, 0o644)
}

// phaseLate runs once the services are up: a network datasource if one is
// pending (each tried, with backoff, for 5 s at most), and deferred write_files.
func (h *host) phaseLate(ctx context.Context) error {
	if h.cfg == nil || h.cfg.merged == nil {
		return nil
	}
	if len(h.cfg.pending) > 0 {
		data, attempts := datasource.First(ctx, h.cfg.pending, 5*time.Second)
		h.noteAttempts(attempts)
		if data != nil {
			h.useDatasource(data)
			if err := h.remerge(); err != nil {
				return err
			}
			// Late config takes effect the way a live change does.
			h.relive(ctx)
		}
	}
	cfg := h.cfg.merged.Config
	return h.recordApply([]error{h.applier().WriteFiles(cfg.WriteFiles, true, cfg.Users)})
}

// final runs after the ready line, in the background, so that a slow or
// failing command never holds boot: user-data scripts and runcmd (once per
// instance), then power_state.
func (h *host) final(ctx context.Context) {
	if h.cfg == nil || h.cfg.merged == nil {
		return
	}
	cfg := h.cfg.merged.Config
	a := h.applier()
	var errs []error
	if h.cfg.instance != "" {
		for i, s := range h.cfg.scripts {
			s := s
			name := fmt.Sprintf("script-%d-%s", i, s.Name)
			_, err := a.Once(h.cfg.instance, name, func() error { return h.runScript(ctx, s) })
			errs = append(errs, err)
		}
	}
	if len(cfg.Runcmd) > 0 {
		inst := h.cfg.instance
		if inst == "" {
			inst = "local"
		}
		_, err := a.Once(inst, "runcmd", func() error { return a.Commands(ctx, "runcmd", cfg.Runcmd, h.commandEnv()) })
		errs = append(errs, err)
	}
	if err := h.recordApply(errs); err != nil {
		h.alertf("config: %v", err)
	}
	fmt.Fprintln(a.Out, "config: user-data scripts and runcmd done")
	h.powerState(ctx, cfg.PowerState, a)
}

// powerState powers off or reboots once per instance after runcmd, as
// power_state asks: after its delay ("now" or +minutes), with its message;
// not at all when its condition is false. halt is a power-off.
func (h *host) powerState(ctx context.Context, ps *cloudconfig.PowerState, a *apply.Applier) {
	if ps == nil || h.cfg.instance == "" || (ps.Condition != nil && !*ps.Condition) {
		return
	}
	// Recorded before the delay: a host that reboots by itself meanwhile
	// does not do it again.
	ran, err := a.Once(h.cfg.instance, "power_state", func() error { return nil })
	if err != nil || !ran {
		return
	}
	var delay time.Duration
	if m, err := strconv.Atoi(strings.TrimPrefix(ps.Delay, "+")); err == nil {
		delay = time.Duration(m) * time.Minute
	}
	msg := ps.Message
	if msg == "" {
		msg = "power_state " + ps.Mode
	}
	h.alertf("config: %s in %s", msg, delay)
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		return
	}
	h.Shutdown(ps.Mode == "reboot")
}

// relive applies a configuration that arrived after boot's early phases.
func (h *host) relive(ctx context.Context) {
	cfg := h.cfg.merged.Config
	ec := h.etcConfig()
	if err := etc.Render("/etc", "", ec); err != nil {
		h.logf("config: render /etc: %v", err)
	}
	unix.Sethostname([]byte(ec.Hostname))
	h.recordApply(h.applyEarly(ctx, cfg))
	h.signalNetwork()
}

// signalNetwork tells the network service to read its configuration again.
func (h *host) signalNetwork() {
	if h.sup != nil {
		h.sup.Signal("network", syscall.SIGHUP)
	}
}

// runScript runs a #! user-data script from the state partition.
func (h *host) runScript(ctx context.Context, s cloudconfig.Part) error {
	dir := "/var/lib/berth/config/scripts"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	p := filepath.Join(dir, filepath.Base(s.Name))
	if err := os.WriteFile(p, s.Data, 0o700); err != nil {
		return err
	}
	return (&osHost{h: h}).Run(ctx, cloudconfig.Command{Argv: []string{p}}, h.commandEnv(), h.logs.Writer("cloud-config", "stdout"))
}

func (h *host) commandEnv() []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}
	if h.cfg != nil && h.cfg.merged != nil {
		keys := make([]string, 0, len(h.cfg.merged.Config.Berth.Environment))
		for k := range h.cfg.merged.Config.Berth.Environment {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			env = append(env, k+"="+string(h.cfg.merged.Config.Berth.Environment[k]))
		}
	}
	return env
}

// osHost is apply.Host on this machine.
type osHost struct{ h *host }

func (o *osHost) Sethostname(name string) error { return unix.Sethostname([]byte(name)) }

func (o *osHost) Modprobe(module string, params []string) error {
	return o.run(exec.Command("/usr/sbin/modprobe", append([]string{module}, params...)...), io.Discard)
}

func (o *osHost) Chown(p string, uid, gid int) error { return os.Lchown(p, uid, gid) }

func (o *osHost) Mount(source, target, fstype, options string) error {
	src, err := resolveDevice(source)
	if err != nil {
		return err
	}
	flags, data := mountOptions(options)
	if fstype == "auto" {
		if fstype, err = mounts.ProbeFile(src); err != nil {
			return fmt.Errorf("probe %s: %w", src, err)
		}
	}
	return unix.Mount(src, target, fstype, flags, data)
}

func (o *osHost) Run(ctx context.Context, c cloudconfig.Command, env []string, out io.Writer) error {
	var cmd *exec.Cmd
	if c.Argv != nil {
		cmd = exec.Command(c.Argv[0], c.Argv[1:]...)
	} else {
		cmd = exec.Command("/bin/sh", "-c", c.Shell)
	}
	cmd.Env = env
	cmd.Dir = "/"
	return o.run(cmd, out)
}

// run runs cmd through PID 1's reaper, copying its output to out.
func (o *osHost) run(cmd *exec.Cmd, out io.Writer) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = w, w
	ch, err := o.h.reaper.Start(cmd)
	w.Close()
	if err != nil {
		r.Close()
		return err
	}
	io.Copy(out, r)
	r.Close()
	ws := <-ch
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		return nil
	case ws.Exited():
		return fmt.Errorf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Errorf("killed by %s", ws.Signal())
	}
	return fmt.Errorf("%v", ws)
}

// resolveDevice turns LABEL=, UUID= (filesystem labels probed directly;
// udev may not run yet) and PARTLABEL= into a device path.
func resolveDevice(spec string) (string, error) {
	kind, val, ok := strings.Cut(spec, "=")
	if !ok || strings.HasPrefix(spec, "/") {
		return spec, nil
	}
	devs, err := mounts.BlockDevices("/sys", "/dev")
	if err != nil {
		return "", err
	}
	for _, d := range devs {
		switch kind {
		case "PARTLABEL":
			if d.PartName == val {
				return d.Dev, nil
			}
		case "LABEL":
			f, err := os.Open(d.Dev)
			if err != nil {
				continue
			}
			_, label, err := mounts.Label(f)
			f.Close()
			if err == nil && label == val {
				return d.Dev, nil
			}
		}
	}
	return "", fmt.Errorf("no device with %s", spec)
}

// mountOptions splits fstab options into mount flags and data.
func mountOptions(opts string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "", "defaults", "nofail", "auto", "noauto", "rw", "_netdev", "x-systemd.automount":
		case "ro":
			flags |= unix.MS_RDONLY
		case "nosuid":
			flags |= unix.MS_NOSUID
		case "nodev":
			flags |= unix.MS_NODEV
		case "noexec":
			flags |= unix.MS_NOEXEC
		case "noatime":
			flags |= unix.MS_NOATIME
		case "relatime":
			flags |= unix.MS_RELATIME
		case "bind":
			flags |= unix.MS_BIND
		default:
			data = append(data, o)
		}
	}
	return flags, strings.Join(data, ",")
}
