package cloudconfig

// RancherOS's rancher: namespace. A RancherOS user's cloud-config is read
// as it is: each rancher.* key with a Berth equivalent is translated into
// berth: (or a cloud-init key) before the document is decoded, and every
// other is a warning that names the Berth way. RancherKeys is the table,
// and the README's is written from it.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/berth-os/berth/internal/netconfig"
	"github.com/berth-os/berth/internal/strictyaml"
)

// RancherKey is one key of RancherOS's rancher: namespace and what Berth
// makes of it.
type RancherKey struct {
	// Key is the path below rancher:, such as network.dns. An element *
	// stands for any name (network.interfaces.*.mtu); a key ending in .*
	// covers the keys of its map that no other entry names.
	Key string
	// Berth is the key it becomes, "" when it is not translated.
	Berth string
	// Note says, for a translated key, what differs; for any other, why
	// Berth ignores it and what to do instead (the warning's text).
	Note string
}

// Translated says whether the key becomes a Berth key.
func (k RancherKey) Translated() bool { return k.Berth != "" }

// The reasons shared by several keys.
const (
	whyServices = "Berth's services come in the image, its catalogue or berth.services.define; enable one with berth.services.enable"
	whyDocker   = "Docker is the catalogue's docker service (hostctl service enable docker); its daemon.json is rendered from berth.registry_mirrors, and RancherOS's other docker settings have no equivalent there"
	whyUpgrade  = "Berth upgrades from signed bundles, not RancherOS images: set berth.upgrade.repository to a registry repository that berth push pushed them to"
	whyHooks    = "Berth runs no commands around link changes; put them in bootcmd or runcmd"
	whyStateDev = "Berth finds its state partition by its label BERTH_STATE"
)

// RancherKeys is every key of RancherOS 1.x's rancher: namespace (rancher/os
// config/types.go and pkg/netconf/types.go of v1.5.8, with default_network
// of earlier releases and the command-line keys autologin and password), in
// the order of the README's table.
var RancherKeys = []RancherKey{
	{Key: "network.interfaces", Berth: "berth.network.interfaces", Note: "by name or mac=; a pattern such as eth* is left out (Berth gives DHCP to every ethernet link no entry names)"},
	{Key: "network.interfaces.*.match", Berth: "berth.network.interfaces", Note: "a name or mac= becomes the entry's key"},
	{Key: "network.interfaces.*.dhcp", Berth: "berth.network.interfaces.*.dhcp"},
	{Key: "network.interfaces.*.address", Berth: "berth.network.interfaces.*.addresses"},
	{Key: "network.interfaces.*.addresses", Berth: "berth.network.interfaces.*.addresses"},
	{Key: "network.interfaces.*.gateway", Berth: "berth.network.interfaces.*.gateway"},
	{Key: "network.interfaces.*.gateway_ipv6", Berth: "berth.network.interfaces.*.gateway_ipv6", Note: "left out, with a warning, on a link without an IPv6 address"},
	{Key: "network.interfaces.*.mtu", Berth: "berth.network.interfaces.*.mtu"},
	{Key: "network.interfaces.*.bond", Berth: "berth.network.interfaces.*.bond"},
	{Key: "network.interfaces.*.bond_opts", Berth: "berth.network.interfaces.*.bond_opts"},
	{Key: "network.interfaces.*.bridge", Berth: "berth.network.interfaces.*.bridge", Note: "bridge: true is dropped: a bridge is made from its members' bridge: keys"},
	{Key: "network.interfaces.*.vlans", Berth: "berth.network.interfaces.*.vlans", Note: "100,200 becomes [100, 200]; a VLAN's :name is dropped (Berth names it link.id)"},
	{Key: "network.interfaces.*.dhcp_args", Note: "Berth's DHCP client takes no arguments"},
	{Key: "network.interfaces.*.ipv4ll", Note: "link-local IPv4 addresses are not supported"},
	{Key: "network.interfaces.*.pre_up", Note: whyHooks},
	{Key: "network.interfaces.*.post_up", Note: whyHooks},
	{Key: "network.interfaces.*.wifi_network", Note: "Wi-Fi is not supported on Berth"},
	{Key: "network.dns", Berth: "berth.network.dns"},
	{Key: "network.http_proxy", Berth: "berth.environment.HTTP_PROXY", Note: "also http_proxy: the environment of bootcmd, runcmd and scripts; and berth.proxy.http_proxy: image pulls"},
	{Key: "network.https_proxy", Berth: "berth.environment.HTTPS_PROXY", Note: "also https_proxy and berth.proxy.https_proxy"},
	{Key: "network.no_proxy", Berth: "berth.environment.NO_PROXY", Note: "also no_proxy and berth.proxy.no_proxy"},
	{Key: "network.pre_cmds", Note: whyHooks},
	{Key: "network.post_cmds", Note: whyHooks},
	{Key: "network.dhcp_timeout", Note: "Berth's DHCP client keeps trying in the background; boot does not wait for it"},
	{Key: "network.wifi_networks", Note: "Wi-Fi is not supported on Berth"},
	{Key: "network.modem_networks", Note: "mobile modems are not supported on Berth"},
	{Key: "default_network", Note: "the image's defaults are Berth's own; set berth.network"},
	{Key: "sysctl", Berth: "berth.sysctl", Note: "names and values checked against the kernel's"},
	{Key: "modules", Berth: "berth.modules"},
	{Key: "environment", Berth: "berth.environment", Note: "the environment of bootcmd, runcmd and scripts"},
	{Key: "ssh.port", Berth: "berth.ssh.port"},
	{Key: "ssh.listen_address", Berth: "berth.ssh.listen_address"},
	{Key: "ssh.keys", Berth: "ssh_keys", Note: "rsa becomes rsa_private, rsa-pub rsa_public, and so on (cloud-init's names)"},
	{Key: "ssh.daemon", Note: "sshd always runs in Berth's console"},
	{Key: "console", Berth: "berth.console", Note: "the console from the next boot"},
	{Key: "services_include", Berth: "berth.services.enable", Note: "names set to true; a URL or path is left out (Berth's services come in the image)"},
	{Key: "disable", Berth: "berth.services.disable"},
	{Key: "services", Berth: "berth.services.define", Note: "each entry, net as network_mode; one that is not a valid Compose service is said in hostctl config status with its field, and does not start"},
	{Key: "bootstrap", Note: "Berth formats and mounts its state partition itself; no containers run before it"},
	{Key: "cloud_init_services", Note: whyServices},
	{Key: "restart_services", Note: "Berth restarts the services a config change concerns by itself"},
	{Key: "repositories", Note: "Berth has no service catalogue to download; its services come in the image"},
	{Key: "registry_auths", Berth: "berth.registry_auths", Note: "a registry named by URL (https://index.docker.io/v1/) becomes its host (docker.io); email is left out"},
	{Key: "docker.registry_mirror", Berth: "berth.registry_mirrors.\"docker.io\""},
	{Key: "docker.*", Note: whyDocker},
	{Key: "system_docker.registry_mirror", Berth: "berth.registry_mirrors.\"docker.io\""},
	{Key: "system_docker.*", Note: "Berth's system containerd is configured by Berth; it has no options"},
	{Key: "bootstrap_docker.registry_mirror", Berth: "berth.registry_mirrors.\"docker.io\""},
	{Key: "bootstrap_docker.*", Note: "Berth runs no Docker before its state partition is mounted"},
	{Key: "state.dev", Berth: "berth.state.dev", Note: "read from the kernel command line only"},
	{Key: "state.wait", Berth: "berth.state.wait", Note: "read from the kernel command line only"},
	{Key: "state.autoformat", Berth: "berth.state.autoformat", Note: "a list of disks becomes true: Berth formats a blank state partition of its own disk, never another disk"},
	{Key: "state.*", Note: whyStateDev + " (ext4, no RAID, LVM or encryption yet)"},
	{Key: "cloud_init.datasources", Berth: "berth.cloud_init.datasources", Note: "the order from the next boot on: configdrive[:PATH], ec2, gce, azure, vmware, url:URL and file:PATH are kept; * keeps Berth's default order; cmdline and clouds Berth has no source for are left out, with a warning"},
	{Key: "upgrade.*", Note: whyUpgrade},
	{Key: "autologin", Berth: "berth.autologin", Note: "warned, ignored, as berth.autologin is: console autologin comes from the kernel command line or fw_cfg only"},
	{Key: "password", Note: "set a hash in users[].passwd (name: root): the console's login and rescue shell ask for it"},
	{Key: "resize_device", Note: "Berth grows its state partition to the end of its disk by itself (growpart)"},
	{Key: "hypervisor_service", Berth: "berth.hypervisor_service", Note: "the hypervisor's guest agent starts when its image is in the store (preloaded or pulled)"},
	{Key: "shutdown_timeout", Note: "Berth gives services a fixed time to stop"},
	{Key: "recovery", Note: "Berth's rescue shell is berth.break on the kernel command line"},
	{Key: "debug", Note: "use berth.debug on the kernel command line"},
	{Key: "log", Note: "Berth's logging service always runs"},
	{Key: "defaults", Note: "the image's defaults are Berth's own"},
	{Key: "rm_usr", Note: "Berth's root is a read-only image"},
	{Key: "no_sharedroot", Note: "Berth's root is a read-only image"},
	{Key: "force_console_rebuild", Note: "Berth's console is part of the image"},
	{Key: "http_load_retries", Note: "Berth downloads nothing at boot for its services: they come in the image"},
	{Key: "preload_wait", Note: "Berth always imports the preload folder (/var/lib/berth/preload) before its services start"},
}

// rancherKey finds the entry of a key below rancher: (with * for names).
func rancherKey(key string) (RancherKey, bool) {
	for _, k := range RancherKeys {
		if k.Key == key {
			return k, true
		}
	}
	return RancherKey{}, false
}

// rancherNames lists the keys of a map below rancher: (prefix "" for the
// top, network., network.interfaces.*.) for suggestions.
func rancherNames(prefix string) []string {
	var out []string
	for _, k := range RancherKeys {
		rest, ok := strings.CutPrefix(k.Key, prefix)
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, ".")
		if name != "*" && name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// rancherConv translates one document's rancher: entry.
type rancherConv struct {
	source   string
	root     *yaml.Node // the document's top-level map
	berth    *yaml.Node // the berth: map the translation builds
	top      *yaml.Node // top-level keys the translation adds (ssh_keys)
	origins  map[string]string
	warnings strictyaml.Errors
	errs     strictyaml.Errors
}

// fromRancher takes the rancher: entry out of a document's top-level map
// and puts its translation in: under berth: (the document's own berth: keys
// win) and, for ssh.keys, as ssh_keys. It returns the warnings, the errors
// (an unknown key, a value of the wrong shape) and where each translated
// key came from: berth path → rancher path (Document.Origins).
func fromRancher(source string, root *yaml.Node) (warnings, errs strictyaml.Errors, origins map[string]string) {
	if root.Kind != yaml.MappingNode {
		return nil, nil, nil
	}
	var rn *yaml.Node
	var dups strictyaml.Errors
	for i := 0; i+1 < len(root.Content); {
		k := root.Content[i]
		if k.Kind != yaml.ScalarNode || k.Value != "rancher" {
			i += 2
			continue
		}
		if rn == nil {
			rn = root.Content[i+1]
		} else {
			dups = append(dups, &strictyaml.FieldError{Source: source, Line: k.Line, Path: "rancher", Msg: "duplicate key"})
		}
		root.Content = slices.Delete(root.Content, i, i+2)
	}
	if rn == nil {
		return nil, nil, nil
	}
	c := &rancherConv{
		source: source, root: root,
		berth:   &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"},
		top:     &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"},
		origins: map[string]string{},
		errs:    dups,
	}
	if rn.Kind == yaml.AliasNode {
		rn = rn.Alias
	}
	switch {
	case isNullNode(rn):
		return nil, c.errs, nil // rancher: with nothing under it
	case rn.Kind != yaml.MappingNode:
		c.bad(rn, "rancher", "expected a map, got %s", strictyaml.Describe(rn))
		return nil, c.errs, nil
	}
	c.walk(rn, "")
	c.place()
	return c.warnings, c.errs, c.origins
}

func isNullNode(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func (c *rancherConv) bad(n *yaml.Node, path, format string, args ...any) {
	c.errs = append(c.errs, &strictyaml.FieldError{Source: c.source, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *rancherConv) warn(n *yaml.Node, path, format string, args ...any) {
	c.warnings = append(c.warnings, &strictyaml.FieldError{Source: c.source, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// ignored warns that a key is left out, with its entry's reason.
func (c *rancherConv) ignored(n *yaml.Node, path string, k RancherKey) {
	c.warn(n, path, "ignored: %s", k.Note)
}

// each calls f with every key of a map node, its value and its rancher
// path; a node that is not a map is an error.
func (c *rancherConv) each(n *yaml.Node, path string, f func(k, v *yaml.Node, p string)) bool {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if isNullNode(n) {
		return false
	}
	if n.Kind != yaml.MappingNode {
		c.bad(n, path, "expected a map, got %s", strictyaml.Describe(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		p := strictyaml.Join(path, k.Value)
		if seen[k.Value] {
			c.bad(k, p, "duplicate key")
			continue
		}
		seen[k.Value] = true
		f(k, v, p)
	}
	return true
}

// walk translates the map n found at key (below rancher:, "" for the top).
func (c *rancherConv) walk(n *yaml.Node, key string) {
	base := "rancher"
	if key != "" {
		base += "." + key
	}
	c.each(n, base, func(k, v *yaml.Node, p string) {
		sub := k.Value
		if key != "" {
			sub = key + "." + k.Value
		}
		switch sub {
		case "network", "ssh", "docker", "system_docker", "bootstrap_docker", "state", "cloud_init", "upgrade":
			c.walk(v, sub)
			return
		case "network.interfaces":
			c.interfaces(v, p)
			return
		}
		e, ok := rancherKey(sub)
		if !ok && key != "" {
			e, ok = rancherKey(key + ".*")
		}
		if !ok {
			c.bad(k, p, "unknown key%s", strictyaml.SuggestPath(base, k.Value, rancherNames(strings.TrimPrefix(key+".", "."))))
			return
		}
		if conv, ok := rancherConvs[sub]; ok {
			conv(c, v, p, e)
			return
		}
		if !e.Translated() {
			c.ignored(k, p, e)
			return
		}
		c.put(p, v, true, berthPath(e.Berth)...)
	})
}

// berthPath splits a Berth key of the table into its elements.
func berthPath(key string) []string {
	segs, err := ParseKey(key)
	if err != nil {
		panic(err)
	}
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = s.Key
	}
	return out
}

// rancherConvs translate the keys that are more than a move.
var rancherConvs = map[string]func(c *rancherConv, v *yaml.Node, p string, e RancherKey){
	"services_include":                 (*rancherConv).servicesInclude,
	"services":                         (*rancherConv).services,
	"network.http_proxy":               (*rancherConv).proxy,
	"network.https_proxy":              (*rancherConv).proxy,
	"network.no_proxy":                 (*rancherConv).proxy,
	"registry_auths":                   (*rancherConv).registryAuths,
	"docker.registry_mirror":           (*rancherConv).registryMirror,
	"system_docker.registry_mirror":    (*rancherConv).registryMirror,
	"bootstrap_docker.registry_mirror": (*rancherConv).registryMirror,
	"state.autoformat":                 (*rancherConv).autoformat,
	"ssh.keys":                         (*rancherConv).sshKeys,
	"cloud_init.datasources":           (*rancherConv).datasources,
}

// put sets the value at a path (berth first: berth.x.y; else a top-level
// key) from the rancher key from. A map or list already there (two
// rancher keys may fill one Berth key) takes the new entries. With move,
// the keys of a map below are attributed to the same keys below from.
func (c *rancherConv) put(from string, v *yaml.Node, move bool, path ...string) {
	m := c.top
	rest := path
	if path[0] == "berth" {
		m, rest = c.berth, path[1:]
	}
	for _, seg := range rest[:len(rest)-1] {
		next := mapValue(m, seg)
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: v.Line}
			m.Content = append(m.Content, strNode(seg, v.Line), next)
		}
		m = next
	}
	last := rest[len(rest)-1]
	old := mapValue(m, last)
	switch {
	case old == nil:
		m.Content = append(m.Content, strNode(last, v.Line), v)
	case old.Kind == yaml.MappingNode && v.Kind == yaml.MappingNode:
		mergeNode(old, v)
	case old.Kind == yaml.SequenceNode && v.Kind == yaml.SequenceNode:
		for _, e := range v.Content {
			if !slices.ContainsFunc(old.Content, func(o *yaml.Node) bool { return o.Value == e.Value }) {
				old.Content = append(old.Content, e)
			}
		}
	default:
		setMapValue(m, last, v)
	}
	at := ""
	for _, s := range path {
		at = strictyaml.Join(at, s)
	}
	c.attribute(at, from, v, move)
}

// attribute records that the value v at path came from the rancher key
// from: each value below it (a scalar or a list; maps are walked), as
// merged configurations record their layers (Merged.Source).
func (c *rancherConv) attribute(path, from string, v *yaml.Node, move bool) {
	if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
		c.origins[path] = from
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k := v.Content[i].Value
		sub := from
		if move {
			sub = strictyaml.Join(from, k)
		}
		c.attribute(strictyaml.Join(path, k), sub, v.Content[i+1], move)
	}
}

// place puts the translation into the document: berth: keys the document
// gives itself win over translated ones.
func (c *rancherConv) place() {
	if len(c.berth.Content) > 0 {
		own := mapValue(c.root, "berth")
		switch {
		case own == nil || isNullNode(own):
			setMapValue(c.root, "berth", c.berth)
		case own.Kind == yaml.MappingNode:
			c.unattribute("berth", own)
			mergeNode(c.berth, own)
			setMapValue(c.root, "berth", c.berth)
		}
		// A berth: that is not a map is reported by the decoder.
	}
	for i := 0; i+1 < len(c.top.Content); i += 2 {
		k := c.top.Content[i].Value
		if own := mapValue(c.root, k); own != nil {
			c.unattribute(k, own)
			continue // the document's own key wins
		}
		c.root.Content = append(c.root.Content, c.top.Content[i], c.top.Content[i+1])
	}
}

// unattribute forgets the origin of every value the document's own map
// own, at path, replaces.
func (c *rancherConv) unattribute(path string, own *yaml.Node) {
	for i := 0; i+1 < len(own.Content); i += 2 {
		p := strictyaml.Join(path, own.Content[i].Value)
		if v := own.Content[i+1]; v.Kind == yaml.MappingNode {
			c.unattribute(p, v)
			continue
		}
		for q := range c.origins {
			if q == p || strings.HasPrefix(q, p+".") || strings.HasPrefix(q, p+"[") {
				delete(c.origins, q)
			}
		}
	}
}

// mergeNode merges the map src into the map dst: maps merge, anything
// else of src replaces dst's.
func mergeNode(dst, src *yaml.Node) {
	for i := 0; i+1 < len(src.Content); i += 2 {
		k, v := src.Content[i], src.Content[i+1]
		old := mapValue(dst, k.Value)
		if old != nil && old.Kind == yaml.MappingNode && v.Kind == yaml.MappingNode {
			mergeNode(old, v)
			continue
		}
		if old != nil {
			setMapValue(dst, k.Value, v)
			continue
		}
		dst.Content = append(dst.Content, k, v)
	}
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setMapValue(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, strNode(key, v.Line), v)
}

func strNode(s string, line int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Line: line}
}

func boolNode(b bool, line int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b), Line: line}
}

// scalarText is a scalar's text, and whether n is a scalar with a value.
func scalarText(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", false
	}
	return n.Value, true
}

// servicesInclude: names set to true are enabled; RancherOS also took
// URLs and paths of service files, which Berth has no use for.
func (c *rancherConv) servicesInclude(v *yaml.Node, p string, e RancherKey) {
	list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: v.Line}
	c.each(v, p, func(k, val *yaml.Node, kp string) {
		on, ok := scalarText(val)
		b, err := strconv.ParseBool(on)
		switch {
		case !ok || err != nil:
			c.bad(val, kp, "expected true or false, got %s", strictyaml.Describe(val))
		case strings.Contains(k.Value, "/"):
			c.warn(k, kp, "ignored: a service file from a URL or path: Berth's services come in the image")
		case b:
			list.Content = append(list.Content, strNode(k.Value, k.Line))
		}
	})
	if len(list.Content) > 0 {
		c.put(p, list, false, berthPath(e.Berth)...)
	}
}

// services: RancherOS's rancher.services held docker-compose services;
// each (with net as network_mode) becomes a berth.services.define entry.
// PID 1 validates them (cloud-config is below the services package): one
// that is not a valid Compose service is said in hostctl config status
// with its field, and left out.
func (c *rancherConv) services(v *yaml.Node, p string, e RancherKey) {
	c.each(v, p, func(k, val *yaml.Node, kp string) {
		if val.Kind != yaml.MappingNode {
			c.warn(val, kp, "left out: expected a service (a map), got %s", strictyaml.Describe(val))
			return
		}
		svc := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: val.Line}
		for i := 0; i+1 < len(val.Content); i += 2 {
			key := *val.Content[i]
			if key.Value == "net" {
				key.Value = "network_mode"
			}
			svc.Content = append(svc.Content, &key, val.Content[i+1])
		}
		c.put(kp, svc, false, "berth", "services", "define", k.Value)
	})
}

// proxy: RancherOS gave its daemons and services HTTP_PROXY and friends;
// Berth gives them to commands and scripts, in both cases as curl and Go
// read them.
func (c *rancherConv) proxy(v *yaml.Node, p string, e RancherKey) {
	s, ok := c.url(v, p)
	if !ok {
		return
	}
	name := berthPath(e.Berth)[2]
	for _, n := range []string{name, strings.ToLower(name)} {
		c.put(p, strNode(s, v.Line), false, "berth", "environment", n)
	}
	// Image pulls take a URL only; the environment takes what it is given.
	if validURL(s, "http", "https", "socks5") || name == "NO_PROXY" {
		c.put(p, strNode(s, v.Line), false, "berth", "proxy", strings.ToLower(name))
	} else {
		c.warn(v, p, "not a URL: left out of berth.proxy.%s (image pulls)", strings.ToLower(name))
	}
}

// registryAuths: RancherOS named a registry as Docker's config.json does,
// often by URL; Berth names it by host.
func (c *rancherConv) registryAuths(v *yaml.Node, p string, e RancherKey) {
	c.each(v, p, func(k, a *yaml.Node, ap string) {
		out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: a.Line}
		ok := c.each(a, ap, func(fk, fv *yaml.Node, fp string) {
			switch fk.Value {
			case "username", "password", "auth":
				out.Content = append(out.Content, strNode(fk.Value, fk.Line), fv)
			case "email":
				c.warn(fk, fp, "ignored: registries no longer take an email")
			default:
				c.warn(fk, fp, "ignored: expected username, password or auth")
			}
		})
		if ok {
			c.put(ap, out, false, "berth", "registry_auths", registryHost(k.Value))
		}
	})
}

// registryHost is the host of a registry named by URL, as Docker's
// config.json names them: https://index.docker.io/v1/ is docker.io.
func registryHost(s string) string {
	if _, rest, ok := strings.Cut(s, "://"); ok {
		s = rest
	}
	s, _, _ = strings.Cut(s, "/")
	if s == "index.docker.io" || s == "registry-1.docker.io" {
		return "docker.io"
	}
	return s
}

// url is v's text where v is a URL; otherwise it reports what v is
// instead (an empty scalar is left out quietly).
func (c *rancherConv) url(v *yaml.Node, p string) (string, bool) {
	s, ok := scalarText(v)
	if !ok && v.Kind != yaml.ScalarNode {
		c.bad(v, p, "expected a URL, got %s", strictyaml.Describe(v))
	}
	return s, ok
}

func (c *rancherConv) registryMirror(v *yaml.Node, p string, e RancherKey) {
	s, ok := c.url(v, p)
	if !ok {
		return
	}
	list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: v.Line, Content: []*yaml.Node{strNode(s, v.Line)}}
	c.put(p, list, false, berthPath(e.Berth)...)
}

func (c *rancherConv) autoformat(v *yaml.Node, p string, e RancherKey) {
	if v.Kind != yaml.SequenceNode {
		c.bad(v, p, "expected a list of disks, got %s", strictyaml.Describe(v))
		return
	}
	if len(v.Content) == 0 {
		return
	}
	var disks []string
	for _, d := range v.Content {
		disks = append(disks, d.Value)
	}
	c.warn(v, p, "translated to berth.state.autoformat: true: Berth formats a blank state partition of its own disk, not %s", strings.Join(disks, ", "))
	c.put(p, boolNode(true, v.Line), false, berthPath(e.Berth)...)
}

// sshKeys: RancherOS's ssh.keys are host keys by type (rsa, rsa-pub...),
// cloud-init's ssh_keys by type and half (rsa_private, rsa_public).
func (c *rancherConv) sshKeys(v *yaml.Node, p string, e RancherKey) {
	c.each(v, p, func(k, val *yaml.Node, kp string) {
		t, pub := strings.CutSuffix(k.Value, "-pub")
		if t == "dsa" {
			c.warn(k, kp, "ignored: Berth's sshd takes no DSA host keys (ecdsa, ed25519 and rsa)")
			return
		}
		name := t + "_private"
		if pub {
			name = t + "_public"
		}
		c.put(kp, val, false, e.Berth, name)
	})
}

// interfaces translates network.interfaces entry by entry.
func (c *rancherConv) interfaces(v *yaml.Node, p string) {
	// Members name their bridge; an entry that says bridge: true only
	// says it is one.
	c.each(v, p, func(k, val *yaml.Node, kp string) {
		name := k.Value
		if m := mapValue(val, "match"); val.Kind == yaml.MappingNode && m != nil {
			s, _ := scalarText(m)
			if netconfig.ValidLinkName(s) || strings.HasPrefix(strings.ToLower(s), "mac=") {
				name = s
			} else {
				c.warn(m, strictyaml.Join(kp, "match"), "ignored: Berth matches a link by its name or mac=, not by %q; the entry's key %s is used", s, k.Value)
			}
		}
		switch {
		case strings.ContainsAny(name, "*?["):
			if dhcpOnly(val) {
				c.warn(k, kp, "ignored: Berth gives DHCP to every ethernet link that no entry names")
			} else {
				c.warn(k, kp, "ignored: Berth names a link by its name or mac=, not by a pattern")
			}
			return
		case name == "lo":
			c.warn(k, kp, "ignored: Berth sets up lo itself")
			return
		}
		c.iface(val, kp, name)
	})
}

// dhcpOnly says whether an interface entry asks for DHCP and nothing more
// Berth would do.
func dhcpOnly(v *yaml.Node) bool {
	if v.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		switch v.Content[i].Value {
		case "dhcp", "match", "pre_up", "post_up", "dhcp_args":
		default:
			return false
		}
	}
	return true
}

// iface translates one entry of network.interfaces into the entry name.
func (c *rancherConv) iface(v *yaml.Node, p, name string) {
	to := func(field string) []string { return []string{"berth", "network", "interfaces", name, field} }
	var addrs []*yaml.Node
	hasV6 := false
	var gw6, gw6Key *yaml.Node
	c.each(v, p, func(k, val *yaml.Node, kp string) {
		f := k.Value
		e, ok := rancherKey("network.interfaces.*." + f)
		if !ok {
			c.bad(k, kp, "unknown key%s", strictyaml.SuggestPath(p, f, rancherNames("network.interfaces.*.")))
			return
		}
		switch f {
		case "match":
			// The entry's name (see interfaces).
		case "address", "addresses":
			list := []*yaml.Node{val}
			if f == "addresses" {
				if val.Kind != yaml.SequenceNode {
					c.bad(val, kp, "expected a list of addresses, got %s", strictyaml.Describe(val))
					return
				}
				list = val.Content
			}
			for _, a := range list {
				addrs = append(addrs, a)
				if strings.Contains(a.Value, ":") {
					hasV6 = true
				}
			}
		case "gateway_ipv6":
			gw6, gw6Key = val, k
		case "bridge":
			s, _ := scalarText(val)
			if b, err := strconv.ParseBool(s); err == nil {
				_ = b // this entry is a bridge (true), or says nothing (false)
				return
			}
			c.put(kp, val, false, to("bridge")...)
		case "vlans":
			c.vlans(val, kp, to("vlans"))
		default:
			if !e.Translated() {
				c.ignored(k, kp, e)
				return
			}
			c.put(kp, val, true, to(f)...)
		}
	})
	if len(addrs) > 0 {
		from := strictyaml.Join(p, "addresses")
		if mapValue(v, "addresses") == nil {
			from = strictyaml.Join(p, "address")
		}
		c.put(from, &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: addrs[0].Line, Content: addrs}, false, to("addresses")...)
	}
	if gw6 != nil {
		if !hasV6 {
			c.warn(gw6Key, strictyaml.Join(p, "gateway_ipv6"), "ignored: an IPv6 gateway needs an IPv6 address on the link, and this entry has none")
		} else {
			c.put(strictyaml.Join(p, "gateway_ipv6"), gw6, false, to("gateway_ipv6")...)
		}
	}
}

// vlans reads RancherOS's VLAN list: 100, or "100,200:name".
func (c *rancherConv) vlans(v *yaml.Node, p string, to []string) {
	s, ok := scalarText(v)
	if !ok {
		c.bad(v, p, "expected VLAN ids such as 100,200, got %s", strictyaml.Describe(v))
		return
	}
	list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: v.Line}
	for _, f := range strings.Split(s, ",") {
		id, name, named := strings.Cut(strings.TrimSpace(f), ":")
		n, err := strconv.Atoi(id)
		if err != nil {
			c.bad(v, p, "%q is not a VLAN id such as 100", id)
			continue
		}
		if named {
			c.warn(v, p, "VLAN %d: the name %s is ignored: Berth names a VLAN link <link>.<id>", n, name)
		}
		list.Content = append(list.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(n), Line: v.Line})
	}
	if len(list.Content) > 0 {
		c.put(p, list, false, to...)
	}
}

// originOf is the rancher key a Berth key (or the key holding it) was
// translated from.
func originOf(origins map[string]string, path string) (string, bool) {
	for p := path; p != ""; p = parentKey(p) {
		if from, ok := origins[p]; ok {
			return from, true
		}
	}
	return "", false
}

// originBelow is the rancher key that every translated value below path
// came from, for a map that holds nothing else: ssh_keys, from
// rancher.ssh.keys.
func originBelow(origins map[string]string, path string) (string, bool) {
	var common string
	for p, from := range origins {
		if !strings.HasPrefix(p, path+".") {
			continue
		}
		if common == "" {
			common = parentKey(from)
		}
		for common != "" && from != common && !strings.HasPrefix(from, common+".") {
			common = parentKey(common)
		}
		if common == "" {
			return "", false
		}
	}
	return common, common != ""
}

// atOrigin names, in each problem with a translated key, the rancher key
// the user wrote, then the Berth key it became.
func atOrigin(es strictyaml.Errors, origins map[string]string) {
	for _, e := range es {
		from, ok := originOf(origins, e.Path)
		if !ok {
			from, ok = originBelow(origins, e.Path)
		}
		if ok {
			e.Path = from + " (" + e.Path + ")"
		}
	}
}

// mergeOrigins adds to a document's origins those of a part whose tree has
// been merged in: a value the part sets replaces, and so forgets, the
// origin an earlier part gave it.
func mergeOrigins(doc map[string]string, tree map[string]any, part map[string]string) map[string]string {
	if len(doc) == 0 && len(part) == 0 {
		return nil
	}
	out := map[string]string{}
	for p, from := range doc {
		if _, ok := Get(tree, mustSegs(p)); !ok {
			out[p] = from
		}
	}
	for p, from := range part {
		out[p] = from
	}
	return out
}

// rancherWriteFiles reads RancherOS's write_files[].container, the service
// container a file is written in. Berth's console shares /etc, /var, /home
// and /root with the host, so a console file is written on the host; a
// file for any other service's container is left out (its index is in
// drop, for the tree: the entries stay in the document so that the
// indexes of problems stay right).
func rancherWriteFiles(source string, root *yaml.Node) (warnings strictyaml.Errors, drop []int) {
	if root.Kind != yaml.MappingNode {
		return nil, nil
	}
	wf := mapValue(root, "write_files")
	if wf == nil || wf.Kind != yaml.SequenceNode {
		return nil, nil
	}
	for i, f := range wf.Content {
		if f.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(f.Content); j += 2 {
			k, v := f.Content[j], f.Content[j+1]
			if k.Value != "container" {
				continue
			}
			p := fmt.Sprintf("write_files[%d].container", i)
			w := &strictyaml.FieldError{Source: source, Line: k.Line, Path: p}
			switch {
			case v.Value == "console":
				w.Msg = "RancherOS's console container: Berth's console shares /etc, /var, /home and /root with the host, so the file is written on the host"
			default:
				w.Msg = fmt.Sprintf("ignored with its entry: Berth writes files on the host, not in the %s service's container (a service's own files come with the services work)", v.Value)
				drop = append(drop, i)
			}
			warnings = append(warnings, w)
			f.Content = slices.Delete(f.Content, j, j+2)
			break
		}
	}
	return warnings, drop
}

// dropEntries removes the entries at the indexes drop from the list at key.
func dropEntries(tree map[string]any, key string, drop []int) {
	l, ok := tree[key].([]any)
	if !ok || len(drop) == 0 {
		return
	}
	var keep []any
	for i, e := range l {
		if !slices.Contains(drop, i) {
			keep = append(keep, e)
		}
	}
	if len(keep) == 0 {
		delete(tree, key)
		return
	}
	tree[key] = keep
}

// RancherTable is the README's table of RancherKeys, in Markdown.
func RancherTable() string {
	var b strings.Builder
	b.WriteString("| `rancher.` key | on Berth | note |\n|---|---|---|\n")
	for _, k := range RancherKeys {
		to := "warned, ignored"
		if k.Translated() {
			to = "`" + k.Berth + "`"
		}
		fmt.Fprintf(&b, "| `rancher.%s` | %s | %s |\n", k.Key, to, strings.ReplaceAll(k.Note, "|", "\\|"))
	}
	return b.String()
}

// datasources translates RancherOS's datasource list into Berth's.
func (c *rancherConv) datasources(v *yaml.Node, p string, e RancherKey) {
	if v.Kind != yaml.SequenceNode {
		c.bad(v, p, "expected a list of datasources, got %s", strictyaml.Describe(v))
		return
	}
	list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: v.Line}
	for i, d := range v.Content {
		ip := fmt.Sprintf("%s[%d]", p, i)
		s, ok := scalarText(d)
		if !ok {
			c.bad(d, ip, "expected a datasource such as configdrive or url:URL, got %s", strictyaml.Describe(d))
			continue
		}
		kind, _, _ := strings.Cut(s, ":")
		switch kind {
		case "*":
			c.warn(d, ip, "ignored with the whole list: * asks for every datasource, which is Berth's default order")
			return
		case "configdrive":
			list.Content = append(list.Content, strNode("configdrive", d.Line))
		case "url", "file":
			list.Content = append(list.Content, d)
		case "ec2", "gce", "azure", "vmware":
			if kind != s {
				c.warn(d, ip, "the address is ignored: Berth asks %s's own metadata service", kind)
			}
			list.Content = append(list.Content, strNode(kind, d.Line))
		case "cmdline":
			c.warn(d, ip, "ignored: Berth reads a URL from the kernel command line as berth.cloud_config_url=URL (the url source, in the default order)")
		default:
			c.warn(d, ip, "ignored: Berth has no %s datasource", kind)
		}
	}
	if len(list.Content) > 0 {
		c.put(p, list, false, berthPath(e.Berth)...)
	}
}

// RancherHint says, for a key written as RancherOS named it (rancher.x.y,
// given to hostctl config), which key Berth has instead, or why it has
// none.
func RancherHint(key string) string {
	const not = "a RancherOS key; Berth reads rancher: in user-data, but its own keys are under berth:"
	rest, ok := strings.CutPrefix(key, "rancher.")
	if !ok {
		return not
	}
	elems := strings.Split(rest, ".")
	name := ""
	if len(elems) > 2 && elems[0] == "network" && elems[1] == "interfaces" {
		name, elems[2] = elems[2], "*"
	}
	for n := len(elems); n > 0; n-- {
		k, ok := rancherKey(strings.Join(elems[:n], "."))
		if !ok && n > 1 {
			k, ok = rancherKey(strings.Join(elems[:n-1], ".") + ".*")
		}
		if !ok {
			continue
		}
		if !k.Translated() {
			return "a RancherOS key Berth has no equivalent of: " + k.Note
		}
		to := strings.Replace(k.Berth, "*", name, 1)
		if rest := elems[n:]; len(rest) > 0 {
			to += "." + strings.Join(rest, ".")
		}
		return "a RancherOS key; on Berth it is " + to
	}
	return not
}
