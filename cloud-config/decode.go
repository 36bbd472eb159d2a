package cloudconfig

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/berth-os/berth/internal/strictyaml"
	"go.yaml.in/yaml/v3"
)

// ErrInvalid is the kind of every configuration error.
var ErrInvalid = strictyaml.ErrInvalid

// Document is parsed user-data: its cloud-config parts merged in order,
// and its scripts.
type Document struct {
	Source   string         // e.g. "user-data (nocloud)"
	Config   Config         // the typed configuration
	Tree     map[string]any // the same, as a tree, for merging layers
	Scripts  []Part
	Warnings strictyaml.Errors
}

// unsupported are cloud-init keys a container host cannot honour. They are
// warnings, not errors, so that generic user-data templates still work.
var unsupported = map[string]string{
	"packages":                   "a container host installs no packages; run software in containers",
	"package_update":             "a container host installs no packages",
	"package_upgrade":            "a container host installs no packages; Berth upgrades as a whole image",
	"package_reboot_if_required": "a container host installs no packages",
	"apt":                        "there is no apt on Berth",
	"apt_pipelining":             "there is no apt on Berth",
	"yum_repos":                  "there is no yum on Berth",
	"zypper":                     "there is no zypper on Berth",
	"snap":                       "there is no snapd on Berth",
	"apk_repos":                  "there is no apk on Berth",
	"chef":                       "configuration management agents run as containers on Berth",
	"puppet":                     "configuration management agents run as containers on Berth",
	"salt_minion":                "configuration management agents run as containers on Berth",
	"ansible":                    "configuration management agents run as containers on Berth",
	"landscape":                  "not available on Berth",
	"mcollective":                "not available on Berth",
	"byobu_by_default":           "not available on Berth",
	"keyboard":                   "Berth keeps the kernel's keymap",
	"locale":                     "Berth runs in the C.UTF-8 locale",
	"locale_configfile":          "Berth runs in the C.UTF-8 locale",
	"rsyslog":                    "Berth's logging service writes /var/log",
	"phone_home":                 "not supported on Berth",
	"final_message":              "Berth prints its own ready line",
	"disable_root":               "root is the only login on Berth's console",
	"disable_ec2_metadata":       "not supported on Berth",
	"manage_etc_hosts":           "Berth renders /etc/hosts at every boot",
	"manage_resolv_conf":         "set berth.network.dns instead",
	"resolv_conf":                "set berth.network.dns instead",
	"preserve_hostname":          "Berth sets the hostname from config at every boot",
	"prefer_fqdn_over_hostname":  "not supported on Berth",
	"ssh_deletekeys":             "Berth keeps its ssh host keys on the state partition",
	"ssh_genkeytypes":            "Berth makes ed25519, ecdsa and rsa host keys",
	"ssh_keys":                   "Berth makes its own ssh host keys",
	"ssh_publish_hostkeys":       "not supported on Berth",
	"ssh_quiet_keygen":           "not supported on Berth",
	"chpasswd":                   "set users[].passwd (a hash) instead",
	"password":                   "set users[].passwd (a hash) instead",
	"groups":                     "Berth has a fixed set of groups",
	"random_seed":                "not supported on Berth",
	"seed_random":                "not supported on Berth",
	"device_aliases":             "not supported on Berth",
	"disk_setup":                 "not supported on Berth",
	"fs_setup":                   "not supported on Berth",
	"lxd":                        "not supported on Berth",
	"wireguard":                  "not supported on Berth",
	"vendor_data":                "not supported on Berth",
	"merge_how":                  "Berth merges layers its own way: maps merge, lists and values replace",
	"merge_type":                 "Berth merges layers its own way: maps merge, lists and values replace",
	"system_info":                "not supported on Berth",
	"datasource":                 "choose datasources with berth.datasources",
	"cloud_init_modules":         "not supported on Berth",
	"cloud_config_modules":       "not supported on Berth",
	"cloud_final_modules":        "not supported on Berth",
	"output":                     "Berth's logging service keeps script output",
}

// unsupportedUser are cloud-init keys of users[] entries Berth ignores.
var unsupportedUser = map[string]string{
	"sudo":              "there is no sudo on Berth; the console logs in as root",
	"ssh_import_id":     "not supported on Berth; list the keys in ssh_authorized_keys",
	"ssh_redirect_user": "not supported on Berth",
	"selinux_user":      "not supported on Berth",
	"expiredate":        "not supported on Berth",
	"inactive":          "not supported on Berth",
	"no_create_home":    "Berth always makes the home folder",
	"no_user_group":     "not supported on Berth",
	"no_log_init":       "not supported on Berth",
	"create_groups":     "not supported on Berth",
	"snapuser":          "there is no snapd on Berth",
	"plain_text_passwd": "give a hash in passwd",
	"hashed_passwd":     "give the hash in passwd",
	"lock-passwd":       "spelled lock_passwd",
	"doas":              "there is no doas on Berth",
}

// ignore tells the strict decoder which unknown keys are warnings.
func ignore(path, key string) string {
	if path == "" {
		if r, ok := unsupported[key]; ok {
			return "ignored: " + r
		}
		return ""
	}
	if strings.HasPrefix(path, "users[") && !strings.Contains(path[len("users["):], ".") {
		if r, ok := unsupportedUser[key]; ok {
			return "ignored: " + r
		}
	}
	return ""
}

// Parse reads user-data from source (a name for messages, such as
// "user-data (nocloud)"). It reports every problem at once: decoding and
// validation errors as strictyaml.Errors, with each field's path and line.
func Parse(source string, data []byte) (*Document, error) {
	parts, err := SplitUserData(data)
	if err != nil {
		return nil, strictyaml.Errors{{Source: source, Msg: err.Error()}}
	}
	doc := &Document{Source: source, Tree: map[string]any{}}
	var errs strictyaml.Errors
	multi := len(parts) > 1
	for _, p := range parts {
		src := source
		if multi {
			src = source + " " + p.Name
		}
		if p.Kind == KindScript {
			doc.Scripts = append(doc.Scripts, p)
			continue
		}
		cfg, tree, warnings, err := decodePart(src, p.Data)
		doc.Warnings = append(doc.Warnings, warnings...)
		if err != nil {
			var es strictyaml.Errors
			if errors.As(err, &es) {
				errs = append(errs, es...)
			} else {
				errs = append(errs, &strictyaml.FieldError{Source: src, Msg: err.Error()})
			}
			continue
		}
		_ = cfg
		mergeTree(doc.Tree, tree, nil, "")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	// The merged tree is valid part by part; decode it once more for the
	// typed view of the whole document.
	cfg, err := FromTree(source, doc.Tree)
	if err != nil {
		return nil, err
	}
	doc.Config = *cfg
	return doc, nil
}

// decodePart strictly decodes and validates one #cloud-config document.
func decodePart(source string, data []byte) (*Config, map[string]any, strictyaml.Errors, error) {
	dc := strictyaml.Decoder{Source: source, Ignore: ignore}
	tree := map[string]any{}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, nil, dc.Decode(data, &Config{}) // reports the YAML error
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return &Config{}, tree, nil, nil
	}
	root := doc.Content[0]
	dc.Warnings = append(dc.Warnings, dropDefaultUser(source, root)...)
	var cfg Config
	decErr := dc.DecodeNode(root, &cfg)
	// Validate what did decode too, so every problem shows at once; a field
	// that failed to decode is not reported again as invalid.
	if err := joinFieldErrors(decErr, Validate(&cfg, &dc)); err != nil {
		return nil, nil, dc.Warnings, err
	}
	if err := root.Decode(&tree); err != nil {
		return nil, nil, dc.Warnings, err
	}
	if tree == nil {
		tree = map[string]any{}
	}
	for _, w := range dc.Warnings {
		deletePath(tree, w.Path)
	}
	return &cfg, tree, dc.Warnings, nil
}

// dropDefaultUser removes cloud-init's "default" entries from users (the
// distribution's default user; Berth has none) with a warning each.
func dropDefaultUser(source string, root *yaml.Node) strictyaml.Errors {
	if root.Kind != yaml.MappingNode {
		return nil
	}
	var out strictyaml.Errors
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "users" || root.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		seq := root.Content[i+1]
		var keep []*yaml.Node
		for j, u := range seq.Content {
			if u.Kind == yaml.ScalarNode && u.Value == "default" {
				out = append(out, &strictyaml.FieldError{Source: source, Line: u.Line, Path: fmt.Sprintf("users[%d]", j),
					Msg: "ignored: the default user is the distribution's; Berth has none"})
				continue
			}
			keep = append(keep, u)
		}
		seq.Content = keep
	}
	return out
}

// FromTree decodes and validates a tree (a merged configuration).
func FromTree(source string, tree map[string]any) (*Config, error) {
	b, err := yaml.Marshal(tree)
	if err != nil {
		return nil, err
	}
	dc := strictyaml.Decoder{Source: source, Ignore: ignore}
	var cfg Config
	if err := dc.Decode(b, &cfg); err != nil {
		return nil, err
	}
	if err := Validate(&cfg, &dc); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// deletePath removes a top-level or users[i] key named by a warning path.
func deletePath(tree map[string]any, path string) {
	if !strings.Contains(path, ".") && !strings.Contains(path, "[") {
		delete(tree, path)
		return
	}
	var i int
	var key string
	if n, _ := fmt.Sscanf(strings.Replace(path, "].", "] ", 1), "users[%d] %s", &i, &key); n == 2 {
		if users, ok := tree["users"].([]any); ok && i < len(users) {
			if u, ok := users[i].(map[string]any); ok {
				delete(u, key)
			}
		}
	}
}

// Keys lists the top-level keys a document sets, sorted.
func (d *Document) Keys() []string {
	var out []string
	for k := range d.Tree {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// joinFieldErrors lists decoding errors, then validation errors of fields
// (and their children) that decoded.
func joinFieldErrors(decErr, valErr error) error {
	var dec, val strictyaml.Errors
	errors.As(decErr, &dec)
	errors.As(valErr, &val)
	out := append(strictyaml.Errors(nil), dec...)
	for _, v := range val {
		dup := false
		for _, d := range dec {
			if v.Path == d.Path || strings.HasPrefix(v.Path, d.Path+".") || strings.HasPrefix(v.Path, d.Path+"[") {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out.Err()
}
